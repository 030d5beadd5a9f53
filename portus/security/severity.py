"""One severity per finding (Critical, High, Medium, Low, Negligible, Unknown) from what an OSV advisory says.

No CVSS library is installed, so the CVSS v3.x base score is computed here from the formulas of the
FIRST specification (v3.1, section 7); CVSS v2 and v4 vectors are not scored and fall through to Unknown
unless the advisory also names a severity in words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "Critical"
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"
    NEGLIGIBLE = "Negligible"
    UNKNOWN = "Unknown"


SEVERITY_ORDER = tuple(Severity)  # most severe first

_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,  # Debian's security tracker
    "none": Severity.NEGLIGIBLE,
}

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}


def _roundup(value: float) -> float:
    # The specification's Roundup, done in integers so that 4.000000001 does not become 4.1.
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000
    return (math.floor(scaled / 10_000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """The base score of a ``CVSS:3.0/`` or ``CVSS:3.1/`` vector; None when it is not one."""
    parts = vector.strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        return None
    metrics = dict(part.split(":", 1) for part in parts[1:] if ":" in part)
    try:
        changed = metrics["S"] == "C"
        if metrics["S"] not in ("U", "C"):
            return None
        privileges = (_PR_CHANGED if changed else _PR_UNCHANGED)[metrics["PR"]]
        exploitability = 8.22 * _AV[metrics["AV"]] * _AC[metrics["AC"]] * privileges * _UI[metrics["UI"]]
        iss = 1 - (1 - _CIA[metrics["C"]]) * (1 - _CIA[metrics["I"]]) * (1 - _CIA[metrics["A"]])
    except KeyError:
        return None
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(min(total, 10))


def band(score: float) -> Severity:
    """The CVSS qualitative rating; a score of 0.0 ("None") is Negligible."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score >= 0.1:
        return Severity.LOW
    return Severity.NEGLIGIBLE


def from_word(word: object) -> Severity | None:
    if not isinstance(word, str):
        return None
    return _WORDS.get(word.strip().lower().rstrip("*"))


def _from_specific(specific: object) -> Severity | None:
    if not isinstance(specific, Mapping):
        return None
    return from_word(specific.get("severity")) or from_word(specific.get("urgency"))


def advisory_severity(advisory: Mapping[str, object], affected: Mapping[str, object] | None = None) -> Severity:
    """The package's own rating (ecosystem_specific, then database_specific of the affected entry), then
    the advisory's database_specific, then its CVSS v3 vectors (highest), then Ubuntu's word; else Unknown."""
    if affected is not None:
        found = _from_specific(affected.get("ecosystem_specific")) or _from_specific(affected.get("database_specific"))
        if found:
            return found
    found = _from_specific(advisory.get("database_specific"))
    if found:
        return found
    entries = [entry for entry in (advisory.get("severity") or []) if isinstance(entry, Mapping)]  # type: ignore[attr-defined]
    scores = [
        score
        for entry in entries
        if entry.get("type") == "CVSS_V3" and (score := cvss3_base_score(str(entry.get("score", "")))) is not None
    ]
    if scores:
        return band(max(scores))
    for entry in entries:
        if entry.get("type") == "Ubuntu" and (word := from_word(entry.get("score"))):
            return word
    return Severity.UNKNOWN
