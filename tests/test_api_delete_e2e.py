"""Deleting through the API or the pages removes the image from the real registry first, then from Portus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from portus.accounts.actions import create_token
from portus.background.worker import Worker
from portus.registry.models import Activity, Repository, Tag
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import make_image
from tests.support.registry import skopeo
from tests.support.web import client_as

pytestmark = pytest.mark.e2e


@pytest.fixture
def delete_stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> Iterator[Stack]:
    portus_config("delete.enabled", True)
    yield from start_stack(live_server, tmp_path)


def push(stack: Stack, name: str, repository: str, tag: str) -> None:
    image = make_image(stack.tmp / name, tag=tag, files={"f": name.encode()})
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"owner:{PASSWORD}",
        image.reference,
        stack.ref(repository, tag),
    )
    assert done.returncode == 0, done.stderr


def in_registry(stack: Stack, repository: str, tag: str) -> bool:
    found = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"owner:{PASSWORD}", stack.ref(repository, tag))
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


def deletion_lines(actor: object) -> list[tuple[str, str, dict[str, object]]]:
    found = Activity.objects.filter(action__startswith="repository.delete", actor=actor).order_by("id")
    return [(a.action, a.target, a.data) for a in found]


def test_deleting_the_last_tag_on_the_tag_page_removes_the_repository_too(delete_stack: Stack) -> None:
    stack = delete_stack
    worker = Worker()
    push(stack, "only", "acme/lonely", "v1")
    settle(worker, lambda: Tag.objects.filter(repository__name="lonely").exists())
    tag = Tag.objects.get(repository__name="lonely", name="v1")
    repository = tag.repository

    # The worker does not run from here on: what changes is the page's own doing.
    page = client_as(stack.world, "owner").post(f"/repositories/{repository.pk}/tags/v1/delete/")

    assert page.status_code == 302 and page["Location"] == f"/namespaces/{stack.world.namespace.pk}/"
    assert not in_registry(stack, "acme/lonely", "v1")
    assert not Repository.objects.filter(pk=repository.pk).exists()
    assert deletion_lines(stack.world.owner) == [
        ("repository.delete_tag", "acme/lonely:v1", {"digest": tag.digest}),
        ("repository.delete", "acme/lonely", {}),
    ]


def test_deleting_the_last_tag_through_the_api_removes_the_repository_too(delete_stack: Stack) -> None:
    stack = delete_stack
    worker = Worker()
    push(stack, "only", "acme/lonely", "v1")
    settle(worker, lambda: Tag.objects.filter(repository__name="lonely").exists())
    tag = Tag.objects.get(repository__name="lonely", name="v1")
    _, plain = create_token(user=stack.world.owner, name="api", actor=stack.world.owner)

    answer = Client(HTTP_AUTHORIZATION=f"Bearer {plain}").delete(f"/api/v1/tags/{tag.pk}")

    assert answer.status_code == 204
    assert not in_registry(stack, "acme/lonely", "v1")
    assert not Repository.objects.filter(name="lonely").exists()
    assert deletion_lines(stack.world.owner) == [
        ("repository.delete_tag", "acme/lonely:v1", {"digest": tag.digest}),
        ("repository.delete", "acme/lonely", {}),
    ]
