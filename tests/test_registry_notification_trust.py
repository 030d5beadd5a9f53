"""Registry notifications are claims, not facts: forged deletes, blamed actors, future timestamps and the
notification secret, attacked through the real endpoint with a real docker-registry and skopeo."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from portus.background.worker import Worker
from portus.registry.models import Activity, Comment, EventState, RegistryEvent, Repository
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import make_image
from tests.support.registry import skopeo
from tests.test_registry_events_e2e import copy, envelope_for, post, tag_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    portus_config("delete.enabled", True)
    yield from start_stack(live_server, tmp_path)


def pushed(stack: Stack, worker: Worker, repository: str, tag: str, files: dict[str, bytes]) -> RegistryEvent:
    """Push a real image with skopeo, let the worker apply it, and return the registry's push event."""
    image = make_image(stack.tmp / f"{repository.replace('/', '-')}-{tag}", tag=tag, files=files)
    copy(stack, image.reference, repository, tag, "owner")
    settle(worker, lambda: getattr(tag_of(repository, tag), "digest", None) == image.manifest_digest)
    return RegistryEvent.objects.filter(action="push", repository=repository, tag=tag).latest("id")


def forge(stack: Stack, real: RegistryEvent, **changes: object) -> str:
    """Send, with the right secret, a notification made from REAL with CHANGES; return its event id."""
    event_id = str(uuid.uuid4())
    body = envelope_for(real, event_id)
    event = body["events"][0]  # type: ignore[index]
    target_changes = {key: changes.pop(key) for key in ("tag", "digest", "mediaType") if key in changes}
    event["target"].update(target_changes)
    event.update(changes)
    assert post(stack, body, stack.world.registry.notification_secret()).status_code == 200
    return event_id


def applied(worker: Worker, event_id: str) -> RegistryEvent:
    settle(worker, lambda: RegistryEvent.objects.get(event_id=event_id).state != EventState.PENDING)
    return RegistryEvent.objects.get(event_id=event_id)


def test_forged_delete_of_an_image_the_registry_still_serves_deletes_nothing(stack: Stack) -> None:
    worker = Worker()
    real = pushed(stack, worker, "acme/kept", "v1", {"f": b"kept\n"})
    repository = Repository.objects.get(namespace=stack.world.namespace, name="kept")
    Comment.objects.create(repository=repository, author=stack.world.owner, body="keep me")

    # The registry sends one deletion per tag (tag only) and one for the manifest (digest only): forge both.
    by_tag = forge(stack, real, action="delete", digest="", mediaType="")
    by_digest = forge(stack, real, action="delete", tag="", mediaType="")
    for event_id in (by_tag, by_digest):
        event = applied(worker, event_id)
        assert event.state == EventState.SKIPPED
        assert "the registry still serves acme/kept" in event.result

    assert tag_of("acme/kept", "v1").digest == real.digest  # type: ignore[union-attr]
    assert Comment.objects.filter(repository=repository, body="keep me").exists()
    assert not Activity.objects.filter(action__in=["repository.delete_tag", "repository.delete"]).exists()


def test_real_skopeo_delete_still_removes_the_repository_and_its_comments(stack: Stack) -> None:
    worker = Worker()
    pushed(stack, worker, "acme/gone", "v1", {"f": b"gone\n"})
    repository = Repository.objects.get(namespace=stack.world.namespace, name="gone")
    Comment.objects.create(repository=repository, author=stack.world.owner, body="bye")

    deleted = skopeo("delete", "--tls-verify=false", "--creds", f"owner:{PASSWORD}", stack.ref("acme/gone", "v1"))
    assert deleted.returncode == 0, deleted.stderr
    settle(worker, lambda: not Repository.objects.filter(pk=repository.pk).exists())
    assert not Comment.objects.filter(body="bye").exists()
    line = Activity.objects.get(action="repository.delete", target="acme/gone")
    assert line.actor is None
    assert line.data["reported_actor"] == "owner"


def test_actor_named_by_a_notification_is_recorded_as_reported_by_the_registry(stack: Stack) -> None:
    worker = Worker()
    real = pushed(stack, worker, "acme/blame", "v1", {"f": b"blame\n"})
    line = Activity.objects.get(action="repository.push", target="acme/blame:v1")
    assert line.actor is None
    assert line.data["reported_actor"] == "owner"

    # A sender naming the administrator does not make the administrator the author of anything.
    forged = applied(worker, forge(stack, real, actor={"name": "admin"}, tag="framed"))
    assert forged.state == EventState.DONE
    framed = Activity.objects.get(action="repository.push", target="acme/blame:framed")
    assert framed.actor is None
    assert framed.data["reported_actor"] == "admin"
    assert not Activity.objects.filter(actor=stack.world.admin, action__startswith="repository.").exists()

    client = Client()
    client.force_login(stack.world.admin)
    page = client.get("/admin/activity/").content.decode()
    assert "reported by the registry as admin" in page
    assert "reported by the registry as owner" in page


def test_notification_from_2099_does_not_freeze_the_tag_against_later_pushes(stack: Stack) -> None:
    worker = Worker()
    real = pushed(stack, worker, "acme/frozen", "v1", {"f": b"first\n"})
    # Portus received the forgery a minute ago (its clock is moved back meanwhile), so the clamped time,
    # receipt plus the 30 s allowed skew, is already past when the real push below arrives.
    with time_machine.travel(timezone.now() - dt.timedelta(seconds=60), tick=True):
        future = applied(worker, forge(stack, real, timestamp="2099-01-01T00:00:00Z"))
    assert future.occurred_at <= future.received_at + dt.timedelta(seconds=30)
    assert tag_of("acme/frozen", "v1").pushed_at.year < 2099  # type: ignore[union-attr]

    later = make_image(stack.tmp / "later", tag="v1", files={"f": b"second\n"})
    copy(stack, later.reference, "acme/frozen", "v1", "owner")
    settle(worker, lambda: tag_of("acme/frozen", "v1").digest == later.manifest_digest)  # type: ignore[union-attr]
