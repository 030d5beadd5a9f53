"""Writes that touch several registry models: each atomic, each writing its activity line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from portus.accounts.models import User
from portus.errors import ActionError
from portus.principal import Actor
from portus.registry.activity import record
from portus.registry.models import (
    Comment,
    Namespace,
    NamespaceKind,
    Registry,
    Repository,
    ReservedKind,
    ReservedName,
    Role,
    Star,
    Tag,
    Team,
    TeamMembership,
    Visibility,
)
from portus.registry.names import check_namespace_name


def default_registry() -> Registry | None:
    return Registry.objects.order_by("pk").first()


@transaction.atomic
def create_registry(
    *, name: str, hostname: str, external_hostname: str = "", use_ssl: bool = False, actor: Actor = None
) -> Registry:
    name, hostname = name.strip(), hostname.strip()
    if not name or not hostname:
        raise ActionError("A registry needs a name and a HOST:PORT Portus reaches it at.")
    if Registry.objects.filter(name=name).exists():
        raise ActionError(f"A registry called {name!r} already exists; pick another name.")
    # The host name is the token "service": two registries with one name would share their tokens.
    if Registry.objects.filter(hostname=hostname).exists():
        raise ActionError(f"A registry at {hostname!r} is already configured.")
    registry = Registry.objects.create(
        name=name, hostname=hostname, external_hostname=external_hostname, use_ssl=use_ssl
    )
    Namespace.objects.create(
        registry=registry,
        name="",
        kind=NamespaceKind.GLOBAL,
        visibility=Visibility.PUBLIC,
        description="Images whose names have no namespace, such as `busybox`.",
    )
    for user in User.objects.filter(bot=False, personal_namespace__isnull=True):
        ensure_personal_namespace(user, registry, actor=actor)
    record(actor, "registry.create", registry.name, registry=registry.hostname)
    return registry


@transaction.atomic
def rotate_notification_secret(*, registry: Registry, actor: Actor) -> str:
    """Give REGISTRY a new random notification secret and return it; the old one is refused from now on."""
    secret = registry.new_notification_secret()
    registry.save(update_fields=["notification_secret_digest", "notification_secret_sealed"])
    record(actor, "registry.rotate_secret", registry.name, registry=registry.hostname)
    return secret


@transaction.atomic
def end_unsigned_notifications(*, registry: Registry, actor: Actor) -> None:
    """End the grace period after an import: REGISTRY's notifications must carry its secret from now on."""
    if not registry.legacy_unsigned_notifications:
        return
    registry.legacy_unsigned_notifications = False
    registry.save(update_fields=["legacy_unsigned_notifications"])
    record(actor, "registry.require_secret", registry.name, registry=registry.hostname)


def ensure_personal_namespace(user: User, registry: Registry | None = None, *, actor: Actor) -> Namespace | None:
    """The user's personal namespace, made on the first registry when missing; ACTOR is whoever's change
    made it (the account's creator, the administrator adding the first registry)."""
    existing = Namespace.objects.filter(owner=user).first()
    if existing or user.bot:
        return existing
    registry = registry or default_registry()
    if registry is None:
        return None  # made when the first registry is added
    if Namespace.objects.filter(registry=registry, name=user.username).exists():
        return None  # a team namespace already carries this name; the user lives without one
    if ReservedName.objects.holds(user.username):
        return None  # a deleted namespace's name: the registry may still hold its images
    namespace = Namespace.objects.create(
        registry=registry,
        name=user.username,
        kind=NamespaceKind.PERSONAL,
        owner=user,
        visibility=Visibility.PRIVATE,
    )
    record(actor, "namespace.create", namespace.name, namespace=namespace, kind="personal", owner=user.username)
    return namespace


@transaction.atomic
def create_team(*, name: str, owner: User, description: str = "", actor: Actor) -> Team:
    check_namespace_name(name, "team")
    if Team.objects.filter(name=name).exists():
        raise ActionError(f"A team called {name!r} already exists; pick another name.")
    team = Team.objects.create(name=name, description=description)
    TeamMembership.objects.create(team=team, user=owner, role=Role.OWNER)
    record(actor, "team.create", team.name, team=team, owner=owner.username)
    return team


def _owner_count(team: Team) -> int:
    return team.memberships.filter(role=Role.OWNER).count()


@transaction.atomic
def add_member(*, team: Team, user: User, role: str, actor: Actor) -> TeamMembership:
    if role not in Role.values:
        raise ActionError(f"{role!r} is not a role; use owner, contributor or viewer.")
    if user.bot and role == Role.OWNER:
        raise ActionError("A bot cannot own a team; add it as contributor or viewer.")
    if not user.is_active:
        raise ActionError(f"{user.username} is disabled; enable the account first, then add it to the team.")
    membership, created = TeamMembership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    if not created:
        raise ActionError(f"{user.username} is already a member of {team.name}; change their role instead.")
    record(actor, "team.add_member", team.name, team=team, member=user.username, role=role)
    return membership


@transaction.atomic
def change_role(*, membership: TeamMembership, role: str, actor: Actor) -> TeamMembership:
    if role not in Role.values:
        raise ActionError(f"{role!r} is not a role; use owner, contributor or viewer.")
    membership = TeamMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(membership.team) <= 1:
        raise ActionError("A team must keep an owner: make someone else owner first.")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        actor,
        "team.change_role",
        membership.team.name,
        team=membership.team,
        member=membership.user.username,
        old=old,
        role=role,
    )
    return membership


@transaction.atomic
def remove_member(*, membership: TeamMembership, actor: Actor) -> None:
    membership = TeamMembership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    if membership.role == Role.OWNER and _owner_count(membership.team) <= 1:
        raise ActionError("A team must keep an owner: make someone else owner before removing this one.")
    membership.delete()
    record(actor, "team.remove_member", membership.team.name, team=membership.team, member=membership.user.username)


@transaction.atomic
def create_namespace(
    *,
    name: str,
    team: Team,
    visibility: str = Visibility.PRIVATE,
    description: str = "",
    registry: Registry | None = None,
    actor: Actor,
) -> Namespace:
    check_namespace_name(name)
    refuse_reserved_name(name)
    if visibility not in Visibility.values:
        raise ActionError(f"{visibility!r} is not a visibility; use private, protected or public.")
    registry = registry or default_registry()
    if registry is None:
        raise ActionError("No registry is configured yet; add one first (portusctl registry add).")
    if Namespace.objects.filter(registry=registry, name=name).exists():
        raise ActionError(f"A namespace called {name!r} already exists; pick another name.")
    namespace = Namespace.objects.create(
        registry=registry,
        name=name,
        kind=NamespaceKind.TEAM,
        team=team,
        visibility=visibility,
        description=description,
    )
    record(actor, "namespace.create", name, namespace=namespace, team=team, visibility=visibility)
    return namespace


@transaction.atomic
def change_visibility(*, namespace: Namespace, visibility: str, actor: Actor) -> Namespace:
    if visibility not in Visibility.values:
        raise ActionError(f"{visibility!r} is not a visibility; use private, protected or public.")
    if namespace.is_global and visibility == Visibility.PRIVATE:
        raise ActionError("The global namespace cannot be private.")
    old = namespace.visibility
    namespace.visibility = visibility
    namespace.save(update_fields=["visibility"])
    record(
        actor,
        "namespace.change_visibility",
        namespace.display_name,
        namespace=namespace,
        old=old,
        visibility=visibility,
    )
    return namespace


@transaction.atomic
def transfer_namespace(*, namespace: Namespace, team: Team, actor: Actor) -> Namespace:
    if namespace.kind != NamespaceKind.TEAM:
        raise ActionError("Only team namespaces can move to another team.")
    old = namespace.team.name if namespace.team else ""
    namespace.team = team
    namespace.save(update_fields=["team"])
    record(actor, "namespace.transfer", namespace.name, namespace=namespace, team=team, old=old)
    return namespace


def reserved_message(name: str) -> str:
    return (
        f"The name {name!r} belonged to a deleted user or namespace and is reserved; pick another name, "
        f"or ask an administrator to release it (Admin > Reserved names, or `portusctl name release {name}`)."
    )


def refuse_reserved_name(name: str) -> None:
    """Refuse NAME for a new user or namespace while it is reserved."""
    if ReservedName.objects.holds(name):
        raise ActionError(reserved_message(name))


def reserve_name(*, name: str, kind: ReservedKind, actor: Actor) -> ReservedName:
    """Keep NAME from being taken again; called in the transaction that deletes its holder."""
    reserved, created = ReservedName.objects.get_or_create(
        name=name, defaults={"kind": kind, "reserved_by": getattr(actor, "username", "") or ""}
    )
    if created:
        record(actor, "name.reserve", name, kind=kind)
    return reserved


@transaction.atomic
def release_name(*, reserved: ReservedName, actor: Actor) -> None:
    """Let anyone take the name again: only once nothing the registry holds under it matters."""
    record(actor, "name.release", reserved.name, kind=reserved.kind)
    reserved.delete()


def namespace_not_empty(namespace: Namespace, how: str) -> str:
    return f"{namespace.name} still holds repositories; delete them first, or delete it with its images ({how})."


DELETE_IMAGES_HOW = "API: ?delete_images=true; page: tick 'Also delete its images'; portusctl: --delete-images"


def check_namespace_deletable(namespace: Namespace) -> None:
    if namespace.kind != NamespaceKind.TEAM:
        raise ActionError("Only team namespaces can be deleted; global and personal ones always exist.")


@transaction.atomic
def delete_namespace(*, namespace: Namespace, actor: Actor) -> None:
    """Forget an empty team namespace and reserve its name (images in the registry go first,
    through portus.registry.deletion)."""
    check_namespace_deletable(namespace)
    namespace = Namespace.objects.select_for_update().get(pk=namespace.pk)
    # Portus never forgets images it has not removed from the registry.
    if namespace.repositories.exists():
        raise ActionError(namespace_not_empty(namespace, DELETE_IMAGES_HOW))
    record(actor, "namespace.delete", namespace.name, team=namespace.team)
    reserve_name(name=namespace.name, kind=ReservedKind.NAMESPACE, actor=actor)
    namespace.delete()


@transaction.atomic
def delete_team(*, team: Team, actor: Actor) -> None:
    if team.namespaces.exists():
        raise ActionError(f"{team.name} still owns namespaces; delete or transfer them first.")
    record(actor, "team.delete", team.name)
    team.delete()


@dataclass(frozen=True)
class TagDeletion:
    tags: list[Tag]  # the tags deleted, in the order given
    repository_deleted: bool  # the last tag went, and the repository with it


def _trail(via: str, event: str, reported_actor: str = "") -> dict[str, Any]:
    """Where a deletion came from, for the activity line: "registry" (with the event id and the user name
    the notification reported) or "sync"."""
    trail = (("via", via), ("event", event), ("reported_actor", reported_actor))
    return {key: value for key, value in trail if value}


@transaction.atomic
def delete_tags(
    *,
    repository: Repository,
    tags: Iterable[Tag],
    actor: Actor,
    via: str = "",
    event: str = "",
    reported_actor: str = "",
) -> TagDeletion:
    """Forget TAGS of REPOSITORY, one activity line each; the repository goes too when none is left.

    Every path that deletes tags comes here: the pages and the API (after the registry agreed), a
    registry delete event, and synchronization. The repository row is locked first, so a queryset
    passed as TAGS is read under the lock that also serializes the repository's pushes."""
    repository = Repository.objects.select_for_update().select_related("namespace").get(pk=repository.pk)
    doomed = list(tags)
    for tag in doomed:
        if tag.repository_id != repository.pk:
            raise ValueError(f"{tag} is not a tag of {repository.full_name}")
        record(
            actor,
            "repository.delete_tag",
            f"{repository.full_name}:{tag.name}",
            namespace=repository.namespace,
            digest=tag.digest,
            **_trail(via, event, reported_actor),
        )
        tag.delete()
    emptied = bool(doomed) and not repository.tags.exists()
    if emptied:
        delete_repository(repository=repository, actor=actor, via=via, event=event, reported_actor=reported_actor)
    return TagDeletion(doomed, emptied)


@transaction.atomic
def delete_repository(
    *, repository: Repository, actor: Actor, via: str = "", event: str = "", reported_actor: str = ""
) -> None:
    """Forget REPOSITORY with its tags, stars and comments, in one activity line."""
    trail = _trail(via, event, reported_actor)
    record(actor, "repository.delete", repository.full_name, namespace=repository.namespace, **trail)
    repository.delete()


@transaction.atomic
def update_team(*, team: Team, actor: Actor, name: str | None = None, description: str | None = None) -> Team:
    old_name = team.name
    fields = []
    if name is not None and name != team.name:
        check_namespace_name(name, "team")
        if Team.objects.filter(name=name).exclude(pk=team.pk).exists():
            raise ActionError(f"A team called {name!r} already exists; pick another name.")
        team.name = name
        fields.append("name")
    if description is not None and description != team.description:
        team.description = description
        fields.append("description")
    if fields:
        team.save(update_fields=fields)
        record(actor, "team.update", team.name, team=team, fields=fields, old_name=old_name)
    return team


@transaction.atomic
def update_namespace_description(*, namespace: Namespace, description: str, actor: Actor) -> Namespace:
    if description != namespace.description:
        namespace.description = description
        namespace.save(update_fields=["description"])
        record(actor, "namespace.change_description", namespace.display_name, namespace=namespace)
    return namespace


@transaction.atomic
def update_registry(
    *,
    registry: Registry,
    actor: Actor,
    name: str | None = None,
    hostname: str | None = None,
    external_hostname: str | None = None,
    use_ssl: bool | None = None,
) -> Registry:
    changes = {
        field: value
        for field, value in (
            ("name", name),
            ("hostname", hostname),
            ("external_hostname", external_hostname),
            ("use_ssl", use_ssl),
        )
        if value is not None and getattr(registry, field) != value
    }
    if "name" in changes and Registry.objects.filter(name=changes["name"]).exclude(pk=registry.pk).exists():
        raise ActionError(f"A registry called {changes['name']!r} already exists; pick another name.")
    if "hostname" in changes and Registry.objects.filter(hostname=changes["hostname"]).exclude(pk=registry.pk).exists():
        raise ActionError(f"Another registry already uses {changes['hostname']!r}.")
    if changes:
        for field, value in changes.items():
            setattr(registry, field, value)
        registry.save(update_fields=list(changes))
        record(actor, "registry.update", registry.name, fields=sorted(changes))
    return registry


@transaction.atomic
def update_repository(*, repository: Repository, description: str, actor: Actor) -> Repository:
    if description != repository.description:
        repository.description = description
        repository.save(update_fields=["description"])
        record(actor, "repository.change_description", repository.full_name, namespace=repository.namespace)
    return repository


@transaction.atomic
def star_repository(*, repository: Repository, actor: User) -> bool:
    """Star for ACTOR; False when it was starred already (starring twice is not an error)."""
    _, created = Star.objects.get_or_create(user=actor, repository=repository)
    if created:
        record(actor, "repository.star", repository.full_name, namespace=repository.namespace)
    return created


@transaction.atomic
def unstar_repository(*, repository: Repository, actor: User) -> bool:
    deleted, _ = Star.objects.filter(user=actor, repository=repository).delete()
    if deleted:
        record(actor, "repository.unstar", repository.full_name, namespace=repository.namespace)
    return bool(deleted)


MAX_COMMENT_LENGTH = 10_000


@transaction.atomic
def create_comment(*, repository: Repository, body: str, actor: User) -> Comment:
    body = body.strip()
    if not body:
        raise ActionError("The comment is empty; write something first.")
    if len(body) > MAX_COMMENT_LENGTH:
        raise ActionError(f"The comment is longer than {MAX_COMMENT_LENGTH} characters; shorten it.")
    comment = Comment.objects.create(repository=repository, author=actor, body=body)
    record(actor, "repository.comment", repository.full_name, namespace=repository.namespace, comment=comment.pk)
    return comment


@transaction.atomic
def delete_comment(*, comment: Comment, actor: Actor) -> None:
    repository = comment.repository
    record(actor, "repository.delete_comment", repository.full_name, namespace=repository.namespace, comment=comment.pk)
    comment.delete()
