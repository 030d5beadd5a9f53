"""The precomputed per-digest summary the repository page reads: counts by severity over every
backend's findings (allowlisted ones left out) and the overall scan state."""

from __future__ import annotations

from django.db.models import Count, Max, QuerySet

from portus.security.models import AllowlistEntry, Scan, ScanFinding, ScanState, ScanSummary
from portus.security.severity import Severity

# The overall state of a digest, from its backends' states: the first that any backend is in.
STATE_PRECEDENCE = (ScanState.RUNNING, ScanState.PENDING, ScanState.FAILED, ScanState.DONE)


def counted_findings(digest: str) -> QuerySet[ScanFinding]:
    """The findings of DIGEST that count. The allowlist leaves its entries out here."""
    findings = ScanFinding.objects.filter(scan__manifest_digest=digest, scan__state=ScanState.DONE)
    return findings.exclude(vulnerability_id__in=AllowlistEntry.ids_for_digest(digest))


def overall_state(states: set[str]) -> str:
    return next((s.value for s in STATE_PRECEDENCE if s.value in states), ScanState.PENDING.value)


def refresh(digest: str) -> ScanSummary | None:
    """Recompute DIGEST's summary row (removed when no scan of it is left)."""
    states = set(Scan.objects.filter(manifest_digest=digest).values_list("state", flat=True))
    if not states:
        ScanSummary.objects.filter(manifest_digest=digest).delete()
        return None
    counted = counted_findings(digest)
    by_severity = dict(counted.values_list("severity").annotate(n=Count("id")).order_by())
    every = ScanFinding.objects.filter(scan__manifest_digest=digest, scan__state=ScanState.DONE).count()
    scanned_at = Scan.objects.filter(manifest_digest=digest).aggregate(at=Max("scanned_at"))["at"]
    counts = {severity.value.lower(): by_severity.get(severity.value, 0) for severity in Severity}
    summary, _ = ScanSummary.objects.update_or_create(
        manifest_digest=digest,
        defaults={
            **counts,
            "state": overall_state(states),
            "allowlisted": every - sum(counts.values()),
            "scanned_at": scanned_at,
        },
    )
    return summary


def refresh_all() -> int:
    """Recompute every summary (after an allowlist change that touches many digests); returns how many."""
    digests = Scan.objects.values_list("manifest_digest", flat=True).distinct().order_by()
    done = 0
    for digest in digests.iterator():
        refresh(digest)
        done += 1
    return done
