"""Deleting images in the registry itself before Portus forgets them, so no sync brings them back.

The registry deletes by digest: every tag pointing at that image goes with it. The registry is
called (through the one registry client) outside any database transaction; the rows go only once
the registry has agreed, through the same actions every other deletion path uses.
"""

from __future__ import annotations

from portus.accounts import actions as account_actions
from portus.accounts.models import User
from portus.principal import Actor
from portus.registry import actions
from portus.registry.client import NotFound, RegistryClient, RegistryError, RegistryUnavailable
from portus.registry.models import Namespace, Repository, Tag


class RegistryDeletionError(Exception):
    """The registry did not delete the image; the message says why and what to check."""


def _delete_manifests(repository: Repository, digests: list[str]) -> None:
    """DELETE each manifest in the registry; an image already gone counts as deleted."""
    registry = repository.namespace.registry
    client = RegistryClient(registry)
    try:
        for digest in digests:
            try:
                client.delete_manifest(repository.full_name, digest)
            except NotFound:
                continue
    except RegistryUnavailable as exc:
        raise RegistryDeletionError(
            f"Cannot reach the registry at {registry.base_url} ({type(exc.__cause__).__name__}); "
            "nothing was deleted. Try again when it is up."
        ) from exc
    except RegistryError as exc:
        if exc.status == 405:
            raise RegistryDeletionError(
                "The registry refuses deletions: enable storage.delete in its configuration "
                "(portusctl registry config writes it when delete.enabled is on), then restart it. "
                "Nothing was deleted."
            ) from exc
        raise RegistryDeletionError(
            f"The registry answered {exc.status} to the deletion; nothing was deleted. Its log says more."
        ) from exc
    finally:
        client.close()


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
    registry = namespace.registry
    client = RegistryClient(registry)
    try:
        client.api_version()
    except RegistryUnavailable as exc:
        raise RegistryDeletionError(
            f"Cannot reach the registry at {registry.base_url} ({type(exc.__cause__).__name__}); "
            f"nothing was deleted. Try again when it is up."
        ) from exc
    finally:
        client.close()


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
