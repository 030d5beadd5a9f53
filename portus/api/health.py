"""/api/v1/_ping, /health and /version: for load balancers, monitoring and client compatibility."""

from __future__ import annotations

import hashlib
import importlib.metadata
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Status

from portus import __version__, policy
from portus.api.auth import PUBLIC, principal
from portus.api.errors import ERRORS
from portus.api.schemas import Check, Error, Health, Ping, Version
from portus.background.models import TaskStatus
from portus.registry.models import Registry
from portus.registry.reachability import check_registry
from portus.security import scans

router = Router(tags=["health"])

API_VERSION = "v1"


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Check(
            ok=False,
            message=f"The database does not answer ({type(exc).__name__}): check PORTUS_DB_*.",
        )
    return Check(ok=True, message=f"{connection.vendor} answers.")


def check_registries() -> dict[str, Check]:
    """Probe every registry, or answer what a probe found less than ``health.cache_seconds`` ago:
    otherwise anyone could make Portus probe every registry, and wait for each, on every request.
    The key names each registry's address, so a changed registry is probed afresh."""
    registries = list(Registry.objects.order_by("pk"))
    if not registries:
        return {"(none)": Check(ok=False, message="No registry is configured yet; add one (portusctl registry add).")}
    seconds = settings.PORTUS.health.cache_seconds
    identity = "|".join(f"{r.pk}:{r.name}:{r.hostname}:{r.use_ssl}" for r in registries)
    key = "portus:health:registries:" + hashlib.sha256(identity.encode()).hexdigest()
    remembered = cache.get(key) if seconds else None
    if remembered is not None:
        return {name: Check(ok=ok, message=message) for name, (ok, message) in remembered.items()}
    checks = {}
    for registry in registries:
        result = check_registry(registry.hostname, registry.use_ssl)
        checks[registry.name] = Check(ok=result.ok, message=result.message)
    if seconds:
        cache.set(key, {name: (check.ok, check.message) for name, check in checks.items()}, seconds)
    return checks


def check_scanners() -> dict[str, Check]:
    """Each enabled scanning backend while the worker scans: reachable, and how old its database is.
    Remembered for ``health.cache_seconds`` like the registries' probes (Harbor and Clair are called)."""
    if not settings.PORTUS.background.security_scanning.enabled:
        return {}
    seconds = settings.PORTUS.health.cache_seconds
    key = "portus:health:scanners:" + ",".join(scans.enabled_backend_names())
    remembered = cache.get(key) if seconds else None
    if remembered is None:
        remembered = {s.name: (s.reachable, s.message) for s in scans.backend_statuses()}
        if seconds:
            cache.set(key, remembered, seconds)
    return {name: Check(ok=ok, message=message) for name, (ok, message) in remembered.items()}


def background_deadlines() -> dict[str, tuple[bool, timedelta]]:
    """Each background task: whether the configuration turns it on, and how old its last run may be
    before the task counts as stalled. The event loop runs every poll interval; synchronization and
    scanning run every sync interval. A generous margin keeps a busy run from looking dead."""
    poll = settings.PORTUS.background.poll_interval
    sync_interval = settings.PORTUS.background.sync.interval
    lease = settings.PORTUS.background.lease
    return {
        "registry-events": (
            settings.PORTUS.background.registry.enabled,
            timedelta(seconds=max(60.0, 10 * poll, lease)),
        ),
        "registry-sync": (
            settings.PORTUS.background.sync.enabled,
            timedelta(seconds=2 * sync_interval + lease),
        ),
        "security-scanning": (
            settings.PORTUS.background.security_scanning.enabled,
            timedelta(seconds=2 * sync_interval + lease),
        ),
    }


def check_background() -> dict[str, Check]:
    statuses = {status.name: status for status in TaskStatus.objects.all()}
    now = timezone.now()
    checks = {}
    for name, (enabled, max_age) in background_deadlines().items():
        if not enabled:
            continue
        status = statuses.get(name)
        if status is None or not status.enabled:
            checks[name] = Check(ok=False, message="Never ran: start the background worker.")
            continue
        seen = max(filter(None, [status.last_run_at, status.updated_at]), default=None)
        if seen is None or now - seen > max_age:
            checks[name] = Check(
                ok=False,
                message=(f"No run for more than {int(max_age.total_seconds())} s: is the worker running?"),
            )
        elif (
            status.last_error
            and status.last_error_at
            and (status.last_success_at is None or status.last_error_at > status.last_success_at)
        ):
            checks[name] = Check(ok=False, message=f"The last run failed: {status.last_error[:200]}")
        else:
            checks[name] = Check(ok=True, message=f"Last run {int((now - seen).total_seconds())} s ago.")
    return checks


@router.get("/_ping", response={200: Ping, ERRORS: Error}, auth=PUBLIC, summary="Is Portus answering?")
def ping(request: HttpRequest) -> Ping:
    return Ping(ok=True)


@router.get(
    "/health",
    response={200: Health, 503: Health, ERRORS: Error},
    auth=PUBLIC,
    summary="Up or down (503); administrators also see the database, registries and background tasks",
)
def health(request: HttpRequest) -> Status[Health]:
    database = check_database()
    registries = check_registries() if database.ok else {}
    background = check_background() if database.ok else {}
    scanners = check_scanners() if database.ok else {}
    healthy = database.ok and all(c.ok for group in (registries, background, scanners) for c in group.values())
    named = [
        ("database", database),
        *((f"registry {name}", check) for name, check in registries.items()),
        *((f"background task {name}", check) for name, check in background.items()),
        *((f"scanner {name}", check) for name, check in scanners.items()),
    ]
    down = [name for name, check in named if not check.ok]
    message = "All checks pass." if healthy else "Down: " + ", ".join(down) + "."
    status = 200 if healthy else 503
    if not policy.is_admin(principal(request)):
        # The details name internal hosts, tasks and errors; a load balancer needs only up or down.
        message = "All checks pass." if healthy else "Some checks fail; an administrator sees which."
        return Status(status, Health(healthy=healthy, message=message, database=None))
    body = Health(
        healthy=healthy,
        message=message,
        database=database,
        registries=registries,
        background=background,
        scanners=scanners,
    )
    return Status(status, body)


@router.get(
    "/version",
    response={200: Version, ERRORS: Error},
    auth=PUBLIC,
    summary="Portus and API versions",
)
def version(request: HttpRequest) -> Version:
    try:
        installed = importlib.metadata.version("portus")
    except importlib.metadata.PackageNotFoundError:
        installed = __version__
    return Version(version=installed, api_version=API_VERSION)
