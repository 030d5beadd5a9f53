"""Version order per ecosystem and the OSV range evaluation, including its boundary cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portus.security.matching import Event, Range, fixed_version, is_affected, ranges_from_osv
from portus.security.versions import ALPINE, DEBIAN, NPM, PYPI, ecosystem_from_osv, parse_version


def ecosystem_range(*events: tuple[str, str]) -> list[Range]:
    return [Range("ECOSYSTEM", tuple(Event(kind, version) for kind, version in events))]


@pytest.mark.parametrize(
    ("ecosystem", "lower", "higher"),
    [
        (DEBIAN, "2.0", "1:1.0"),  # an epoch outranks everything after it
        (DEBIAN, "1.0~rc1", "1.0"),  # `~` sorts before the empty string
        (DEBIAN, "1.0-1", "1.0-1+b1"),
        (ALPINE, "3.1.4-r5", "3.1.4-r10"),  # revisions compare as numbers
        (ALPINE, "1.0_rc1-r0", "1.0-r0"),
        (PYPI, "3.1.0rc1", "3.1.0"),  # PEP 440 pre-releases come before the release
        (PYPI, "1.0.dev1", "1.0a1"),
        (NPM, "1.2.3-beta.1", "1.2.3"),
        (NPM, "1.9.0", "1.10.0"),
    ],
)
def test_versions_follow_each_ecosystems_order(ecosystem: str, lower: str, higher: str) -> None:
    assert parse_version(ecosystem, lower) < parse_version(ecosystem, higher)
    assert not parse_version(ecosystem, higher) < parse_version(ecosystem, lower)


def test_fixed_exactly_at_the_installed_version_is_not_affected() -> None:
    ranges = ecosystem_range(("introduced", "0"), ("fixed", "1.2-3"))
    assert not is_affected(DEBIAN, "1.2-3", ranges, [])
    assert is_affected(DEBIAN, "1.2-2", ranges, [])


def test_epoch_makes_an_old_looking_version_newer_than_the_fix() -> None:
    assert not is_affected(DEBIAN, "1:1.0-1", ecosystem_range(("introduced", "0"), ("fixed", "2.0-1")), [])


def test_tilde_prerelease_is_before_the_fix() -> None:
    assert is_affected(DEBIAN, "1.0~rc1-1", ecosystem_range(("introduced", "0"), ("fixed", "1.0-1")), [])


def test_apk_revisions_compare_as_numbers() -> None:
    ranges = ecosystem_range(("introduced", "0"), ("fixed", "3.1.4-r10"))
    assert is_affected(ALPINE, "3.1.4-r5", ranges, [])
    assert not is_affected(ALPINE, "3.1.4-r10", ranges, [])
    assert not is_affected(ALPINE, "3.1.4-r11", ranges, [])


def test_pep440_prerelease_is_before_its_release() -> None:
    ranges = ecosystem_range(("introduced", "0"), ("fixed", "3.1.0"))
    assert is_affected(PYPI, "3.1.0rc1", ranges, [])
    assert not is_affected(PYPI, "3.1.0", ranges, [])


def test_last_affected_is_inclusive_and_limit_is_exclusive() -> None:
    last = ecosystem_range(("introduced", "1.0"), ("last_affected", "1.5"))
    assert is_affected(PYPI, "1.5", last, [])
    assert not is_affected(PYPI, "1.5.1", last, [])
    limited = ecosystem_range(("introduced", "1.0"), ("limit", "2.0"))
    assert is_affected(PYPI, "1.9", limited, [])
    assert not is_affected(PYPI, "2.0", limited, [])


def test_exact_versions_list_compares_by_the_ecosystem_not_by_text() -> None:
    assert is_affected(PYPI, "1.0.0", [], ["1.0"])
    assert not is_affected(PYPI, "1.0.1", [], ["1.0"])


def test_semver_range_for_npm() -> None:
    ranges = ranges_from_osv([{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}])
    assert is_affected(NPM, "4.17.20", ranges, [])
    assert not is_affected(NPM, "4.17.21", ranges, [])
    assert fixed_version(NPM, "4.17.20", ranges) == "4.17.21"


def test_fixed_version_is_the_lowest_fix_above_the_installed_one() -> None:
    ranges = ecosystem_range(("introduced", "0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "2.3"))
    assert fixed_version(PYPI, "2.1", ranges) == "2.3"
    assert fixed_version(PYPI, "1.0", ranges) == "1.2"


def test_an_unparsable_installed_version_is_not_affected_rather_than_compared_as_text() -> None:
    assert not is_affected(PYPI, "not a version!", ecosystem_range(("introduced", "0")), [])


@pytest.mark.parametrize(
    ("osv", "mapped"),
    [
        ("Debian:12", ("debian", "12")),
        ("Debian", ("debian", "")),
        ("Alpine:v3.19", ("alpine", "v3.19")),
        ("Ubuntu:22.04:LTS", ("ubuntu", "22.04")),
        ("Ubuntu:Pro:18.04:LTS", None),
        ("PyPI", ("pypi", "")),
        ("npm", ("npm", "")),
        ("Maven", None),
    ],
)
def test_osv_ecosystem_names_map_to_the_inventorys(osv: str, mapped: tuple[str, str] | None) -> None:
    assert ecosystem_from_osv(osv) == mapped


# -- the evaluator against a brute-force oracle ----------------------------------------------------------------------

DEBIAN_VERSIONS = st.builds(
    lambda epoch, major, minor, tilde, revision: f"{epoch}{major}.{minor}{tilde}-{revision}",
    st.sampled_from(["", "", "1:"]),
    st.integers(0, 3),
    st.integers(0, 12),
    st.sampled_from(["", "", "~rc1", "~beta"]),
    st.integers(1, 3),
)
PYPI_VERSIONS = st.builds(
    lambda major, minor, pre: f"{major}.{minor}{pre}",
    st.integers(0, 3),
    st.integers(0, 12),
    st.sampled_from(["", "", "rc1", "a2", ".post1", ".dev0"]),
)
ALPINE_VERSIONS = st.builds(
    lambda major, minor, revision: f"{major}.{minor}-r{revision}",
    st.integers(0, 3),
    st.integers(0, 12),
    st.integers(0, 12),
)


def _distinct_sorted(ecosystem: str, texts: list[str]) -> list[str]:
    ordered: list[str] = []
    for text in sorted(set(texts), key=lambda t: _Key(ecosystem, t)):
        if not ordered or parse_version(ecosystem, ordered[-1]) < parse_version(ecosystem, text):
            ordered.append(text)
    return ordered


class _Key:
    def __init__(self, ecosystem: str, text: str):
        self.version = parse_version(ecosystem, text)

    def __lt__(self, other: _Key) -> bool:
        return self.version < other.version


@st.composite
def case(draw: st.DrawFn) -> tuple[str, list[str], list[tuple[str, int]], int | None]:
    """A sorted version list, well-formed events as indexes into it (introduced, then fixed or
    last_affected, increasing), and an optional limit index."""
    ecosystem, versions = draw(
        st.one_of(
            st.tuples(st.just(DEBIAN), st.lists(DEBIAN_VERSIONS, min_size=2, max_size=14)),
            st.tuples(st.just(PYPI), st.lists(PYPI_VERSIONS, min_size=2, max_size=14)),
            st.tuples(st.just(ALPINE), st.lists(ALPINE_VERSIONS, min_size=2, max_size=14)),
        )
    )
    ordered = _distinct_sorted(ecosystem, versions)
    cuts = sorted(draw(st.sets(st.integers(0, len(ordered) - 1), max_size=6)))
    events: list[tuple[str, int]] = []
    for position, index in enumerate(cuts):
        kind = "introduced" if position % 2 == 0 else draw(st.sampled_from(["fixed", "last_affected"]))
        events.append((kind, index))
    limit = draw(st.one_of(st.none(), st.integers(0, len(ordered) - 1)))
    return ecosystem, ordered, events, limit


def oracle(index: int, events: list[tuple[str, int]], limit: int | None) -> bool:
    if limit is not None and index >= limit:
        return False
    for (_, start), end in zip(events[::2], [*events[1::2], None], strict=False):
        if end is None:
            if index >= start:
                return True
        elif end[0] == "fixed" and start <= index < end[1]:
            return True
        elif end[0] == "last_affected" and start <= index <= end[1]:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(case(), st.randoms(use_true_random=False))
def test_range_evaluation_agrees_with_a_brute_force_oracle(
    drawn: tuple[str, list[str], list[tuple[str, int]], int | None], shuffle: object
) -> None:
    ecosystem, ordered, events, limit = drawn
    raw_events = [(kind, ordered[index]) for kind, index in events]
    if limit is not None:
        raw_events.append(("limit", ordered[limit]))
    shuffle.shuffle(raw_events)  # type: ignore[attr-defined]  # OSV does not promise an order
    ranges = ecosystem_range(*raw_events)
    for index, version in enumerate(ordered):
        assert is_affected(ecosystem, version, ranges, []) == oracle(index, events, limit), (version, raw_events)
