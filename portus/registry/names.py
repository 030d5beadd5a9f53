"""Name rules for namespaces and repositories, as Docker Distribution validates them."""

from __future__ import annotations

import re

# One path component of a repository name (distribution/reference's grammar).
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
COMPONENT_RE = re.compile(rf"\A{COMPONENT}\Z")
REPOSITORY_RE = re.compile(rf"\A{COMPONENT}(?:/{COMPONENT})*\Z")
# Distribution refuses repository names longer than this.
MAX_REPOSITORY_NAME = 255
MAX_NAMESPACE_NAME = 128
# Tags: distribution/reference's tag grammar.
TAG_RE = re.compile(r"\A[\w][\w.-]{0,127}\Z")


class InvalidName(ValueError):
    """A name the registry would refuse; the message says what a valid one looks like."""


def check_namespace_name(name: str, what: str = "namespace") -> str:
    """NAME when it is a valid namespace name; WHAT names the thing in the refusal (a team's name follows the
    same rules, so that a team may name its first namespace after itself)."""
    if not name or len(name) > MAX_NAMESPACE_NAME or not COMPONENT_RE.match(name):
        raise InvalidName(
            f"{name!r} is not a valid {what} name: use lower-case letters and digits, "
            f"separated by single '.', '_', '__' or '-', at most {MAX_NAMESPACE_NAME} characters."
        )
    return name


def is_repository_name(name: str) -> bool:
    return 0 < len(name) <= MAX_REPOSITORY_NAME and REPOSITORY_RE.match(name) is not None


def check_repository_name(name: str) -> str:
    if not is_repository_name(name):
        raise InvalidName(
            f"{name!r} is not a valid repository name: use path components of lower-case "
            f"letters and digits separated by '/', at most {MAX_REPOSITORY_NAME} characters."
        )
    return name


def split_repository_name(full_name: str) -> tuple[str, str]:
    """('team', 'group/app') for 'team/group/app'; ('', 'busybox') for the global namespace."""
    namespace, sep, rest = full_name.partition("/")
    if not sep:
        return "", full_name
    return namespace, rest


def slugify_namespace(text: str) -> str:
    """A valid namespace name derived from free text (a user name from an identity provider)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:MAX_NAMESPACE_NAME] or "user"
