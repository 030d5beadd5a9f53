"""Parsing the ``scope`` parameters of Distribution's token requests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portus.registry.names import is_repository_name

REPOSITORY_ACTIONS = frozenset({"pull", "push", "delete", "*"})
# "repository" or "repository(plugin)": Distribution allows a class after the type.
TYPE_RE = re.compile(r"\A(?P<type>[a-z0-9]+)(?:\((?P<class>[a-z0-9]+)\))?\Z")
MAX_SCOPES = 32


class ScopeError(ValueError):
    """A scope the token service cannot parse; the message quotes it and says what is expected."""


@dataclass(frozen=True)
class Scope:
    type: str  # "repository" or "registry"
    name: str  # "alice/busy" or "catalog"
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope:
    """Parse ``type:name:actions`` at the first and last colon; host:port names are refused."""
    first = text.find(":")
    last = text.rfind(":")
    if first <= 0 or last == first:
        raise ScopeError(f"scope {text[:200]!r} is malformed: expected TYPE:NAME:ACTIONS.")
    kind, name, action_text = text[:first], text[first + 1 : last], text[last + 1 :]
    type_match = TYPE_RE.match(kind)
    if not type_match:
        raise ScopeError(f"scope {text[:200]!r} has an invalid resource type {kind[:50]!r}.")
    resource_type = type_match.group("type")
    actions = tuple(dict.fromkeys(a for a in action_text.split(",") if a))
    if not actions:
        raise ScopeError(f"scope {text[:200]!r} names no action.")
    if resource_type == "repository":
        if not is_repository_name(name):
            raise ScopeError(f"scope {text[:200]!r}: {name[:200]!r} is not a valid repository name.")
        unknown = [a for a in actions if a not in REPOSITORY_ACTIONS]
        if unknown:
            raise ScopeError(f"scope {text[:200]!r}: unknown action {unknown[0][:50]!r}; use pull, push, delete or *.")
        return Scope("repository", name, actions)
    if resource_type == "registry":
        if name != "catalog" or actions != ("*",):
            raise ScopeError(f"scope {text[:200]!r}: the only registry scope is registry:catalog:*.")
        return Scope("registry", name, actions)
    raise ScopeError(f"scope {text[:200]!r}: unknown resource type {resource_type!r}; use repository or registry.")


def parse_scopes(values: list[str]) -> list[Scope]:
    """Each ``scope`` parameter may itself hold several scopes separated by spaces (OAuth style)."""
    texts = [part for value in values for part in value.split(" ") if part]
    if len(texts) > MAX_SCOPES:
        raise ScopeError(f"too many scopes ({len(texts)}); at most {MAX_SCOPES} in one request.")
    return [parse_scope(text) for text in texts]
