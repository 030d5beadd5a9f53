"""Deleting images in the registry itself before Portus forgets them, so no sync brings them back.

The registry deletes by digest: every tag pointing at that image goes with it. Portus signs its own
token for the call (as it does for every read), so no password is stored for this. The registry is
called outside any database transaction; the rows go only once the registry has agreed.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.db import transaction

from portus.registry import actions
from portus.registry.client import INTERNAL_ACCOUNT
from portus.registry.models import Registry, Repository, Tag
from portus.registry.signing import registry_token


class RegistryDeletionError(Exception):
    """The registry did not delete the image; the message says why and what to check."""


def delete_manifest(registry: Registry, repository: str, digest: str) -> None:
    """DELETE /v2/REPOSITORY/manifests/DIGEST; an image already gone counts as deleted."""
    access = [{"type": "repository", "name": repository, "actions": ["pull", "push", "delete"]}]
    token, _, _ = registry_token(INTERNAL_ACCOUNT, registry.hostname, access)
    url = f"{registry.base_url}/v2/{repository}/manifests/{digest}"
    try:
        answer = requests.delete(
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.PORTUS.get("registry.timeout.value") * 5,
        )
    except requests.RequestException as exc:
        raise RegistryDeletionError(
            f"Cannot reach the registry at {registry.base_url} ({type(exc).__name__}); "
            "nothing was deleted. Try again when it is up."
        ) from exc
    if answer.status_code in (200, 202, 404):
        return
    if answer.status_code == 405:
        raise RegistryDeletionError(
            "The registry refuses deletions: enable storage.delete in its configuration "
            "(portusctl registry config writes it when delete.enabled is on), then restart it. "
            "Nothing was deleted."
        )
    raise RegistryDeletionError(
        f"The registry answered {answer.status_code} to the deletion; nothing was deleted. Its log says more."
    )


def delete_image(*, tag: Tag, actor: Any) -> list[Tag]:
    """Delete TAG's image in the registry, then every tag on that digest; returns the tags removed."""
    repository = tag.repository
    same_image = list(repository.tags.filter(digest=tag.digest).order_by("name"))
    delete_manifest(repository.namespace.registry, repository.full_name, tag.digest)
    with transaction.atomic():
        for doomed in same_image:
            actions.delete_tag(tag=doomed, actor=actor)
    return same_image


def delete_repository_images(*, repository: Repository, actor: Any) -> None:
    """Delete every image of REPOSITORY in the registry, then the repository in Portus."""
    digests = list(repository.tags.values_list("digest", flat=True).distinct())
    for digest in digests:
        delete_manifest(repository.namespace.registry, repository.full_name, digest)
    actions.delete_repository(repository=repository, actor=actor)
