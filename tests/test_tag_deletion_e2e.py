"""Deleting one tag deletes that tag only, against the real registry and with the worker applying its
notifications; deleting a whole image is a separate action, and each says what it removes first."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from django.test import Client

from portus.accounts.actions import create_token
from portus.background.worker import Worker
from portus.cli import main as portusctl
from portus.registry.models import EventState, RegistryEvent, Repository, Tag
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


def push(stack: Stack, name: str, repository: str, *tags: str) -> None:
    image = make_image(stack.tmp / name, tag="src", files={"f": name.encode()})
    for tag in tags:
        done = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"owner:{PASSWORD}",
            image.reference,
            stack.ref(repository, tag),
        )
        assert done.returncode == 0, done.stderr


def registry_digest(stack: Stack, repository: str, tag: str) -> str | None:
    found = skopeo(
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"owner:{PASSWORD}",
        "--format",
        "{{.Digest}}",
        stack.ref(repository, tag),
    )
    return found.stdout.strip() if found.returncode == 0 else None


def all_events_applied(worker: Worker) -> None:
    settle(worker, lambda: not RegistryEvent.objects.filter(state=EventState.PENDING).exists())


def pushed_app(stack: Stack, worker: Worker) -> Tag:
    """acme/app with 1.0 and latest on one image and 2.0 on another; returns 1.0."""
    push(stack, "one", "acme/app", "1.0", "latest")
    push(stack, "two", "acme/app", "2.0")
    settle(worker, lambda: Tag.objects.filter(repository__name="app").count() == 3)
    return Tag.objects.get(repository__name="app", name="1.0")


def api_client(stack: Stack) -> Client:
    _, plain = create_token(user=stack.world.owner, name="api", actor=stack.world.owner)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def test_deleting_a_tag_through_the_api_keeps_the_other_tags_on_its_image(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    tag = pushed_app(stack, worker)
    digest = tag.digest

    answer = api_client(stack).delete(f"/api/v1/tags/{tag.pk}")

    assert answer.status_code == 204, answer.content
    assert registry_digest(stack, "acme/app", "1.0") is None
    assert registry_digest(stack, "acme/app", "latest") == digest
    # The registry reports a deletion of the digest and a push of latest: neither may change Portus.
    all_events_applied(worker)
    assert sorted(Tag.objects.filter(repository__name="app").values_list("name", flat=True)) == ["2.0", "latest"]
    latest = Tag.objects.get(repository__name="app", name="latest")
    assert latest.digest == digest and latest.author == stack.world.owner


def test_the_api_dry_run_lists_what_a_tag_or_image_deletion_removes_and_changes_nothing(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    tag = pushed_app(stack, worker)
    client = api_client(stack)

    one = client.delete(f"/api/v1/tags/{tag.pk}?dry_run=true")
    image = client.delete(f"/api/v1/tags/{tag.pk}/image?dry_run=true")

    assert one.status_code == 200 and image.status_code == 200
    assert one.json() | {"digest": ""} == {
        "repository": "acme/app",
        "digest": "",
        "deleted_tags": ["1.0"],
        "kept_tags": ["latest"],
        "unsynced_kept_tags": [],
        "registry_read": True,
        "repository_deleted": False,
        "dry_run": True,
    }
    assert image.json()["deleted_tags"] == ["1.0", "latest"] and image.json()["kept_tags"] == []
    assert Tag.objects.filter(repository__name="app").count() == 3
    assert registry_digest(stack, "acme/app", "1.0") == tag.digest


def test_deleting_a_whole_image_through_the_api_removes_every_tag_on_it(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    tag = pushed_app(stack, worker)

    answer = api_client(stack).delete(f"/api/v1/tags/{tag.pk}/image")

    assert answer.status_code == 204, answer.content
    assert registry_digest(stack, "acme/app", "1.0") is None
    assert registry_digest(stack, "acme/app", "latest") is None
    assert registry_digest(stack, "acme/app", "2.0") is not None
    all_events_applied(worker)
    assert list(Tag.objects.filter(repository__name="app").values_list("name", flat=True)) == ["2.0"]


def test_the_tag_page_says_which_tags_stay_and_deletes_only_that_tag(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    tag = pushed_app(stack, worker)
    owner = client_as(stack.world, "owner")
    url = f"/repositories/{tag.repository_id}/tags/1.0/delete/"

    confirm = owner.get(url).content.decode()
    assert "Only the tag <code>1.0</code> is removed" in confirm
    assert "<code>latest</code>" in confirm and "stay" in confirm

    done = owner.post(url)

    assert done.status_code == 302
    assert registry_digest(stack, "acme/app", "latest") == tag.digest
    all_events_applied(worker)
    assert Tag.objects.filter(repository__name="app", name="latest").exists()
    assert not Tag.objects.filter(repository__name="app", name="1.0").exists()


def test_the_image_page_lists_every_tag_it_deletes_before_deleting_them(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    tag = pushed_app(stack, worker)
    owner = client_as(stack.world, "owner")
    url = f"/repositories/{tag.repository_id}/tags/1.0/delete-image/"

    confirm = owner.get(url).content.decode()
    assert "<code>1.0</code>" in confirm and "<code>latest</code>" in confirm and tag.digest in confirm

    assert owner.post(url).status_code == 302
    assert registry_digest(stack, "acme/app", "latest") is None
    assert list(Tag.objects.filter(repository__name="app").values_list("name", flat=True)) == ["2.0"]


def run_portusctl(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = portusctl(args)
    finally:
        sys.stdin = old
    return status, out.getvalue(), err.getvalue()


def test_portusctl_prints_what_a_deletion_removes_and_deletes_only_when_confirmed(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    tag = pushed_app(stack, worker)
    _, plain = create_token(user=stack.world.owner, name="cli", actor=stack.world.owner)
    delete = ["delete", "--server", stack.portus_url, "--token", plain]

    status, out, err = run_portusctl([*delete, "tags", str(tag.pk)], stdin="n\n")
    assert status == 1 and "acme/app:1.0" in out and "latest" in out
    assert Tag.objects.filter(pk=tag.pk).exists()

    status, out, err = run_portusctl([*delete, "tags", str(tag.pk), "--yes"])
    assert status == 0, err
    assert "deleted acme/app:1.0" in out and "kept latest" in out
    assert registry_digest(stack, "acme/app", "latest") == tag.digest
    all_events_applied(worker)
    assert Tag.objects.filter(repository__name="app", name="latest").exists()

    latest = Tag.objects.get(repository__name="app", name="latest")
    status, out, err = run_portusctl([*delete, "images", str(latest.pk), "--yes"])
    assert status == 0, err
    assert "deleted acme/app:latest" in out
    assert not Tag.objects.filter(pk=latest.pk).exists()
    assert Repository.objects.filter(name="app").exists()  # 2.0 is left


def test_deleting_a_tag_keeps_a_tag_on_its_image_that_portus_has_not_synchronized(delete_stack: Stack) -> None:
    stack, worker = delete_stack, Worker()
    image = make_image(stack.tmp / "one", tag="src", files={"f": b"one"})
    creds = ["--dest-tls-verify=false", "--dest-creds", f"owner:{PASSWORD}"]
    assert skopeo("copy", *creds, image.reference, stack.ref("acme/app", "1.0")).returncode == 0
    settle(worker, lambda: Tag.objects.filter(repository__name="app").exists())
    tag = Tag.objects.get(repository__name="app", name="1.0")
    # Pushed to the registry, but the worker is not asked to apply the notification: Portus does not know it.
    assert skopeo("copy", *creds, image.reference, stack.ref("acme/app", "extra")).returncode == 0
    assert registry_digest(stack, "acme/app", "extra") == tag.digest
    assert not Tag.objects.filter(repository__name="app", name="extra").exists()
    client = api_client(stack)

    plan = client.delete(f"/api/v1/tags/{tag.pk}?dry_run=true").json()
    answer = client.delete(f"/api/v1/tags/{tag.pk}")

    assert plan["kept_tags"] == ["extra"] and plan["unsynced_kept_tags"] == ["extra"] and plan["registry_read"]
    assert answer.status_code == 204, answer.content
    assert registry_digest(stack, "acme/app", "1.0") is None
    assert registry_digest(stack, "acme/app", "extra") == tag.digest
    # The push of extra, applied late, still makes it known to Portus.
    all_events_applied(worker)
    assert list(Tag.objects.filter(repository__name="app").values_list("name", flat=True)) == ["extra"]
