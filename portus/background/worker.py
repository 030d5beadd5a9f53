"""The background worker: applies registry events and synchronizes registries.

Built like healthchecks' ``sendalerts``: a loop of small ``handle_one_x() -> bool`` steps, a
stop flag set by SIGTERM/SIGINT (the current item always finishes), ``close_old_connections()``
each turn, and claims instead of long locks. The worker only claims, leases, retries and releases;
what an event means is ``registry.events``'s business. An event is claimed with a compare-and-set
UPDATE that also sets a lease; ``events.read_registry`` runs outside any transaction; then one
transaction re-checks the claim, runs ``events.apply_event`` and marks the event done. A worker
killed in between leaves the event to whoever sees its lease expire.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import socket
import time
from collections import deque
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from portus import metrics
from portus.background.models import TaskName, TaskStatus
from portus.background.wakeup import Waiter
from portus.registry import events, images
from portus.registry.client import RegistryClient, RegistryError
from portus.registry.models import EventState, Registry, RegistryEvent
from portus.registry.sync import Synchronizer, SyncReport, may_run, should_run
from portus.security import actions as security_actions
from portus.security import scans
from portus.security.advisories import AdvisoryImportError
from portus.security.backends import ScanBackend
from portus.security.models import Scan, ScanState
from portus.webhooks import delivery as webhook_delivery

log = logging.getLogger("portus.background")
STATUS_EVERY = 1.0  # seconds between two writes of the events status row
# What a synchronization report counts, as portus_sync_changes_total{kind=...}.
SYNC_CHANGE_KINDS = (
    "added_repositories",
    "added_tags",
    "changed_tags",
    "deleted_tags",
    "deleted_repositories",
    "deferred_deletions",
    "skipped",
)
# While scans keep the worker busy, the event queue is looked at this often after a wake-up (not before
# every scan): pushes still show within a fraction of a second, and a scan-all does not pay an event
# query per scan.
BUSY_EVENT_CHECK = 0.1


class LostClaim(Exception):
    """Another worker took the event over (our lease ran out); our work is thrown away."""


class Worker:
    def __init__(self, name: str | None = None):
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = False
        self.waiter = Waiter()
        self.clients: dict[int, RegistryClient] = {}
        self.sync_at_start = True  # the first look at the sync task after the process started
        self.events_done = 0
        self._status_written = 0.0
        self._last_event_error = ""
        self.backends: dict[str, ScanBackend] | None = None
        self.claimed_scans: deque[scans.Claimed] = deque()  # claimed in a batch, not started yet
        self.scans_done = 0
        self._scan_status_written = 0.0
        self._last_scan_error = ""
        self._databases_checked = 0.0
        self.deliveries_done = 0
        self._scanning = False  # the last turn ran a scan
        self._events_checked = 0.0  # when the event queue was last found empty
        self._queues_busy = False  # the last look at the event and delivery queues found work
        self._details_idle_until = 0.0  # while scanning: no unread image (or no registry) until then
        self._sync_checked = 0.0

    # -- process plumbing ---------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: Any) -> None:
            log.info(
                "received %s: finishing the current item, then stopping",
                signal.Signals(signum).name,
            )
            self.stopping = True
            self.waiter.interrupt()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def client(self, registry: Registry) -> RegistryClient:
        if registry.pk not in self.clients:
            self.clients[registry.pk] = RegistryClient(registry)
        return self.clients[registry.pk]

    def run(self, *, until_idle: bool = False) -> None:
        """Loop until stopped (or, with UNTIL_IDLE, until there is nothing left to do)."""
        self.waiter.open()
        log.info("background worker %s started", self.name)
        try:
            while not self.stopping:
                close_old_connections()
                try:
                    busy = self.handle_one_step()
                    self.write_event_status()
                    self.write_scan_status()
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                    log.exception("background step failed; trying again after the poll interval")
                    busy = False
                if busy or self.stopping:
                    continue
                if until_idle:
                    break
                self.waiter.wait(settings.PORTUS.background.poll_interval)
        finally:
            self.give_back_scans()
            self.write_event_status(force=True)
            self.write_scan_status(force=True)
            self.waiter.close()
            for client in self.clients.values():
                client.close()
            close_old_connections()
            log.info("background worker %s stopped after %d events", self.name, self.events_done)

    def handle_one_step(self) -> bool:
        """One turn: an event, else a webhook delivery, else an image's details, else the sync task, else
        a database check, else a scan. While scanning, the queues are not looked at before each scan
        (``queues_due``), the sync task (and unread images, once none was found) every STATUS_EVERY s."""
        now = time.monotonic()
        if self.queues_due(now):
            if self.handle_one_event() or self.handle_one_delivery():
                self._queues_busy = True
                return True
            self._queues_busy = False
            # Looking for an unread image scans the tags: while scanning, after finding none (or a registry
            # that cannot answer), not again for STATUS_EVERY.
            if not self._scanning or now >= self._details_idle_until:
                if self.handle_one_image_details():
                    return True
                self._details_idle_until = now + STATUS_EVERY
            self._events_checked = now
            if not self._scanning or now - self._sync_checked >= STATUS_EVERY:
                self._sync_checked = now
                if self.handle_one_sync():
                    return True
        if self.handle_database_check():
            return True
        self._scanning = self.handle_one_scan()
        return self._scanning

    def queues_due(self, now: float) -> bool:
        """Whether to look at the event and delivery queues now. Idle: always. While scanning: every
        BUSY_EVENT_CHECK seconds when the last look found work or a wake-up came (a push or a queued
        delivery wakes every worker), else every STATUS_EVERY seconds (wake-ups are best effort): a
        scan-all pays a queue query per second per worker, not ten."""
        if not self._scanning:
            return True
        since = now - self._events_checked
        if since >= STATUS_EVERY:
            return True
        return since >= BUSY_EVENT_CHECK and (self._queues_busy or self.waiter.wait(0))

    # -- registry events ----------------------------------------------------------------------

    def claim_event(self) -> tuple[RegistryEvent, str] | None:
        """Claim (compare-and-set) the oldest free event that is first in its repository."""
        now = timezone.now()
        free = Q(state=EventState.PENDING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        # One repository's events apply in order: a later one waits while an earlier one is pending, so a
        # candidate is its repository's first pending event. Asked as "the first pending id of this
        # repository" (one seek in registry_event_repo_queue per candidate, whatever the planner thinks of
        # the table) rather than "no earlier pending event" (which PostgreSQL, with stale statistics, turned
        # into an anti-join of every pending event against every other: quadratic in the backlog).
        first_pending = (
            RegistryEvent.objects.filter(
                registry=OuterRef("registry"), repository=OuterRef("repository"), state=EventState.PENDING
            )
            .order_by("pk")
            .values("pk")[:1]
        )
        heads = RegistryEvent.objects.filter(free, pk=Subquery(first_pending))
        # Whole rows, so the winner needs no second query: what applying reads of it (registry, action,
        # repository, tag, digest, actor, times, payload) never changes after it is stored.
        candidates = list(heads.select_related("registry").order_by("pk")[:8])
        lease = dt.timedelta(seconds=settings.PORTUS.background.lease)
        for event in candidates:
            claim = f"{self.name}:{secrets.token_hex(4)}"[-64:]
            taken = RegistryEvent.objects.filter(free, pk=event.pk).update(
                claim=claim, lease_until=now + lease, attempts=F("attempts") + 1
            )
            if taken:
                event.claim, event.lease_until, event.attempts = claim, now + lease, event.attempts + 1
                return event, claim
        return None

    def handle_one_event(self) -> bool:
        if not settings.PORTUS.background.registry.enabled:
            return False
        claimed = self.claim_event()
        if claimed is None:
            return False
        event, claim = claimed
        try:
            reading = events.read_registry(event, self.client(event.registry))
            with transaction.atomic():
                finished = RegistryEvent.objects.filter(pk=event.pk, claim=claim, state=EventState.PENDING).update(
                    state=EventState.DONE, processed_at=timezone.now(), lease_until=None
                )
                if finished != 1:
                    raise LostClaim(event.event_id)
                outcome = events.apply_event(event, reading)
                RegistryEvent.objects.filter(pk=event.pk).update(state=outcome.state, result=outcome.result[:2000])
        except LostClaim:
            log.warning("event %s was taken over by another worker; dropping our work", event.event_id)
            return True
        except RegistryError as exc:
            self.release(event, claim, f"cannot read the registry: {exc}")
            return True
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            log.exception("event %s failed", event.event_id)
            self.release(event, claim, f"{type(exc).__name__}: {exc}")
            return True
        self.events_done += 1
        metrics.EVENTS_APPLIED.labels(outcome.state).inc()
        log.info("event %s %s: %s", event.event_id, outcome.state, outcome.result)
        return True

    def handle_one_image_details(self) -> bool:
        """Read the details of one image that has a tag but no stored details yet (newest first): after a
        push or a sync, and for tags from before details were kept. When the registry cannot answer, the
        image waits for its retry (images.retry_delay) and the next turn takes the next image."""
        if not settings.PORTUS.background.registry.enabled:
            return False
        tag = images.next_unread_tag()
        if tag is None:
            return False
        images.record_details(self.client(tag.repository.namespace.registry), tag)
        return True

    def release(self, event: RegistryEvent, claim: str, error: str) -> None:
        """Give the event back with a backoff, or mark it failed after too many attempts."""
        attempts = RegistryEvent.objects.filter(pk=event.pk).values_list("attempts", flat=True).first() or 0
        give_up = attempts >= settings.PORTUS.background.max_attempts
        retry_at = timezone.now() + dt.timedelta(seconds=min(2**attempts, 60))
        RegistryEvent.objects.filter(pk=event.pk, claim=claim, state=EventState.PENDING).update(
            state=EventState.FAILED if give_up else EventState.PENDING,
            lease_until=None if give_up else retry_at,
            claim="",
            result=error[:2000],
        )
        self._last_event_error = error
        metrics.EVENTS_FAILED.labels("gave_up" if give_up else "retry").inc()
        log.warning(
            "event %s attempt %d failed%s: %s",
            event.event_id,
            attempts,
            " for good" if give_up else "",
            error,
        )
        TaskStatus.objects.update_or_create(
            name=TaskName.REGISTRY_EVENTS,
            defaults={"last_error": error[:2000], "last_error_at": timezone.now()},
        )

    def write_event_status(self, *, force: bool = False) -> None:
        """The events row: last run and backlog; throttled, so a burst costs no write per event."""
        if not force and time.monotonic() - self._status_written < STATUS_EVERY:
            return
        self._status_written = time.monotonic()
        now = timezone.now()
        backlog = RegistryEvent.objects.filter(state=EventState.PENDING).count()
        status, _ = TaskStatus.objects.get_or_create(name=TaskName.REGISTRY_EVENTS)
        status.enabled = settings.PORTUS.background.registry.enabled
        status.backlog = backlog
        status.last_run_at = now
        if not self._last_event_error:
            status.last_success_at = now
        self._last_event_error = ""
        status.summary = f"{self.events_done} events applied by {self.name} since it started"
        status.updated_at = now
        status.save(
            update_fields=[
                "enabled",
                "backlog",
                "last_run_at",
                "last_success_at",
                "summary",
                "updated_at",
            ]
        )

    # -- outgoing webhooks ---------------------------------------------------------------------------

    def handle_one_delivery(self) -> bool:
        """Claim one due webhook delivery, send it outside any transaction, save it if the claim holds."""
        if not settings.PORTUS.webhooks_outgoing.enabled:
            return False
        claimed = webhook_delivery.claim(self.name)
        if claimed is None:
            return False
        webhook_delivery.deliver(*claimed)
        self.deliveries_done += 1
        return True

    # -- security scanning --------------------------------------------------------------------------

    def scan_backends(self) -> dict[str, ScanBackend]:
        if self.backends is None:
            self.backends = scans.make_backends(self.clients)
        return self.backends

    def handle_one_scan(self) -> bool:
        """Run one claimed scan (claiming a batch of security.claim_batch when none is left) outside any
        transaction, and save it if the claim still holds."""
        if not settings.PORTUS.background.security_scanning.enabled:
            return False
        backends = self.scan_backends()
        if not self.claimed_scans:
            self.claimed_scans.extend(scans.claim_scans(self.name, backends, settings.PORTUS.security.claim_batch))
        if not self.claimed_scans:
            return False
        claimed = self.claimed_scans.popleft()
        ran = scans.run(claimed, backends[claimed.scan.backend])
        metrics.SCANS_FINISHED.labels(claimed.scan.backend, ran.result).inc()
        if ran.error:
            self._last_scan_error = ran.error
            TaskStatus.objects.update_or_create(
                name=TaskName.SECURITY_SCANNING,
                defaults={"last_error": ran.error[:2000], "last_error_at": timezone.now()},
            )
        elif ran.result == "done":
            self.scans_done += 1
        if self.stopping:
            self.give_back_scans()
        return True

    def give_back_scans(self) -> None:
        """Return the scans claimed but not started, so another worker takes them without waiting for
        their leases."""
        if not self.claimed_scans:
            return
        try:
            given = scans.give_back(self.claimed_scans)
        except Exception:  # noqa: BLE001 - their leases run out instead; another worker takes them then
            log.exception("could not give back %d claimed scans", len(self.claimed_scans))
        else:
            log.info("gave back %d claimed scans not started", given)
        self.claimed_scans.clear()

    def handle_database_check(self) -> bool:
        """Every security.database_check_interval: queue again what a moved database would change."""
        if not settings.PORTUS.background.security_scanning.enabled:
            return False
        if time.monotonic() - self._databases_checked < settings.PORTUS.security.database_check_interval:
            return False
        self._databases_checked = time.monotonic()
        try:
            imported = scans.import_due_advisories()
        except AdvisoryImportError as exc:
            self._last_scan_error = f"scheduled advisory import: {exc}"
            log.warning("%s", self._last_scan_error)
        else:
            if imported:
                log.info("scheduled advisory import: %s", imported)
        expired = security_actions.refresh_expired_allowlist_entries()
        if expired:
            log.info("allowlist: %d expired entries no longer excluded from the counts", expired)
        queued = sum(scans.rescan_outdated(backend) for backend in self.scan_backends().values())
        return queued > 0

    def write_scan_status(self, *, force: bool = False) -> None:
        """The security-scanning row: backlog and last run; throttled like the events row."""
        if not settings.PORTUS.background.security_scanning.enabled:
            return
        if not force and time.monotonic() - self._scan_status_written < STATUS_EVERY:
            return
        self._scan_status_written = time.monotonic()
        now = timezone.now()
        backlog = Scan.objects.filter(state__in=[ScanState.PENDING, ScanState.RUNNING]).count()
        fields: dict[str, Any] = {
            "enabled": True,
            "backlog": backlog,
            "last_run_at": now,
            "updated_at": now,
            "summary": f"{self.scans_done} scans done by {self.name} since it started "
            f"({', '.join(self.scan_backends()) or 'no backend enabled'})",
        }
        if not self._last_scan_error:
            fields["last_success_at"] = now
        self._last_scan_error = ""
        TaskStatus.objects.update_or_create(name=TaskName.SECURITY_SCANNING, defaults=fields)

    # -- registry synchronization -------------------------------------------------------------

    def sync_strategy(self) -> str | None:
        """The configured strategy; None while synchronization is switched off."""
        if not settings.PORTUS.background.sync.enabled:
            return None
        return settings.PORTUS.background.sync.strategy

    def handle_one_sync(self) -> bool:
        strategy = self.sync_strategy()
        at_start, self.sync_at_start = self.sync_at_start, False
        status, _ = TaskStatus.objects.get_or_create(name=TaskName.REGISTRY_SYNC)
        if strategy is None or not may_run(strategy, at_start=at_start):
            if status.enabled:
                TaskStatus.objects.filter(pk=status.pk).update(enabled=False, next_run_at=None)
            return False
        now = timezone.now()
        due = Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        lease = dt.timedelta(seconds=settings.PORTUS.background.lease)
        claim = f"{self.name}:{secrets.token_hex(4)}"[-64:]
        when = Q() if at_start else due
        if not TaskStatus.objects.filter(free & when, pk=status.pk).update(claim=claim, lease_until=now + lease):
            return False
        reports = []
        error = ""
        try:
            for registry in Registry.objects.order_by("pk"):
                run, delete = should_run(strategy, registry, at_start=at_start)
                if not run:
                    continue
                reports.append(self.synchronize(registry, delete=delete, claim=claim))
        except Exception as exc:  # noqa: BLE001 - kept in the status row; the next run retries
            log.exception("synchronization failed")
            metrics.SYNC_RUNS.labels("error").inc()
            error = f"{type(exc).__name__}: {exc}"
        error = error or "; ".join(r.error for r in reports if not r.complete)
        finished = timezone.now()
        interval = dt.timedelta(seconds=settings.PORTUS.background.sync.interval)
        fields: dict[str, Any] = {
            "enabled": True,
            "claim": "",
            "lease_until": None,
            "last_run_at": finished,
            "backlog": 0,
            "next_run_at": finished + interval,
            "updated_at": finished,
            "summary": " | ".join(r.summary() for r in reports) or "nothing to do for this strategy",
        }
        if error:
            fields.update(last_error=error[:2000], last_error_at=finished)
        else:
            fields.update(last_success_at=finished)
        TaskStatus.objects.filter(pk=status.pk, claim=claim).update(**fields)
        return bool(reports)

    def synchronize(self, registry: Registry, *, delete: bool, claim: str) -> SyncReport:
        lease = dt.timedelta(seconds=settings.PORTUS.background.lease)

        def between_pages(report: SyncReport) -> None:
            # Keep our claim on the sync task, and keep events flowing while a long run goes on.
            TaskStatus.objects.filter(name=TaskName.REGISTRY_SYNC, claim=claim).update(
                lease_until=timezone.now() + lease, backlog=report.repositories_read
            )
            while not self.stopping and self.handle_one_event():
                pass
            self.write_event_status()

        log.info("synchronizing %s (%s)", registry.hostname, "deleting too" if delete else "adding and changing")
        report = Synchronizer(
            registry,
            delete=delete,
            should_stop=lambda: self.stopping,
            on_page=between_pages,
            echo=lambda line: log.info("sync %s: %s", registry.hostname, line),
        ).run()
        log.info("synchronized %s: %s", registry.hostname, report.summary())
        metrics.SYNC_RUNS.labels("complete" if report.complete else "incomplete").inc()
        for kind in SYNC_CHANGE_KINDS:
            metrics.SYNC_CHANGES.labels(kind).inc(getattr(report, kind))
        return report
