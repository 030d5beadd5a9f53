"""Deleting images in the registry itself before Portus forgets them, so no sync brings them back.

The registry deletes by digest: every tag pointing at that image goes with it. Portus signs its own
token for the call (as it does for every read), so no password is stored for this.
"""

from __future__ import annotations

import requests
from django.conf import settings

from portus.registry.models import Registry
from portus.registry.signing import registry_token

INTERNAL_ACCOUNT = "portus"


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
            "nothing was deleted. Try again "
            "when it is up."
        ) from exc
    if answer.status_code in (200, 202, 404):
        return
    if answer.status_code == 405:
        raise RegistryDeletionError(
            "The registry refuses deletions: enable storage.delete in its configuration "
            "(portusctl registry config "
            "writes it when delete.enabled is on), then restart it. Nothing was deleted."
        )
    raise RegistryDeletionError(
        f"The registry answered {answer.status_code} to the deletion; nothing was deleted. "
        "Its log says more."
    )
