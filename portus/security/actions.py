"""Writes to the vulnerability allowlist: each atomic, each writing its activity line."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from portus.accounts.models import User
from portus.errors import ActionError
from portus.principal import Actor
from portus.registry.activity import record
from portus.registry.models import Namespace, Tag
from portus.security import summary
from portus.security.models import AllowlistEntry, ScanFinding

VULNERABILITY_ID_MAX = 128


def _refresh_summaries(vulnerability_id: str, namespace: Namespace | None) -> None:
    """Recount the images with findings of VULNERABILITY_ID (in NAMESPACE, or anywhere for a global entry)."""
    findings = ScanFinding.objects.filter(vulnerability_id=vulnerability_id)
    if namespace is not None:
        findings = findings.filter(
            scan__manifest_digest__in=Tag.objects.filter(repository__namespace=namespace).values("digest")
        )
    for digest in findings.values_list("scan__manifest_digest", flat=True).distinct().order_by():
        summary.refresh(digest)


def _scope(namespace: Namespace | None) -> str:
    return f"namespace {namespace.display_name}" if namespace is not None else "every namespace"


@transaction.atomic
def add_allowlist_entry(
    *,
    vulnerability_id: str,
    comment: str,
    namespace: Namespace | None = None,
    expires_at: datetime | None = None,
    actor: Actor,
) -> AllowlistEntry:
    """Accept VULNERABILITY_ID in NAMESPACE (None: everywhere): its findings stay listed, marked, uncounted."""
    vulnerability_id, comment = vulnerability_id.strip(), comment.strip()
    if (
        not vulnerability_id
        or len(vulnerability_id) > VULNERABILITY_ID_MAX
        or any(c.isspace() for c in vulnerability_id)
    ):
        raise ActionError("Give the one vulnerability id to allowlist, such as CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx.")
    if not comment:
        raise ActionError("Say why this vulnerability is accepted: the comment is what the next reader sees.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ActionError("The expiry is in the past; pick a later date or leave it empty.")
    scoped = AllowlistEntry.objects.select_for_update().filter(vulnerability_id=vulnerability_id, namespace=namespace)
    if scoped.exists():
        raise ActionError(
            f"{vulnerability_id} is already allowlisted for {_scope(namespace)}; remove that entry first."
        )
    entry = AllowlistEntry.objects.create(
        namespace=namespace,
        vulnerability_id=vulnerability_id,
        comment=comment,
        expires_at=expires_at,
        created_by=actor if isinstance(actor, User) and actor.pk else None,
    )
    record(
        actor,
        "security.allowlist_add",
        vulnerability_id,
        namespace=namespace,
        scope=_scope(namespace),
        comment=comment,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    _refresh_summaries(entry.vulnerability_id, namespace)
    return entry


@transaction.atomic
def remove_allowlist_entry(*, entry: AllowlistEntry, actor: Actor) -> None:
    """Take ENTRY off the allowlist: its findings count again."""
    namespace = entry.namespace
    record(actor, "security.allowlist_remove", entry.vulnerability_id, namespace=namespace, scope=_scope(namespace))
    vulnerability_id = entry.vulnerability_id
    entry.delete()
    _refresh_summaries(vulnerability_id, namespace)


def refresh_expired_allowlist_entries(now: datetime | None = None) -> int:
    """Recount the images whose allowlist entries have expired since the last call (the worker runs it on
    its database-check schedule); returns how many entries that was. Expired entries stay listed until
    someone removes them."""
    expired = AllowlistEntry.objects.filter(expires_at__lte=now or timezone.now(), expiry_applied=False)
    done = 0
    for entry in expired.select_related("namespace").order_by("pk"):
        with transaction.atomic():
            # Claimed by a compare-and-set: with several workers, each expiry is applied once.
            if AllowlistEntry.objects.filter(pk=entry.pk, expiry_applied=False).update(expiry_applied=True):
                _refresh_summaries(entry.vulnerability_id, entry.namespace)
                done += 1
    return done
