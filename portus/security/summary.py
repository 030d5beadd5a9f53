"""The precomputed per-digest summary the repository page reads: counts by severity over every
backend's findings (allowlisted ones left out) and the overall scan state."""

from __future__ import annotations

from django.db.models import Count, Exists, QuerySet
from django.utils import timezone

from portus.security.models import AllowlistEntry, Scan, ScanFinding, ScanState, ScanSummary
from portus.security.severity import Severity

# The overall state of a digest, from its backends' states: the first that any backend is in.
STATE_PRECEDENCE = (ScanState.RUNNING, ScanState.PENDING, ScanState.FAILED, ScanState.DONE)


def counted_findings(digest: str, allowlist: bool = True) -> QuerySet[ScanFinding]:
    """The findings of DIGEST that count: the allowlist leaves its entries out (ALLOWLIST=False: there is
    no allowlist entry at all, so nothing is left out and no namespace needs to be looked up)."""
    findings = ScanFinding.objects.filter(scan__manifest_digest=digest, scan__state=ScanState.DONE)
    if not allowlist:
        return findings
    return findings.exclude(vulnerability_id__in=AllowlistEntry.ids_for_digest(digest))


def overall_state(states: set[str]) -> str:
    return next((s.value for s in STATE_PRECEDENCE if s.value in states), ScanState.PENDING.value)


def without_advisories(scans: list[tuple[str, bool]]) -> bool:
    """Whether the (state, no_advisories) SCANS of one digest hold no real result: some are done and
    every done one was made against an empty advisory database."""
    done = [no_advisories for state, no_advisories in scans if state == ScanState.DONE]
    return bool(done) and all(done)


def store(digest: str, sole: dict[str, int] | None = None) -> bool:
    """Recompute DIGEST's summary row (removed when no scan of it is left); False when it was removed.
    SOLE: the findings by severity of the scan just stored, used when it is the digest's only scan and
    there is no allowlist (two statements then: the scan path calls this per scan)."""
    # The digest's scans, and (in the same statement) whether any allowlist entry exists: the usual
    # installation has none, and then a single count of the findings does.
    rows = list(
        Scan.objects.filter(manifest_digest=digest)
        .annotate(allowlist=Exists(AllowlistEntry.objects.all()))
        .values_list("state", "scanned_at", "no_advisories", "allowlist")
    )
    if not rows:
        ScanSummary.objects.filter(manifest_digest=digest).delete()
        return False
    allowlist = bool(rows[0][3])
    scans = [row[:3] for row in rows]
    if sole is not None and len(scans) == 1 and not allowlist:
        by_severity = sole
    else:
        by_severity = dict(
            counted_findings(digest, allowlist).values_list("severity").annotate(n=Count("id")).order_by()
        )
    every = (
        ScanFinding.objects.filter(scan__manifest_digest=digest, scan__state=ScanState.DONE).count()
        if allowlist
        else sum(by_severity.values())
    )
    counts = {severity.value.lower(): by_severity.get(severity.value, 0) for severity in Severity}
    fields = {
        **counts,
        "state": overall_state({state for state, _, _ in scans}),
        "allowlisted": every - sum(counts.values()),
        "no_advisories": without_advisories([(state, no_advisories) for state, _, no_advisories in scans]),
        "scanned_at": max((at for _, at, _ in scans if at is not None), default=None),
        "updated_at": timezone.now(),
    }
    if not ScanSummary.objects.filter(manifest_digest=digest).update(**fields):
        ScanSummary.objects.get_or_create(manifest_digest=digest, defaults=fields)
    return True


def refresh(digest: str) -> ScanSummary | None:
    """Recompute DIGEST's summary row and return it (None when no scan of it is left)."""
    if not store(digest):
        return None
    return ScanSummary.objects.get(manifest_digest=digest)


def refresh_all() -> int:
    """Recompute every summary (after an allowlist change that touches many digests); returns how many."""
    digests = Scan.objects.values_list("manifest_digest", flat=True).distinct().order_by()
    done = 0
    for digest in digests.iterator():
        store(digest)
        done += 1
    return done
