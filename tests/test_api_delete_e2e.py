"""Deleting through the API removes the image from the real registry first, then from Portus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from portus.accounts.actions import create_token
from portus.background.worker import Worker
from portus.registry.models import Repository, Tag
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import make_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture
def delete_stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> Iterator[Stack]:
    portus_config("delete.enabled", True)
    yield from start_stack(live_server, tmp_path)


def push(stack: Stack, name: str, repository: str, tag: str) -> None:
    image = make_image(stack.tmp / name, tag=tag, files={"f": name.encode()})
    done = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"owner:{PASSWORD}", image.reference,
                  stack.ref(repository, tag))
    assert done.returncode == 0, done.stderr


def in_registry(stack: Stack, repository: str, tag: str) -> bool:
    found = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"owner:{PASSWORD}",
                   stack.ref(repository, tag))
    return found.returncode == 0


def test_api_tag_and_repository_deletes_reach_the_registry(delete_stack: Stack) -> None:
    stack = delete_stack
    worker = Worker()
    push(stack, "one", "acme/app", "v1")
    push(stack, "two", "acme/app", "v2")
    settle(worker, lambda: Tag.objects.filter(repository__name="app").count() == 2)
    _, plain = create_token(user=stack.world.owner, name="api", actor=stack.world.owner)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")

    tag = Tag.objects.get(repository__name="app", name="v1")
    assert client.delete(f"/api/v1/tags/{tag.pk}").status_code == 204
    assert not in_registry(stack, "acme/app", "v1")
    assert in_registry(stack, "acme/app", "v2")
    assert not Tag.objects.filter(pk=tag.pk).exists()

    repository = Repository.objects.get(name="app")
    assert client.delete(f"/api/v1/repositories/{repository.pk}").status_code == 204
    assert not in_registry(stack, "acme/app", "v2")
    assert not Repository.objects.filter(pk=repository.pk).exists()
