"""Helpers for page tests: a test client signed in as one of the personas, and a tag factory."""

from __future__ import annotations

from django.test import Client

from portus.registry.models import Repository, Tag
from tests.conftest import World

PERSONAS = ("admin", "owner", "contributor", "viewer", "outsider", "anonymous")
MEMBERS = ("admin", "owner", "contributor", "viewer")  # may see the team's private namespace


def client_as(world: World, persona: str) -> Client:
    client = Client()
    user = world.persona(persona)
    if user is not None:
        client.force_login(user)
    return client


def add_repository(namespace: object, name: str, tags: dict[str, str] | None = None) -> Repository:
    """A repository with TAGS (name -> digest), as the background worker would have stored them."""
    repository = Repository.objects.create(namespace=namespace, name=name)
    for tag_name, digest in (tags or {"latest": "sha256:" + "1" * 64}).items():
        Tag.objects.create(
            repository=repository,
            name=tag_name,
            digest=digest,
            size=2048,
            media_type="application/vnd.oci.image.manifest.v1+json",
            platforms=["linux/amd64"],
        )
    return repository


def is_sign_in_redirect(response: object) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/")  # type: ignore[attr-defined,index]
