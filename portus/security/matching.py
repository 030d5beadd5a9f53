"""Whether an installed version is affected, by the OSV evaluation rules (events, limits, exact versions).

An advisory's ``affected`` entry is compiled once (its versions parsed and its events sorted by the
ecosystem's order), then asked about many installed versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cmp_to_key

from portus.security.versions import Comparable, UnparsableVersion, parse_semver, parse_version

INTRODUCED = "introduced"
FIXED = "fixed"
LAST_AFFECTED = "last_affected"
LIMIT = "limit"
EVENT_KINDS = (INTRODUCED, FIXED, LAST_AFFECTED, LIMIT)
# Between events at the same version: an introduction comes before what ends it, so that
# introduced == fixed affects nothing and introduced == last_affected affects exactly that version.
_TIE_ORDER = {INTRODUCED: 0, LAST_AFFECTED: 1, FIXED: 2}


@dataclass(frozen=True)
class Event:
    kind: str
    version: str


@dataclass(frozen=True)
class Range:
    type: str  # ECOSYSTEM or SEMVER (GIT ranges name commits, which an image does not carry)
    events: tuple[Event, ...]


def ranges_from_osv(raw: object) -> list[Range]:
    """OSV ``affected.ranges`` as Ranges; malformed parts are dropped rather than guessed at."""
    ranges: list[Range] = []
    if not isinstance(raw, list):
        return ranges
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events: list[Event] = []
        for event in entry.get("events") or []:
            if isinstance(event, dict):
                events.extend(Event(kind, str(value)) for kind, value in event.items() if kind in EVENT_KINDS)
        if events:
            ranges.append(Range(str(entry["type"]), tuple(events)))
    return ranges


@dataclass(frozen=True)
class _Step:
    kind: str
    at: Comparable | None  # None: introduced "0", before every version
    text: str


def _compare_steps(a: _Step, b: _Step) -> int:
    # Library versions are compared with `<` only (univers' apk versions answer `<=` by their text).
    if a.at is None or b.at is None:
        return (a.at is not None) - (b.at is not None)
    if a.at < b.at:
        return -1
    if b.at < a.at:
        return 1
    return _TIE_ORDER[a.kind] - _TIE_ORDER[b.kind]


@dataclass(frozen=True)
class CompiledRange:
    semver: bool
    steps: tuple[_Step, ...]  # in version order
    limits: tuple[Comparable, ...]  # empty: no limit

    def affects(self, installed: Comparable) -> bool:
        """The OSV rule: walk the events in version order; `introduced` opens (``"0"`` is before
        everything), `fixed` closes at its version, `last_affected` closes after its version; and the
        version must be below one `limit` when there are any."""
        if self.limits and not any(installed < limit for limit in self.limits):
            return False
        vulnerable = False
        for step in self.steps:
            if step.kind == INTRODUCED:
                if step.at is None or not installed < step.at:
                    vulnerable = True
            elif step.kind == FIXED:
                if step.at is not None and not installed < step.at:
                    vulnerable = False
            elif step.at is not None and step.at < installed:  # last_affected
                vulnerable = False
        return vulnerable

    def next_fix(self, installed: Comparable) -> _Step | None:
        return next((s for s in self.steps if s.kind == FIXED and s.at is not None and installed < s.at), None)


def compile_range(ecosystem: str, affected: Range) -> CompiledRange:
    semver = affected.type == "SEMVER"
    steps: list[_Step] = []
    limits: list[Comparable] = []
    unlimited = False
    for event in affected.events:
        if event.kind == INTRODUCED and event.version == "0":
            steps.append(_Step(INTRODUCED, None, event.version))
            continue
        if event.kind == LIMIT and event.version == "*":
            unlimited = True  # "*" is a limit nothing reaches
            continue
        try:
            at = parse_semver(event.version) if semver else parse_version(ecosystem, event.version)
        except UnparsableVersion:
            continue
        if event.kind == LIMIT:
            limits.append(at)
        else:
            steps.append(_Step(event.kind, at, event.version))
    steps.sort(key=cmp_to_key(_compare_steps))
    return CompiledRange(semver, tuple(steps), () if unlimited else tuple(limits))


@dataclass(frozen=True)
class AffectedVersions:
    """One advisory's ``affected`` entry, compiled for one ecosystem."""

    ecosystem: str
    ranges: tuple[CompiledRange, ...]
    versions: tuple[Comparable, ...]
    raw_versions: frozenset[str]

    def _installed(self, installed: str) -> tuple[Comparable | None, Comparable | None]:
        try:
            version: Comparable | None = parse_version(self.ecosystem, installed)
        except UnparsableVersion:
            version = None
        semver: Comparable | None = None
        if any(r.semver for r in self.ranges):
            try:
                semver = parse_semver(installed)
            except UnparsableVersion:
                semver = None
        return version, semver

    def verdict(self, installed: str) -> str | None:
        """None when INSTALLED is not affected; else the lowest `fixed` above it among the ranges that
        affect it ("" when no fix is known). Affected means: in ``versions`` (equal by the ecosystem's
        order), or in a range."""
        version, semver = self._installed(installed)
        listed = (
            installed in self.raw_versions
            if version is None
            else any(not (other < version) and not (version < other) for other in self.versions)
        )
        affected = listed
        best: _Step | None = None
        for compiled in self.ranges:
            point = semver if compiled.semver else version
            if point is None or not compiled.affects(point):
                continue
            affected = True
            step = compiled.next_fix(point)
            if step is not None and (best is None or best.at is None or (step.at is not None and step.at < best.at)):
                best = step
        if not affected:
            return None
        return best.text if best else ""

    def affects(self, installed: str) -> bool:
        return self.verdict(installed) is not None

    def fixed_version(self, installed: str) -> str:
        """The lowest `fixed` above INSTALLED among the ranges that affect it ("" when none is known)."""
        return self.verdict(installed) or ""


def compile_affected(ecosystem: str, ranges: Sequence[Range], versions: Sequence[str]) -> AffectedVersions:
    parsed: list[Comparable] = []
    for listed in versions:
        try:
            parsed.append(parse_version(ecosystem, listed))
        except UnparsableVersion:
            continue
    return AffectedVersions(
        ecosystem, tuple(compile_range(ecosystem, r) for r in ranges), tuple(parsed), frozenset(versions)
    )


def is_affected(ecosystem: str, installed: str, ranges: Sequence[Range], versions: Sequence[str]) -> bool:
    return compile_affected(ecosystem, ranges, versions).affects(installed)


def fixed_version(ecosystem: str, installed: str, ranges: Sequence[Range]) -> str:
    return compile_affected(ecosystem, ranges, ()).fixed_version(installed)
