"""Whether this process is ready for traffic: the database answers, no migration is pending, the signing key loads."""

from __future__ import annotations

import logging
import threading
import time

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from portus.registry.signing import SigningKeyError, signing_key

# Reading every migration file costs more than a probe should: once all are applied they stay applied
# (a newer release starts new processes), so the answer is kept; a pending one is looked at again at most
# this often.
PENDING_RECHECK_SECONDS = 5.0

log = logging.getLogger(__name__)
_lock = threading.Lock()
_migrated = False
_pending_seen_at = 0.0
_pending_message = ""


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations the database lacks, as ``app.name``; raises DatabaseError when it does not answer."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def forget_migrations() -> None:
    """Ask the database again on the next probe (for tests, which migrate and roll back)."""
    global _migrated, _pending_seen_at  # noqa: PLW0603
    with _lock:
        _migrated, _pending_seen_at = False, 0.0


def check_database() -> tuple[bool, str]:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return False, f"The database does not answer ({type(exc).__name__}): check PORTUS_DB_*."
    return True, "The database answers."


def check_migrations() -> tuple[bool, str]:
    global _migrated, _pending_seen_at, _pending_message  # noqa: PLW0603 - one answer per process
    with _lock:
        if _migrated:
            return True, "Every migration is applied."
        if time.monotonic() - _pending_seen_at < PENDING_RECHECK_SECONDS:
            return False, _pending_message
        try:
            pending = pending_migrations()
        except DatabaseError as exc:
            return False, f"Cannot read the applied migrations ({type(exc).__name__})."
        if not pending:
            _migrated = True
            return True, "Every migration is applied."
        _pending_seen_at = time.monotonic()
        _pending_message = f"{len(pending)} migrations are pending: run `portusctl migrate`."
        return False, _pending_message


def check_signing_key() -> tuple[bool, str]:
    try:
        signing_key()
    except (SigningKeyError, OSError, ValueError) as exc:
        log.warning("not ready: %s", exc)
        return False, "The signing key does not load: the server's log says why."
    return True, "The signing key is loaded."


def checks() -> dict[str, tuple[bool, str]]:
    database = check_database()
    if not database[0]:
        return {
            "database": database,
            "migrations": (False, "Not checked: no database."),
            "signing_key": check_signing_key(),
        }
    return {"database": database, "migrations": check_migrations(), "signing_key": check_signing_key()}
