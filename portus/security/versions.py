"""Ecosystems the built-in scanner knows, their version order (through maintained libraries), and how OSV names them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion as InvalidPep440
from packaging.version import Version as Pep440Version
from univers.versions import AlpineLinuxVersion, DebianVersion, InvalidVersion, SemverVersion

DEBIAN = "debian"
UBUNTU = "ubuntu"
ALPINE = "alpine"
PYPI = "pypi"
NPM = "npm"
ECOSYSTEMS = (DEBIAN, UBUNTU, ALPINE, PYPI, NPM)


class Comparable(Protocol):
    # Only `<` is used: univers' AlpineLinuxVersion answers `<=` by its text, not by apk's order.
    # Any: each library's version compares only with its own kind, and parse_version never mixes them.
    def __lt__(self, other: Any, /) -> bool: ...


class UnparsableVersion(ValueError):
    """A version string the ecosystem's own rules do not accept; such a package or event is not compared."""


def _parse(ecosystem: str, text: str) -> Comparable:
    if ecosystem in (DEBIAN, UBUNTU):
        return DebianVersion(text)  # dpkg's order: epochs, `~` before anything
    if ecosystem == ALPINE:
        return AlpineLinuxVersion(text)  # apk's order, with -rN revisions
    if ecosystem == PYPI:
        return Pep440Version(text)  # PEP 440: pre-releases before the release
    if ecosystem == NPM:
        return SemverVersion(text.removeprefix("v"))
    raise UnparsableVersion(f"unknown ecosystem {ecosystem!r}")


@lru_cache(maxsize=262_144)
def parse_version(ecosystem: str, text: str) -> Comparable:
    """TEXT as ECOSYSTEM orders it; cached, as the same few versions recur across advisories and images."""
    try:
        return _parse(ecosystem, text)
    except (InvalidVersion, InvalidPep440, ValueError, TypeError) as exc:
        raise UnparsableVersion(f"{text!r} is not a valid {ecosystem} version") from exc


@lru_cache(maxsize=262_144)
def parse_semver(text: str) -> Comparable:
    """For OSV ranges of type SEMVER, whatever the ecosystem."""
    try:
        return SemverVersion(text.removeprefix("v"))
    except (InvalidVersion, ValueError, TypeError) as exc:
        raise UnparsableVersion(f"{text!r} is not a valid semantic version") from exc


@lru_cache(maxsize=65_536)
def package_key(ecosystem: str, name: str) -> str:
    """The name advisories are looked up by: PyPI names compare after PEP 503 normalization."""
    return canonicalize_name(name) if ecosystem == PYPI else name


def ecosystem_from_osv(osv_ecosystem: str) -> tuple[str, str] | None:
    """OSV's ``affected.package.ecosystem`` as (ecosystem, release); None for what the scanner cannot inventory.

    "Debian:12" -> ("debian", "12"), "Alpine:v3.19" -> ("alpine", "v3.19"), "Ubuntu:22.04:LTS" ->
    ("ubuntu", "22.04"), "PyPI" -> ("pypi", ""), "npm" -> ("npm", ""). Ubuntu Pro (ESM) advisories are
    left out: they are about packages an ordinary image does not have."""
    base, _, rest = osv_ecosystem.partition(":")
    lowered = base.lower()
    if lowered in (DEBIAN, ALPINE):
        return lowered, rest
    if lowered == UBUNTU:
        parts = [part for part in rest.split(":") if part]
        if "Pro" in parts or "FIPS" in "".join(parts):
            return None
        release = next((part for part in parts if part[:1].isdigit()), "")
        return UBUNTU, release
    if lowered == PYPI and not rest:
        return PYPI, ""
    if base == "npm" and not rest:
        return NPM, ""
    return None
