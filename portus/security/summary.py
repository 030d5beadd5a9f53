"""The precomputed per-digest summary the repository page reads: counts by severity over every
backend's findings (allowlisted ones left out) and the overall scan state."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

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
    scans = list(Scan.objects.filter(manifest_digest=digest).values_list("state", "scanned_at"))
    if not scans:
        ScanSummary.objects.filter(manifest_digest=digest).delete()
        return None
    by_severity = dict(counted_findings(digest).values_list("severity").annotate(n=Count("id")).order_by())
    every = ScanFinding.objects.filter(scan__manifest_digest=digest, scan__state=ScanState.DONE).count()
    counts = {severity.value.lower(): by_severity.get(severity.value, 0) for severity in Severity}
    fields = {
        **counts,
        "state": overall_state({state for state, _ in scans}),
        "allowlisted": every - sum(counts.values()),
        "scanned_at": max((at for _, at in scans if at is not None), default=None),
        "updated_at": timezone.now(),
    }
    if not ScanSummary.objects.filter(manifest_digest=digest).update(**fields):
        ScanSummary.objects.get_or_create(manifest_digest=digest, defaults=fields)
    return ScanSummary.objects.get(manifest_digest=digest)


def refresh_all() -> int:
    """Recompute every summary (after an allowlist change that touches many digests); returns how many."""
    digests = Scan.objects.values_list("manifest_digest", flat=True).distinct().order_by()
    done = 0
    for digest in digests.iterator():
        refresh(digest)
        done += 1
    return done
