"""Whether an installed version is affected, by the OSV evaluation rules (events, limits, exact versions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portus.security.versions import Comparable, UnparsableVersion, parse_semver, parse_version

INTRODUCED = "introduced"
FIXED = "fixed"
LAST_AFFECTED = "last_affected"
LIMIT = "limit"
EVENT_KINDS = (INTRODUCED, FIXED, LAST_AFFECTED, LIMIT)
# Between events at the same version: an introduction comes before what ends it, so that
# introduced == fixed affects nothing and introduced == last_affected affects exactly that version.
_TIE_ORDER = {INTRODUCED: 0, LAST_AFFECTED: 1, FIXED: 2, LIMIT: 3}


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


def _order(range_type: str, ecosystem: str, text: str) -> Comparable:
    return parse_semver(text) if range_type == "SEMVER" else parse_version(ecosystem, text)


def range_affects(ecosystem: str, version: Comparable | None, semver: Comparable | None, affected: Range) -> bool:
    """The OSV rule over one range: walk the events in version order; `introduced` opens (``"0"`` is
    before everything), `fixed` closes at its version, `last_affected` closes after its version; and
    the version must be below one `limit` when there are any."""
    installed = semver if affected.type == "SEMVER" else version
    if installed is None:
        return False
    keyed: list[tuple[int, Comparable | None, int, Event]] = []
    limits: list[Comparable] = []
    unlimited = False
    for event in affected.events:
        if event.kind == INTRODUCED and event.version == "0":
            keyed.append((0, None, 0, event))
            continue
        if event.kind == LIMIT and event.version == "*":
            unlimited = True  # "*" is a limit nothing reaches
            continue
        try:
            point = _order(affected.type, ecosystem, event.version)
        except UnparsableVersion:
            continue
        if event.kind == LIMIT:
            limits.append(point)
        else:
            keyed.append((1, point, _TIE_ORDER[event.kind], event))
    if limits and not unlimited and not any(installed < limit for limit in limits):
        return False
    keyed.sort(key=_sort_key)
    vulnerable = False
    for _, at, _, event in keyed:
        if event.kind == INTRODUCED:
            if at is None or not installed < at:
                vulnerable = True
        elif event.kind == FIXED:
            if at is not None and not installed < at:
                vulnerable = False
        elif event.kind == LAST_AFFECTED and at is not None and at < installed:
            vulnerable = False
    return vulnerable


class _SortKey:
    """Sorts (zero-first, version, tie order) tuples: library versions compare with < only."""

    __slots__ = ("item",)

    def __init__(self, item: tuple[int, Comparable | None, int, Event]):
        self.item = item

    def __lt__(self, other: _SortKey) -> bool:
        a, b = self.item, other.item
        if a[0] != b[0]:
            return a[0] < b[0]
        if a[1] is not None and b[1] is not None:
            if a[1] < b[1]:
                return True
            if b[1] < a[1]:
                return False
        return a[2] < b[2]


def _sort_key(item: tuple[int, Comparable | None, int, Event]) -> _SortKey:
    return _SortKey(item)


def is_affected(ecosystem: str, installed: str, ranges: Sequence[Range], versions: Sequence[str]) -> bool:
    """INSTALLED is affected when it is in ``versions`` (equal by the ecosystem's order) or in any range."""
    try:
        version = parse_version(ecosystem, installed)
    except UnparsableVersion:
        version = None
    try:
        semver: Comparable | None = parse_semver(installed) if any(r.type == "SEMVER" for r in ranges) else None
    except UnparsableVersion:
        semver = None
    if version is not None:
        for listed in versions:
            try:
                other = parse_version(ecosystem, listed)
            except UnparsableVersion:
                continue
            if not (other < version) and not (version < other):
                return True
    elif installed in versions:
        return True
    return any(range_affects(ecosystem, version, semver, r) for r in ranges)


def fixed_version(ecosystem: str, installed: str, ranges: Sequence[Range]) -> str:
    """The lowest `fixed` above INSTALLED in the ranges that affect it ("" when none is known)."""
    try:
        version = parse_version(ecosystem, installed)
    except UnparsableVersion:
        return ""
    best: tuple[Comparable, str] | None = None
    for affected in ranges:
        if affected.type != "ECOSYSTEM":
            continue
        for event in affected.events:
            if event.kind != FIXED:
                continue
            try:
                point = parse_version(ecosystem, event.version)
            except UnparsableVersion:
                continue
            if version < point and (best is None or point < best[0]):
                best = (point, event.version)
    if best is None:
        for affected in ranges:
            fixes = [event.version for event in affected.events if event.kind == FIXED]
            if affected.type == "SEMVER" and fixes:
                return fixes[-1]
    return best[1] if best else ""
