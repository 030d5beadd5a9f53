"""The scan flow: enqueue a scan per (digest, enabled backend), claim it like a registry event,
run the backend outside any transaction, save only while the claim holds, retry with backoff.

Claims: a compare-and-set UPDATE moves a free scan (pending and not waiting for a retry or a report,
or running with an expired lease: its worker died) to running with our ``claim`` and a lease. The
backend runs with no transaction open and no row locked. One transaction then marks the scan done
*only if the claim is still ours*, replaces its findings and refreshes the digest's summary; otherwise
it rolls back. A scanner that has no report yet (``ReportNotReady``) does not hold the worker: the scan
goes back to pending with the scanner's request ids and the time to poll again, and any worker polls
it when due. A worker SIGKILLed mid-scan leaves the scan running with a lease that runs out; the next
worker takes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from portus.registry.client import RegistryClient
from portus.registry.models import Registry, Repository, Tag
from portus.security import summary
from portus.security.advisories import advisory_database_version, import_advisories
from portus.security.backends import (
    BackendError,
    BackendHealth,
    ReportNotReady,
    ScanBackend,
    ScanOutcome,
    ScanTarget,
)
from portus.security.builtin_backend import BuiltinBackend
from portus.security.clair import ClairBackend
from portus.security.dummy import DummyBackend
from portus.security.harbor import HarborBackend
from portus.security.models import Backend, Scan, ScanFinding, ScanState, ScanSummary
from portus.security.signals import scan_finished

log = logging.getLogger("portus.security")
MAX_BACKOFF = 600  # seconds
BATCH = 500  # digests per statement of a bulk rescan


class LostClaim(Exception):
    """Another worker (or a rescan request) took the scan over; our result is thrown away."""


def enabled_backend_names() -> list[str]:
    config = settings.PORTUS.security
    names = []
    if config.builtin.enabled:
        names.append(Backend.BUILTIN.value)
    if config.harbor.server:
        names.append(Backend.HARBOR.value)
    if config.clair.server:
        names.append(Backend.CLAIR.value)
    if config.dummy.enabled:
        names.append(Backend.DUMMY.value)
    return names


def make_backends(clients: dict[int, RegistryClient] | None = None) -> dict[str, ScanBackend]:
    """One instance of every enabled backend (CLIENTS: registry clients to share with the caller)."""
    makers: dict[str, Callable[[], ScanBackend]] = {
        Backend.BUILTIN.value: lambda: BuiltinBackend(clients),
        Backend.HARBOR.value: HarborBackend,
        Backend.CLAIR.value: ClairBackend,
        Backend.DUMMY.value: DummyBackend,
    }
    return {name: makers[name]() for name in enabled_backend_names()}


# -- requests ----------------------------------------------------------------------------------


def enqueue(registry: Registry, repository: str, digest: str) -> int:
    """A scan of DIGEST for every enabled backend that has none yet; returns how many were added.
    Idempotent: a digest already scanned (or waiting) by a backend is left as it is."""
    names = enabled_backend_names()
    if not names or not settings.PORTUS.background.security_scanning.enabled:
        return 0
    known = set(Scan.objects.filter(manifest_digest=digest, backend__in=names).values_list("backend", flat=True))
    missing = [name for name in names if name not in known]
    if missing:
        Scan.objects.bulk_create(
            [Scan(manifest_digest=digest, backend=name, registry=registry, repository=repository) for name in missing],
            ignore_conflicts=True,
        )
        summary.store(digest)
    return len(missing)


def _mark_pending(digests: list[str]) -> None:
    """After a rescan request: every summary of DIGESTS says pending (unless a scan of it is running);
    counts keep the last findings until the new ones are stored."""
    ScanSummary.objects.bulk_create([ScanSummary(manifest_digest=d) for d in digests], ignore_conflicts=True)
    ScanSummary.objects.filter(manifest_digest__in=digests).exclude(state=ScanState.RUNNING).update(
        state=ScanState.PENDING
    )


def request_rescan(scans: QuerySet[Scan]) -> int:
    """Put SCANS back in the queue (a running one loses its claim: its result is thrown away)."""
    digests = sorted(set(scans.values_list("manifest_digest", flat=True)))
    count = 0
    for start in range(0, len(digests), BATCH):
        chunk = digests[start : start + BATCH]
        count += scans.filter(manifest_digest__in=chunk).update(
            state=ScanState.PENDING,
            attempts=0,
            claim="",
            lease_until=None,
            reason="",
            backend_requests={},
            waiting_since=None,
        )
        _mark_pending(chunk)
    return count


def _tags_rescan(tags: QuerySet[Tag]) -> int:
    """Queue every digest TAGS point at, with every enabled backend (creating missing scans in bulk)."""
    names = enabled_backend_names()
    if not names or not settings.PORTUS.background.security_scanning.enabled:
        return 0
    rows = tags.order_by().values_list("digest", "repository__namespace__registry_id", "repository__id").distinct()
    where: dict[str, tuple[int, int]] = {}
    for digest, registry_id, repository_id in rows.iterator():
        where.setdefault(digest, (registry_id, repository_id))
    names_of = {
        r.pk: r.full_name
        for r in Repository.objects.filter(pk__in={r for _, r in where.values()}).select_related("namespace")
    }
    digests = sorted(where)
    count = 0
    for start in range(0, len(digests), BATCH):
        chunk = digests[start : start + BATCH]
        Scan.objects.bulk_create(
            [
                Scan(manifest_digest=d, backend=n, registry_id=where[d][0], repository=names_of[where[d][1]])
                for d in chunk
                for n in names
            ],
            ignore_conflicts=True,
        )
        count += request_rescan(Scan.objects.filter(manifest_digest__in=chunk, backend__in=names))
    return count


def rescan_tag(tag: Tag) -> int:
    """Scan TAG's digest again with every enabled backend; returns the number of scans queued."""
    return _tags_rescan(Tag.objects.filter(pk=tag.pk))


def rescan_repository(repository: Repository) -> int:
    return _tags_rescan(Tag.objects.filter(repository=repository))


def rescan_all() -> int:
    """Every digest any tag points at, with every enabled backend."""
    return _tags_rescan(Tag.objects.all())


def rescan_outdated(backend: ScanBackend) -> int:
    """Queue again the finished scans BACKEND made with another database version than its current
    one (never those whose database has not moved). Returns how many; 0 when the backend is down."""
    try:
        current = backend.database()
    except BackendError as exc:
        log.warning("cannot ask %s for its database version: %s", backend.name, exc)
        return 0
    moved = Scan.objects.filter(backend=backend.name, state=ScanState.DONE).exclude(database_version=current.version)
    count = request_rescan(moved)
    if count:
        log.info("%s database moved to %s: %d scans queued again", backend.name, current.version, count)
    return count


# -- claiming and running ----------------------------------------------------------------------


@dataclass
class Claimed:
    scan: Scan
    claim: str
    claimed_at: float = field(default_factory=time.monotonic)
    media_type: str = ""  # the manifest's media type as a tag knows it ("" when no tag does)


def free_scans(now: dt.datetime) -> Q:
    waiting = Q(state=ScanState.PENDING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    abandoned = Q(state=ScanState.RUNNING, lease_until__lt=now)
    return waiting | abandoned


def _candidates(now: dt.datetime, backends: list[str], count: int) -> list[int]:
    """The oldest free scans: pending ones first (by the (state, id) index), else abandoned running ones."""
    mine = Scan.objects.filter(backend__in=backends)
    pending = mine.filter(Q(state=ScanState.PENDING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now)))
    found = list(pending.order_by("pk").values_list("pk", flat=True)[:count])
    if not found:
        abandoned = mine.filter(state=ScanState.RUNNING, lease_until__lt=now)
        found = list(abandoned.order_by("pk").values_list("pk", flat=True)[:count])
    return found


def claim_scans(worker: str, backends: Iterable[str], count: int = 1) -> list[Claimed]:
    """Claim (one compare-and-set UPDATE) up to COUNT of the oldest free scans of BACKENDS: five
    statements for the whole batch, the tags' media types included. Each keeps its own lease: one the
    worker has not started yet is renewed before it starts (``run``), and given back untouched if the
    worker stops (``give_back``)."""
    now = timezone.now()
    names = list(backends)
    free = free_scans(now) & Q(backend__in=names)
    lease = dt.timedelta(seconds=settings.PORTUS.background.lease)
    for _ in range(3):  # another worker may take the candidates first: look again
        candidates = _candidates(now, names, count)
        if not candidates:
            return []
        claim = f"{worker}:{secrets.token_hex(4)}"[-64:]
        taken = Scan.objects.filter(free, pk__in=candidates).update(
            state=ScanState.RUNNING, claim=claim, lease_until=now + lease, attempts=F("attempts") + 1
        )
        if taken:
            rows = list(Scan.objects.filter(claim=claim).select_related("registry").order_by("pk"))
            digests = {scan.manifest_digest for scan in rows}
            # Running wins over every other state of the digest's scans: no need to recount.
            ScanSummary.objects.filter(manifest_digest__in=digests).update(state=ScanState.RUNNING)
            # What a scanner that pulls the image itself needs to know, for the batch in one query.
            media_types = dict(Tag.objects.filter(digest__in=digests).values_list("digest", "media_type"))
            return [Claimed(scan, claim, media_type=media_types.get(scan.manifest_digest, "")) for scan in rows]
    return []


def claim_scan(worker: str, backends: Iterable[str]) -> Claimed | None:
    """Claim (compare-and-set) the oldest free scan of one of BACKENDS."""
    claimed = claim_scans(worker, backends, 1)
    return claimed[0] if claimed else None


def renew(claimed: Claimed) -> bool:
    """Extend our lease; False when the claim is no longer ours (stop working on it)."""
    lease = dt.timedelta(seconds=settings.PORTUS.background.lease)
    renewed = Scan.objects.filter(pk=claimed.scan.pk, claim=claimed.claim, state=ScanState.RUNNING).update(
        lease_until=timezone.now() + lease
    )
    claimed.claimed_at = time.monotonic()
    return bool(renewed)


def save(claimed: Claimed, outcome: ScanOutcome) -> None:
    """Store OUTCOME as the scan's result if the claim still holds; raise LostClaim otherwise. One
    transaction: the scan row, its findings and the digest's summary."""
    scan = claimed.scan
    stored_before = scan.scanned_at is not None  # findings exist only once a scan was stored
    fields: dict[str, Any] = {
        "state": ScanState.DONE,
        "claim": "",
        "lease_until": None,
        "reason": "",
        "scanned_at": timezone.now(),
        "database_version": outcome.database.version[:255],
        "database_updated_at": outcome.database.updated_at,
        "notes": outcome.notes,
        "no_advisories": outcome.no_advisories,
        "backend_requests": {},
        "waiting_since": None,
    }
    with transaction.atomic():
        finished = Scan.objects.filter(pk=scan.pk, claim=claimed.claim, state=ScanState.RUNNING).update(**fields)
        if finished != 1:
            raise LostClaim(str(scan))
        if stored_before:
            ScanFinding.objects.filter(scan=scan).delete()
        if outcome.findings:
            ScanFinding.objects.bulk_create(
                [
                    ScanFinding(
                        scan=scan,
                        vulnerability_id=f.vulnerability_id[:128],
                        severity=f.severity.value,
                        package=f.package[:255],
                        installed_version=f.installed_version[:255],
                        fixed_version=f.fixed_version[:255],
                        summary=f.summary,
                        link=f.link[:500],
                        platform=f.platform[:64],
                    )
                    for f in outcome.findings
                ],
                batch_size=1000,
            )
        summary.store(scan.manifest_digest, sole=dict(Counter(f.severity.value for f in outcome.findings)))
        # The row as just written (the claim is ours, so nothing else changed it): no read back.
        for name, value in fields.items():
            setattr(scan, name, value)
        scan_finished.send(sender=Scan, scan=scan)


def release(claimed: Claimed, error: str) -> bool:
    """Give the scan back with a backoff, or mark it failed after security.max_attempts attempts.
    Returns whether it failed for good."""
    scan = claimed.scan
    attempts = Scan.objects.filter(pk=scan.pk).values_list("attempts", flat=True).first() or 0
    give_up = attempts >= settings.PORTUS.security.max_attempts
    retry_at = timezone.now() + dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF))
    Scan.objects.filter(pk=scan.pk, claim=claimed.claim, state=ScanState.RUNNING).update(
        state=ScanState.FAILED if give_up else ScanState.PENDING,
        lease_until=None if give_up else retry_at,
        claim="",
        reason=error[:2000],
        waiting_since=None,  # the next attempt polls the requests in flight with a new deadline
    )
    summary.store(scan.manifest_digest)
    log.warning("%s attempt %d failed%s: %s", scan, attempts, " for good" if give_up else "", error)
    return give_up


def wait_for_report(claimed: Claimed, not_ready: ReportNotReady) -> bool:
    """Give the scan back while its scanner works: pending, not free before NOT_READY.wait seconds from
    now, the scanner's request ids stored, the claim's attempt not counted. The digest's summary keeps
    saying running. False when the claim was no longer ours (the requests are then left to the owner)."""
    now = timezone.now()
    return bool(
        Scan.objects.filter(pk=claimed.scan.pk, claim=claimed.claim, state=ScanState.RUNNING).update(
            state=ScanState.PENDING,
            claim="",
            lease_until=now + dt.timedelta(seconds=not_ready.wait),
            attempts=F("attempts") - 1,
            backend_requests=not_ready.in_flight,
            waiting_since=Coalesce(F("waiting_since"), Value(now)),
        )
    )


def give_back(claimed: Iterable[Claimed]) -> int:
    """Put claimed scans back in the queue as they were (the worker is stopping): free at once, the
    attempt not counted, the requests in flight kept for the next claim. Returns how many."""
    by_claim: dict[str, list[Claimed]] = {}
    for item in claimed:
        by_claim.setdefault(item.claim, []).append(item)
    count = 0
    for claim, items in by_claim.items():
        count += Scan.objects.filter(pk__in=[i.scan.pk for i in items], claim=claim, state=ScanState.RUNNING).update(
            state=ScanState.PENDING, claim="", lease_until=None, attempts=F("attempts") - 1
        )
        for digest in sorted({i.scan.manifest_digest for i in items}):
            summary.store(digest)
    return count


class Ran(NamedTuple):
    """What ``run`` did: RESULT is done, waiting (for the scanner's report; claim given back) or retry
    (ERROR says why)."""

    result: str
    error: str = ""


def run(claimed: Claimed, backend: ScanBackend) -> Ran:
    """Run BACKEND on the claimed scan and store the outcome. A scan claimed in a batch and not started
    within half a lease is renewed first (or dropped when another worker took it over)."""
    scan = claimed.scan
    lease = settings.PORTUS.background.lease
    if time.monotonic() - claimed.claimed_at > lease / 2 and not renew(claimed):
        log.warning("%s was taken over before it started; leaving it", scan)
        return Ran("done")
    target = ScanTarget(
        scan.registry,
        scan.repository,
        scan.manifest_digest,
        in_flight=dict(scan.backend_requests or {}),
        waiting_since=scan.waiting_since,
        media_type=claimed.media_type,
    )
    try:
        outcome = backend.scan(target)
        save(claimed, outcome)
    except LostClaim:
        log.warning("%s was taken over; dropping our result", scan)
        return Ran("done")
    except ReportNotReady as not_ready:
        if wait_for_report(claimed, not_ready):
            log.debug("%s: %s", scan, not_ready)
        return Ran("waiting")
    except BackendError as exc:
        error = f"{backend.name}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one broken scan must not stop the worker
        log.exception("%s failed", scan)
        error = f"{backend.name}: {type(exc).__name__}: {exc}"
    else:
        if outcome.no_advisories:
            log.info("%s: no advisory database yet, so no findings known", scan)
        else:
            log.info("%s: %d findings", scan, len(outcome.findings))
        return Ran("done")
    release(claimed, error)
    return Ran("retry", error)


def queue_scans(*, registry: Registry, repository: str, digest: str, **_: object) -> None:
    """Receiver of ``registry.signals.manifest_pushed``: inside the transaction that applied the push."""
    enqueue(registry, repository, digest)


@dataclass(frozen=True)
class BackendStatus:
    """What health and the admin page show about one enabled backend."""

    name: str
    reachable: bool
    message: str  # includes the database's age when the backend tells it
    database_updated_at: dt.datetime | None
    pending: int
    failed: int


def database_age(updated_at: dt.datetime | None, now: dt.datetime) -> str:
    if updated_at is None:
        return "database age unknown"
    hours = (now - updated_at).total_seconds() / 3600
    return f"database updated {hours:.0f} h ago ({updated_at:%Y-%m-%d %H:%M} UTC)"


def backend_statuses() -> list[BackendStatus]:
    """Probe every enabled backend (a network call for Harbor and Clair): reachable, database age, queue."""
    now = timezone.now()
    statuses = []
    for name, backend in make_backends().items():
        try:
            health = backend.health()
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is a backend that is down
            health = BackendHealth(False, f"{type(exc).__name__}: {exc}")
        queue = Scan.objects.filter(backend=name)
        statuses.append(
            BackendStatus(
                name=name,
                reachable=health.reachable,
                message=f"{health.message} {database_age(health.database_updated_at, now)}."
                if health.reachable
                else health.message,
                database_updated_at=health.database_updated_at,
                pending=queue.filter(state__in=[ScanState.PENDING, ScanState.RUNNING]).count(),
                failed=queue.filter(state=ScanState.FAILED).count(),
            )
        )
    return statuses


def import_due_advisories() -> str:
    """The scheduled import of ``security.builtin.advisories``, when the last import is older than
    ``security.builtin.import_interval``. Returns the import's summary, "" when none was due; raises
    AdvisoryImportError when the source cannot be read. (Idempotent: an unchanged advisory is not
    written, so two workers importing at once change nothing twice.)"""
    config = settings.PORTUS.security.builtin
    if not (config.enabled and config.advisories):
        return ""
    imported_at = advisory_database_version().imported_at
    if imported_at is not None and timezone.now() - imported_at < dt.timedelta(seconds=config.import_interval):
        return ""
    return import_advisories(config.advisories).summary()
