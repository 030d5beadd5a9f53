"""Applying one stored registry event to repositories and tags, with its activity lines.

Callers run these inside the transaction that also marks the event done, so an event changes the
database exactly once. Events may be applied out of order by several workers; the registry's own
timestamps keep a late, older event from undoing a newer one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from portus.registry.activity import record
from portus.registry.client import ManifestInfo
from portus.registry.models import EventState, Namespace, Registry, RegistryEvent, Repository, Tag
from portus.registry.names import split_repository_name

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    state: str
    result: str


def find_namespace(registry: Registry, full_name: str) -> tuple[Namespace | None, str]:
    """The namespace a full repository name lives in (None when Portus has none by that name)."""
    namespace_name, name = split_repository_name(full_name)
    return Namespace.objects.filter(registry=registry, name=namespace_name).first(), name


def _actor(name: str):  # type: ignore[no-untyped-def]
    from portus.accounts.models import User

    return User.objects.filter(username=name).first() if name else None


def _unknown_namespace(event: RegistryEvent) -> Outcome:
    namespace = split_repository_name(event.repository)[0]
    message = (
        f"namespace {namespace!r} does not exist in Portus: "
        f"{event.action} of {event.repository} ignored. "
        "Create the namespace and run `portusctl sync` to take in what the registry holds."
    )
    log.warning("event %s: %s", event.event_id, message)
    return Outcome(EventState.SKIPPED, message)


def apply_push(event: RegistryEvent, info: ManifestInfo | None) -> Outcome:
    """A pushed tag: create or move it; INFO is None when the manifest is already gone."""
    namespace, name = find_namespace(event.registry, event.repository)
    if namespace is None:
        return _unknown_namespace(event)
    if info is None:
        return Outcome(
            EventState.SKIPPED,
            f"{event.digest} is no longer in the registry (deleted after the push).",
        )
    repository, created_repository = Repository.objects.get_or_create(
        namespace=namespace, name=name
    )
    # Serializes the events of one repository across workers until this transaction ends.
    repository = Repository.objects.select_for_update().get(pk=repository.pk)
    tag = Tag.objects.filter(repository=repository, name=event.tag).first()
    if tag is not None and tag.digest != info.digest and tag.pushed_at > event.occurred_at:
        return Outcome(
            EventState.DONE,
            f"{event.tag} was moved by a later push; this older push changes nothing.",
        )
    author = _actor(event.actor)
    fields = {
        "digest": info.digest,
        "config_digest": info.config_digest,
        "media_type": info.media_type,
        "size": info.size,
        "platforms": info.platforms,
        "author": author,
        "pushed_at": event.occurred_at,
    }
    old_digest = tag.digest if tag else ""
    if tag is None:
        tag = Tag.objects.create(repository=repository, name=event.tag, **fields)
    else:
        for key, value in fields.items():
            setattr(tag, key, value)
        tag.save()
    repository.updated_at = timezone.now()
    repository.save(update_fields=["updated_at"])
    record(
        author,
        "repository.push",
        f"{repository.full_name}:{tag.name}",
        namespace=namespace,
        tag=tag.name,
        digest=info.digest,
        old_digest=old_digest,
        new_repository=created_repository,
        event=event.event_id,
    )
    moved = f" (moved from {old_digest})" if old_digest and old_digest != info.digest else ""
    return Outcome(
        EventState.DONE, f"tag {repository.full_name}:{tag.name} -> {info.digest}{moved}"
    )


def apply_delete(event: RegistryEvent) -> Outcome:
    """A deleted manifest: its tags go, and the repository too when no tag is left."""
    namespace, name = find_namespace(event.registry, event.repository)
    if namespace is None:
        return _unknown_namespace(event)
    repository = (
        Repository.objects.select_for_update().filter(namespace=namespace, name=name).first()
    )
    if repository is None:
        return Outcome(EventState.DONE, f"{event.repository} is not known; nothing to delete.")
    actor = _actor(event.actor)
    # Registry 2.8 sends an event per deleted tag (no digest) and one for the manifest (digest).
    # A tag pushed again after this deletion (a later time) stays.
    match = Q(name=event.tag) if event.tag else Q(digest=event.digest)
    doomed = list(repository.tags.filter(match, pushed_at__lte=event.occurred_at))
    for tag in doomed:
        record(
            actor,
            "repository.delete_tag",
            f"{repository.full_name}:{tag.name}",
            namespace=namespace,
            digest=tag.digest,
            via="registry",
            event=event.event_id,
        )
        tag.delete()
    if doomed and not repository.tags.exists():
        record(
            actor,
            "repository.delete",
            repository.full_name,
            namespace=namespace,
            via="registry",
            event=event.event_id,
        )
        repository.delete()
        return Outcome(
            EventState.DONE, f"deleted {len(doomed)} tag(s) and the now empty {event.repository}"
        )
    what = f"tag {event.tag}" if event.tag else event.digest
    return Outcome(EventState.DONE, f"deleted {len(doomed)} tag(s) of {event.repository} ({what})")


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
    return Outcome(EventState.DONE, f"last pull recorded on {updated} tag(s)")


def apply_event(event: RegistryEvent, info: ManifestInfo | None) -> Outcome:
    if event.action == "push":
        return apply_push(event, info)
    if event.action == "delete":
        return apply_delete(event)
    if event.action == "pull":
        return apply_pull(event)
    return Outcome(EventState.SKIPPED, f"action {event.action!r} is not handled")
