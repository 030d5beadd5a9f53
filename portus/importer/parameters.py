"""The YAML ``parameters`` of the original's activity rows (public_activity), read safely.

Rails wrote them with Psych: symbol keys come out as ``:name`` strings and some values carry Ruby
tags (``!ruby/hash:ActiveSupport::HashWithIndifferentAccess``, ``!ruby/symbol``, ``!ruby/object``).
A safe loader that reads any Ruby tag as the plain mapping, list or text under it; nothing is run.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml

SYMBOL = re.compile(r"\A:[A-Za-z_][A-Za-z0-9_]*\Z")


class _RubyTolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads Ruby-tagged nodes as plain data."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyTolerantLoader.add_multi_constructor("!ruby/", _plain)
_RubyTolerantLoader.add_multi_constructor("tag:yaml.org,2002:ruby/", _plain)


def _symbol_free(value: Any) -> Any:
    """Ruby symbols as plain names, datetimes as ISO text: JSON-safe, as our activity data is."""
    if isinstance(value, dict):
        return {str(_symbol_free(key)): _symbol_free(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_symbol_free(item) for item in value]
    if isinstance(value, str) and SYMBOL.match(value):
        return value[1:]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(errors="replace")
    return value


def parse_parameters(text: str | None) -> tuple[dict[str, Any], str]:
    """(the parameters as a JSON-safe mapping, "" or why they could not be read). Unreadable text is
    kept whole under "original_parameters" so nothing is dropped."""
    if not text:
        return {}, ""
    try:
        value = yaml.load(text, Loader=_RubyTolerantLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        return {"original_parameters": text}, f"parameters are not YAML ({str(exc).splitlines()[0]})"
    value = _symbol_free(value)
    if value is None:
        return {}, ""
    if not isinstance(value, dict):
        return {"original_parameters": text}, "parameters are not a mapping"
    return value, ""


# The original's parameter names for a member line's member and roles, and ours (portus/web/activity_lines.py).
MEMBER_KEYS = {"team_user": "member", "old_role": "old", "new_role": "role"}


def member_fields(data: dict[str, Any]) -> dict[str, str]:
    """Our keys for what the original's member-line parameters name (member, old and new role); a key
    already there, or a value the original did not record, is left alone."""
    return {
        ours: str(data[theirs])
        for theirs, ours in MEMBER_KEYS.items()
        if ours not in data and isinstance(data.get(theirs), str | int) and str(data[theirs])
    }
