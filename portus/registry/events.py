"""Applying one stored registry event to repositories and tags, with its activity lines.

Two steps, so that no row lock is held across a network call: ``read_registry`` reads what the
event needs from the registry (outside any transaction), then ``apply_event`` changes the database.
Callers run ``apply_event`` inside the transaction that also marks the event done, so an event
changes the database exactly once. Events may be applied out of order by several workers; the
registry's own timestamps keep a late, older event from undoing a newer one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from portus.accounts.models import INTERNAL_ACCOUNT, User
from portus.registry import actions
from portus.registry.activity import count_day, record
from portus.registry.client import ManifestInfo, NotFound, RegistryClient
from portus.registry.models import EventState, Namespace, Registry, RegistryEvent, Repository, Tag
from portus.registry.names import split_repository_name
from portus.registry.signals import manifest_pushed, registry_event_applied

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    state: str
    result: str


def find_namespace(registry: Registry, full_name: str) -> tuple[Namespace | None, str]:
    """The namespace a full repository name lives in (None when Portus has none by that name)."""
    namespace_name, name = split_repository_name(full_name)
    return Namespace.objects.filter(registry=registry, name=namespace_name).first(), name


def image_fields(info: ManifestInfo) -> dict[str, Any]:
    """The tag fields that describe the image it points at, from the registry's manifest."""
    return {
        "digest": info.digest,
        "config_digest": info.config_digest,
        "media_type": info.media_type,
        "size": info.size,
        "platforms": info.platforms,
    }


def _author(name: str) -> User | None:
    """The user a push names, for the tag's "pushed by"; the activity line never takes it as its actor."""
    return User.objects.filter(username=name).first() if name else None


def read_registry(event: RegistryEvent, client: RegistryClient) -> ManifestInfo | None:
    """What applying EVENT needs from the registry, None when the registry does not have it (or nothing is
    needed): for a push, the pushed image; for a deletion, the image the registry still serves under the
    deleted reference (a deletion is applied only when there is none). Raises RegistryError when the
    registry cannot answer (retry later)."""
    # No read for a namespace Portus lacks, nor for Portus's own changes: apply_event says why.
    if (
        event.action not in ("push", "delete")
        or _made_by_portus(event)
        or find_namespace(event.registry, event.repository)[0] is None
    ):
        return None
    try:
        # A deletion is matched on its tag when it names one (apply_delete), so that is what is asked for.
        reference = (event.tag or event.digest) if event.action == "delete" else event.digest
        return client.describe(event.repository, reference)
    except NotFound:
        return None


def _unknown_namespace(event: RegistryEvent) -> Outcome:
    namespace = split_repository_name(event.repository)[0]
    message = (
        f"namespace {namespace!r} does not exist in Portus: "
        f"{event.action} of {event.repository} ignored. "
        "Create the namespace and run `portusctl sync` to take in what the registry holds."
    )
    log.warning("event %s: %s", event.event_id, message)
    return Outcome(EventState.SKIPPED, message)


def apply_push(
    event: RegistryEvent, info: ManifestInfo | None, found: tuple[Namespace | None, str] | None = None
) -> Outcome:
    """A pushed tag: create or move it; INFO is None when the manifest is already gone. FOUND: what
    ``find_namespace`` answers for the event's repository, when the caller asked already."""
    namespace, name = found or find_namespace(event.registry, event.repository)
    if namespace is None:
        return _unknown_namespace(event)
    if info is None:
        return Outcome(
            EventState.SKIPPED,
            f"{event.digest} is no longer in the registry (deleted after the push).",
        )
    # Locked (FOR UPDATE, or the insert's own lock): serializes the events of one repository across workers
    # until this transaction ends.
    repository, created_repository = Repository.objects.select_for_update().get_or_create(
        namespace=namespace, name=name
    )
    repository.namespace = namespace  # full_name below reads it: no query for it
    tag = Tag.objects.filter(repository=repository, name=event.tag).first()
    if tag is not None and tag.digest != info.digest and tag.pushed_at > event.occurred_at:
        return Outcome(
            EventState.DONE,
            f"{event.tag} was moved by a later push; this older push changes nothing.",
        )
    author = _author(event.actor)
    fields = {**image_fields(info), "author": author, "pushed_at": event.occurred_at}
    old_digest = tag.digest if tag else ""
    if tag is None:
        tag = Tag.objects.create(repository=repository, name=event.tag, **fields)
    else:
        for key, value in fields.items():
            setattr(tag, key, value)
        tag.save()
    repository.updated_at = timezone.now()
    repository.save(update_fields=["updated_at"])
    # Whoever holds the notification secret can name any actor: the activity line keeps the name as the
    # registry's report (shown "reported by the registry as NAME"), with no user as its actor.
    record(
        None,
        "repository.push",
        f"{repository.full_name}:{tag.name}",
        namespace=namespace,
        tag=tag.name,
        digest=info.digest,
        old_digest=old_digest,
        new_repository=created_repository,
        event=event.event_id,
        reported_actor=event.actor,
    )
    manifest_pushed.send(sender=Tag, registry=event.registry, repository=repository.full_name, digest=info.digest)
    moved = f" (moved from {old_digest})" if old_digest and old_digest != info.digest else ""
    return Outcome(EventState.DONE, f"tag {repository.full_name}:{tag.name} -> {info.digest}{moved}")


def apply_delete(
    event: RegistryEvent, still_served: ManifestInfo | None, found: tuple[Namespace | None, str] | None = None
) -> Outcome:
    """A deleted manifest: its tags go, and the repository too when no tag is left.

    STILL_SERVED is what the registry serves under the deleted reference right now: a notification is only
    a claim, and Portus forgets nothing the registry still holds. FOUND: as for ``apply_push``."""
    namespace, name = found or find_namespace(event.registry, event.repository)
    if namespace is None:
        return _unknown_namespace(event)
    if still_served is not None:
        reference = f"{event.repository}:{event.tag}" if event.tag else f"{event.repository}@{event.digest}"
        message = (
            f"the registry still serves {reference} ({still_served.digest}): deletion not applied. "
            "Either the notification is forged or the reference was pushed again since."
        )
        log.warning("event %s: %s", event.event_id, message)
        return Outcome(EventState.SKIPPED, message)
    repository = Repository.objects.select_for_update().filter(namespace=namespace, name=name).first()
    if repository is None:
        return Outcome(EventState.DONE, f"{event.repository} is not known; nothing to delete.")
    repository.namespace = namespace
    # Registry 2.8 sends an event per deleted tag (no digest) and one for the manifest (digest).
    # A tag pushed again after this deletion (a later time) stays.
    match = Q(name=event.tag) if event.tag else Q(digest=event.digest)
    deletion = actions.delete_tags(
        repository=repository,
        tags=repository.tags.filter(match, pushed_at__lte=event.occurred_at),
        actor=None,
        via="registry",
        event=event.event_id,
        reported_actor=event.actor,
    )
    deleted = len(deletion.tags)
    if deletion.repository_deleted:
        return Outcome(EventState.DONE, f"deleted {deleted} tag(s) and the now empty {event.repository}")
    what = f"tag {event.tag}" if event.tag else event.digest
    return Outcome(EventState.DONE, f"deleted {deleted} tag(s) of {event.repository} ({what})")


def apply_pull(event: RegistryEvent) -> Outcome:
    """A pull: remember when the tags with that digest (or that tag) were last pulled."""
    namespace, name = find_namespace(event.registry, event.repository)
    if namespace is None:
        return _unknown_namespace(event)
    match = Q(digest=event.digest) if event.digest else Q(name=event.tag)
    updated = (
        Tag.objects.filter(repository__namespace=namespace, repository__name=name)
        .filter(match)
        .filter(Q(last_pulled_at__isnull=True) | Q(last_pulled_at__lt=event.occurred_at))
        .update(last_pulled_at=event.occurred_at)
    )
    if updated or Tag.objects.filter(repository__namespace=namespace, repository__name=name).filter(match).exists():
        # A pull of an image Portus has a tag for; an index's platform manifest, pulled after it, is not counted.
        count_day(namespace.pk, event.occurred_at, pulls=1)
    return Outcome(EventState.DONE, f"last pull recorded on {updated} tag(s)")


def _made_by_portus(event: RegistryEvent) -> bool:
    return event.actor == INTERNAL_ACCOUNT and event.action in ("push", "delete")


def apply_event(event: RegistryEvent, info: ManifestInfo | None) -> Outcome:
    if event.action == "pull":
        return apply_pull(event)
    if event.action not in ("push", "delete"):
        return Outcome(EventState.SKIPPED, f"action {event.action!r} is not handled")
    namespace = find_namespace(event.registry, event.repository)[0]
    if _made_by_portus(event):
        # Deleting one tag on Distribution 2.8 deletes the image by digest and puts it back under the
        # other tags (deletion.py), which the registry reports as deletions and pushes. The action that
        # made those calls changes the rows itself; applied here, the deletion could remove the other
        # tags (read between the delete and the put back) and the push would reset their author.
        # A forged event naming Portus's account can only make the worker ignore it. The deletion is
        # still forwarded to the namespace's webhooks as the registry reported it; the put-back pushes
        # are not (nothing new arrived).
        if event.action == "delete" and namespace is not None:
            registry_event_applied.send(sender=RegistryEvent, event=event, namespace=namespace)
        return Outcome(EventState.DONE, f"{event.action} made by Portus itself, which updated its records already")
    found = namespace, split_repository_name(event.repository)[1]
    outcome = apply_push(event, info, found) if event.action == "push" else apply_delete(event, info, found)
    if outcome.state == EventState.DONE and namespace is not None:
        registry_event_applied.send(sender=RegistryEvent, event=event, namespace=namespace)
    return outcome
