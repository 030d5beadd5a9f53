"""Deleting tags and images in the registry itself before Portus forgets them, so no sync brings them back.

Deleting a tag removes that tag only. A registry that can delete a tag reference (Distribution 3) is
asked to; Distribution 2.8 deletes manifests by digest only, taking every tag on the image with it,
so Portus reads the manifest's exact bytes first, deletes the digest, and puts the same bytes back
under each other tag (the blobs stay until garbage collection). Deleting a whole image (a digest
with all its tags) is a separate action. The registry is called (through the one registry client)
outside any database transaction; the rows go only once the registry has agreed, through the same
actions every other deletion path uses. The registry's notifications of these calls name Portus's
own account, and the worker leaves them alone (events.py): the rows are this module's to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from portus.accounts import actions as account_actions
from portus.accounts.models import User
from portus.principal import Actor
from portus.registry import actions
from portus.registry.client import NotFound, RegistryClient, RegistryError, RegistryUnavailable
from portus.registry.models import Namespace, Registry, Repository, Tag


class RegistryDeletionError(Exception):
    """The registry did not delete the image; the message says why and what to check."""


class TagsLost(RegistryDeletionError):
    """The tag was deleted, but the registry refused to take the image back under some other tags."""

    def __init__(self, message: str, *, lost: list[str]):
        super().__init__(message)
        self.lost = lost


@dataclass(frozen=True)
class DeletionPlan:
    """What a deletion will remove and keep, shown before it is done (pages, API dry run, portusctl)."""

    repository: Repository
    digest: str
    deleted: list[Tag]  # the tags that go
    kept: list[Tag]  # other tags on the same image that Portus knows, which stay
    repository_deleted: bool  # no tag would be left in Portus, so the repository goes too
    unsynced: list[str] = field(default_factory=list)  # tags on the image in the registry only, which stay
    registry_read: bool = True  # False: the registry could not be asked, so the kept tags are Portus's alone

    @property
    def kept_names(self) -> list[str]:
        return sorted([t.name for t in self.kept] + self.unsynced)


def _tags_on_digest(client: RegistryClient, name: str, digest: str, excluding: str) -> list[str]:
    """Every tag of NAME in the registry on DIGEST except EXCLUDING, whether Portus knows it or not.

    The tag list carries no digests, so each other tag's is asked with a HEAD: Portus's rows may be
    behind the registry (a push whose notification is not applied yet), and a tag put back from a
    stale row could move a tag that was pushed again since."""
    same = []
    for other in client.tags(name):
        if other == excluding:
            continue
        try:
            if client.manifest_digest(name, other) == digest:
                same.append(other)
        except NotFound:
            continue  # deleted meanwhile
    return sorted(same)


def plan_tag_deletion(tag: Tag) -> DeletionPlan:
    """Deleting TAG alone: the other tags on its image in the registry stay, known to Portus or not."""
    repository = tag.repository
    others = repository.tags.exclude(pk=tag.pk)
    repository_deleted = not others.exists()
    try:
        with _registry_client(repository.namespace.registry) as client:
            digest = client.manifest_digest(repository.full_name, tag.name)
            names = _tags_on_digest(client, repository.full_name, digest, tag.name)
    except RegistryDeletionError:
        kept = list(others.filter(digest=tag.digest).order_by("name"))
        return DeletionPlan(repository, tag.digest, [tag], kept, repository_deleted, registry_read=False)
    kept = list(others.filter(name__in=names).order_by("name"))
    known = {t.name for t in kept}
    unsynced = [n for n in names if n not in known]
    return DeletionPlan(repository, digest, [tag], kept, repository_deleted, unsynced)


def plan_image_deletion(tag: Tag) -> DeletionPlan:
    """Deleting TAG's image: every tag on its digest goes."""
    repository = tag.repository
    doomed = list(repository.tags.filter(digest=tag.digest).order_by("name"))
    return DeletionPlan(repository, tag.digest, doomed, [], not repository.tags.exclude(digest=tag.digest).exists())


def _refusal(registry: Registry, exc: RegistryError) -> RegistryDeletionError:
    """The one sentence for a registry that did not delete."""
    if isinstance(exc, RegistryUnavailable):
        return RegistryDeletionError(
            f"Cannot reach the registry at {registry.base_url} ({type(exc.__cause__).__name__}); "
            "nothing was deleted. Try again when it is up."
        )
    if exc.status == 405:
        return RegistryDeletionError(
            "The registry refuses deletions: enable storage.delete in its configuration "
            "(portusctl registry config writes it when delete.enabled is on), then restart it. "
            "Nothing was deleted."
        )
    return RegistryDeletionError(
        f"The registry answered {exc.status} to the deletion; nothing was deleted. Its log says more."
    )


@contextmanager
def _registry_client(registry: Registry) -> Iterator[RegistryClient]:
    """A client whose failures before anything changed become one RegistryDeletionError."""
    client = RegistryClient(registry)
    try:
        yield client
    except RegistryError as exc:
        raise _refusal(registry, exc) from exc
    finally:
        client.close()


def _delete_manifests(repository: Repository, digests: list[str]) -> None:
    """DELETE each manifest in the registry; an image already gone counts as deleted."""
    with _registry_client(repository.namespace.registry) as client:
        for digest in digests:
            try:
                client.delete_manifest(repository.full_name, digest)
            except NotFound:
                continue


def _untag(client: RegistryClient, repository: Repository, tag: Tag) -> list[str]:
    """Remove TAG alone from the registry; the names of the other tags that could not be put back."""
    name = repository.full_name
    try:
        if client.delete_tag_reference(name, tag.name):
            return []
        digest, media_type, body = client.raw_manifest(name, tag.name)
    except NotFound:
        return []  # already gone from the registry
    # Asked again, not taken from the rows: the registry's digest is the one its deletion removes, and
    # every tag the registry holds on it goes with it, including tags Portus has not synchronized yet.
    kept = _tags_on_digest(client, name, digest, tag.name)
    try:
        client.delete_manifest(name, digest)
    except NotFound:
        return []
    lost = []
    for other in kept:
        try:
            client.put_manifest(name, other, media_type, body)
        except RegistryError:
            lost.append(other)
    return lost


def delete_tag(*, tag: Tag, actor: Actor) -> actions.TagDeletion:
    """Delete TAG in the registry and in Portus; the other tags on its image stay (the repository goes
    when TAG was its last tag). Raises TagsLost when the registry would not keep some of the others:
    those are gone from both, and the message names them."""
    repository = tag.repository
    with _registry_client(repository.namespace.registry) as client:
        lost = _untag(client, repository, tag)
    deletion = actions.delete_tags(
        repository=repository,
        tags=repository.tags.filter(name__in=[tag.name, *lost]).order_by("name"),
        actor=actor,
    )
    if lost:
        names = ", ".join(lost)
        raise TagsLost(
            f"Deleted {repository.full_name}:{tag.name}, but the registry refused to tag the image again as "
            f"{names}: the registry deleted those with it (it deletes images, not tags), so Portus forgot them "
            f"too. Push {names} again.",
            lost=lost,
        )
    return deletion


def delete_image(*, tag: Tag, actor: Actor) -> actions.TagDeletion:
    """Delete TAG's image in the registry, then every tag on that digest (and the repository when
    none is left)."""
    repository = tag.repository
    _delete_manifests(repository, [tag.digest])
    return actions.delete_tags(
        repository=repository,
        tags=repository.tags.filter(digest=tag.digest).order_by("name"),
        actor=actor,
    )


def delete_repository_images(*, repository: Repository, actor: Actor) -> None:
    """Delete every image of REPOSITORY in the registry, then the repository in Portus."""
    _delete_manifests(repository, list(repository.tags.values_list("digest", flat=True).distinct()))
    actions.delete_repository(repository=repository, actor=actor)


def _check_reachable(namespace: Namespace) -> None:
    """Ask the registry before deleting anything, so an unreachable one changes nothing."""
    with _registry_client(namespace.registry) as client:
        client.api_version()


def delete_namespace_images(*, namespace: Namespace, actor: Actor) -> None:
    """Delete every repository of NAMESPACE in the registry, then in Portus, one at a time.

    The first refusal stops here: the namespace stays, with the repositories not yet deleted, and
    the message says how many went already."""
    repositories = list(namespace.repositories.select_related("namespace__registry").order_by("name"))
    if not repositories:
        return
    _check_reachable(namespace)
    for done, repository in enumerate(repositories):
        try:
            delete_repository_images(repository=repository, actor=actor)
        except RegistryDeletionError as exc:
            if not done:
                raise
            raise RegistryDeletionError(
                f"{repository.full_name}: {exc} {done} of {len(repositories)} repositories of "
                f"{namespace.name} were deleted before it; {namespace.name} itself was kept."
            ) from exc


def delete_namespace(*, namespace: Namespace, actor: Actor, delete_images: bool = False) -> None:
    """Delete a team namespace (and, when asked, its images in the registry first); its name is
    reserved. Without DELETE_IMAGES a namespace holding repositories is refused."""
    actions.check_namespace_deletable(namespace)
    if delete_images:
        delete_namespace_images(namespace=namespace, actor=actor)
    actions.delete_namespace(namespace=namespace, actor=actor)


def delete_user(*, user: User, actor: Actor, delete_images: bool = False) -> None:
    """Delete a user (and, when asked, their personal namespace's images first); the name is reserved."""
    account_actions.check_user_deletable(user)
    personal = Namespace.objects.filter(owner=user).select_related("registry").first()
    if personal is not None and delete_images:
        delete_namespace_images(namespace=personal, actor=actor)
    account_actions.delete_user(user=user, actor=actor)
