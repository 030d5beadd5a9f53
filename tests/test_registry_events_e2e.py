"""Registry events against a real docker-registry and skopeo: pushes, moves, deletes, indexes, replays."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from portus.background.worker import Worker
from portus.registry.client import OCI_INDEX, OCI_MANIFEST
from portus.registry.models import Activity, EventState, RegistryEvent, Repository, Tag
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle, wait_for
from tests.support.images import make_image, make_multiplatform_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


def copy(stack: Stack, source: str, repository: str, tag: str, user: str = "contributor", *extra: str) -> None:
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{user}:{PASSWORD}",
        *extra,
        source,
        stack.ref(repository, tag),
    )
    assert done.returncode == 0, done.stderr


def tag_of(repository: str, tag: str) -> Tag | None:
    namespace, _, name = repository.partition("/")
    return Tag.objects.filter(repository__namespace__name=namespace, repository__name=name, name=tag).first()


def test_push_makes_the_tag_with_its_digest_and_size(stack: Stack) -> None:
    worker = Worker()
    image = make_image(stack.tmp / "app", tag="v1")
    copy(stack, image.reference, "acme/app", "v1")
    settle(worker, lambda: tag_of("acme/app", "v1") is not None)
    tag = tag_of("acme/app", "v1")
    assert tag is not None
    assert tag.digest == image.manifest_digest
    assert tag.size == image.size
    assert tag.config_digest == image.config_digest
    assert tag.media_type == OCI_MANIFEST
    assert tag.author == stack.world.contributor
    push = Activity.objects.get(action="repository.push", target="acme/app:v1")
    # The pusher as the registry reported it; the line is not an action authenticated as that user.
    assert push.actor is None
    assert push.data["reported_actor"] == "contributor"
    assert push.namespace == stack.world.namespace


def test_second_tag_on_the_same_digest_groups_and_a_repush_moves_the_tag(stack: Stack) -> None:
    worker = Worker()
    first = make_image(stack.tmp / "first", tag="v1", files={"a.txt": b"first\n"})
    copy(stack, first.reference, "acme/app", "v1")
    copy(stack, first.reference, "acme/app", "latest")
    settle(
        worker,
        lambda: tag_of("acme/app", "latest") is not None and tag_of("acme/app", "v1") is not None,
    )
    repository = Repository.objects.get(namespace=stack.world.namespace, name="app")
    assert set(repository.tags.filter(digest=first.manifest_digest).values_list("name", flat=True)) == {"v1", "latest"}

    second = make_image(stack.tmp / "second", tag="v1", files={"a.txt": b"second\n"})
    assert second.manifest_digest != first.manifest_digest
    copy(stack, second.reference, "acme/app", "latest")
    settle(worker, lambda: tag_of("acme/app", "latest").digest == second.manifest_digest)  # type: ignore[union-attr]
    assert tag_of("acme/app", "v1").digest == first.manifest_digest  # type: ignore[union-attr]
    moved = Activity.objects.filter(action="repository.push", target="acme/app:latest").first()
    assert moved is not None and moved.data["old_digest"] == first.manifest_digest


def test_oci_index_is_one_tag_with_its_platforms_and_summed_size(stack: Stack) -> None:
    worker = Worker()
    image = make_multiplatform_image(stack.tmp / "multi", tag="multi")
    copy(stack, image.reference, "acme/multi", "multi", "contributor", "--all")
    settle(worker, lambda: tag_of("acme/multi", "multi") is not None)
    tag = tag_of("acme/multi", "multi")
    assert tag is not None
    assert tag.digest == image.manifest_digest
    assert tag.media_type == OCI_INDEX
    assert tag.size == image.size
    assert sorted(tag.platforms) == ["linux/amd64", "linux/arm64"]
    # The per-platform manifests are pushed by digest, untagged: no tags of their own.
    assert Tag.objects.filter(repository=tag.repository).count() == 1


def test_pull_records_when_the_tag_was_last_pulled(stack: Stack) -> None:
    worker = Worker()
    image = make_image(stack.tmp / "pulled", tag="v1")
    copy(stack, image.reference, "acme/pulled", "v1")
    settle(worker, lambda: tag_of("acme/pulled", "v1") is not None)
    assert tag_of("acme/pulled", "v1").last_pulled_at is None  # type: ignore[union-attr]
    pulled = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        f"viewer:{PASSWORD}",
        stack.ref("acme/pulled", "v1"),
    )
    assert pulled.returncode == 0, pulled.stderr
    settle(worker, lambda: tag_of("acme/pulled", "v1").last_pulled_at is not None)  # type: ignore[union-attr]


def envelope_for(event: RegistryEvent, event_id: str) -> dict[str, object]:
    """A notification in the registry's own format (as distribution 2.8 marshals it)."""
    return {
        "events": [
            {
                "id": event_id,
                "timestamp": event.occurred_at.isoformat(),
                "action": event.action,
                "target": {
                    "mediaType": event.media_type,
                    "size": 500,
                    "digest": event.digest,
                    "length": 500,
                    "repository": event.repository,
                    "url": "http://x/v2/",
                    "tag": event.tag,
                },
                "request": {
                    "id": "r",
                    "addr": "127.0.0.1",
                    "host": "x",
                    "method": "PUT",
                    "useragent": "skopeo",
                },
                "actor": {"name": event.actor},
                "source": {"addr": "x", "instanceID": "i"},
            }
        ]
    }


def post(stack: Stack, body: dict[str, object], secret: str | None) -> requests.Response:
    headers = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return requests.post(f"{stack.portus_url}/v2/webhooks/events", data=json.dumps(body), headers=headers, timeout=10)


def snapshot() -> tuple[int, int, int, list[tuple[str, str]]]:
    return (
        RegistryEvent.objects.count(),
        Activity.objects.count(),
        Tag.objects.count(),
        list(Tag.objects.order_by("name").values_list("name", "digest")),
    )


def test_replaying_a_notification_twice_changes_nothing(stack: Stack) -> None:
    worker = Worker()
    old = make_image(stack.tmp / "old", tag="v1", files={"f": b"old\n"})
    new = make_image(stack.tmp / "new", tag="v1", files={"f": b"new\n"})
    copy(stack, old.reference, "acme/replayed", "v1")
    settle(worker, lambda: tag_of("acme/replayed", "v1") is not None)
    original = RegistryEvent.objects.get(action="push", repository="acme/replayed")
    copy(stack, new.reference, "acme/replayed", "v1")
    settle(worker, lambda: tag_of("acme/replayed", "v1").digest == new.manifest_digest)  # type: ignore[union-attr]
    settle(worker, lambda: not RegistryEvent.objects.filter(state=EventState.PENDING).exists())
    before = snapshot()
    secret = stack.world.registry.notification_secret()
    # The registry retries the same notification (same event id) until it gets a 2xx: twice here.
    for _ in range(2):
        assert post(stack, envelope_for(original, original.event_id), secret).status_code == 200
        settle(worker, lambda: not RegistryEvent.objects.filter(state=EventState.PENDING).exists())
    assert snapshot() == before
    assert tag_of("acme/replayed", "v1").digest == new.manifest_digest  # type: ignore[union-attr]

    # The old push delivered late under a new id is stored once, and cannot move the tag back.
    late_id = str(uuid.uuid4())
    for _ in range(2):
        assert post(stack, envelope_for(original, late_id), secret).status_code == 200
    settle(worker, lambda: not RegistryEvent.objects.filter(state=EventState.PENDING).exists())
    assert RegistryEvent.objects.filter(event_id=late_id).count() == 1
    assert tag_of("acme/replayed", "v1").digest == new.manifest_digest  # type: ignore[union-attr]
    assert Activity.objects.count() == before[1]


def test_forged_notification_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    image = make_image(stack.tmp / "real", tag="v1")
    copy(stack, image.reference, "acme/real", "v1")
    wait_for(
        lambda: RegistryEvent.objects.filter(repository="acme/real").exists(),
        what="the real notification",
    )
    real = RegistryEvent.objects.get(repository="acme/real")
    before = RegistryEvent.objects.count()
    forged = envelope_for(real, str(uuid.uuid4()))
    assert post(stack, forged, None).status_code == 401
    assert post(stack, forged, "not-the-secret").status_code == 401
    assert post(stack, forged, stack.world.registry.notification_secret() + "x").status_code == 401
    assert RegistryEvent.objects.count() == before


@pytest.fixture
def delete_stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> object:
    portus_config("delete.enabled", True)
    yield from start_stack(live_server, tmp_path)


def test_skopeo_delete_removes_the_tags_and_the_empty_repository(delete_stack: Stack) -> None:
    stack = delete_stack
    worker = Worker()
    keep = make_image(stack.tmp / "keep", tag="v1", files={"f": b"keep\n"})
    doomed = make_image(stack.tmp / "doomed", tag="v1", files={"f": b"doomed\n"})
    copy(stack, keep.reference, "acme/app", "stable", "owner")
    copy(stack, doomed.reference, "acme/app", "v1", "owner")
    copy(stack, doomed.reference, "acme/app", "latest", "owner")
    settle(worker, lambda: Tag.objects.filter(repository__name="app").count() == 3)

    deleted = skopeo("delete", "--tls-verify=false", "--creds", f"owner:{PASSWORD}", stack.ref("acme/app", "v1"))
    assert deleted.returncode == 0, deleted.stderr
    # Deleting a manifest removes every tag on its digest; the repository stays while a tag is left.
    settle(worker, lambda: not Tag.objects.filter(digest=doomed.manifest_digest).exists())
    assert list(Tag.objects.filter(repository__name="app").values_list("name", flat=True)) == ["stable"]
    assert Activity.objects.filter(action="repository.delete_tag", target="acme/app:latest").exists()

    deleted = skopeo(
        "delete",
        "--tls-verify=false",
        "--creds",
        f"owner:{PASSWORD}",
        stack.ref("acme/app", "stable"),
    )
    assert deleted.returncode == 0, deleted.stderr
    settle(worker, lambda: not Repository.objects.filter(name="app").exists())
    assert Activity.objects.filter(action="repository.delete", target="acme/app").exists()


def test_event_for_a_namespace_portus_does_not_have_is_skipped_and_says_why(stack: Stack) -> None:
    worker = Worker()
    image = make_image(stack.tmp / "stray", tag="v1")
    copy(stack, image.reference, "acme/stray", "v1")
    wait_for(
        lambda: RegistryEvent.objects.filter(repository="acme/stray").exists(),
        what="the real notification",
    )
    event = RegistryEvent.objects.get(repository="acme/stray")
    stray_id = str(uuid.uuid4())
    stray = envelope_for(event, stray_id)
    stray["events"][0]["target"]["repository"] = "ghost/stray"  # type: ignore[index]
    assert post(stack, stray, stack.world.registry.notification_secret()).status_code == 200
    settle(worker, lambda: RegistryEvent.objects.get(event_id=stray_id).state != EventState.PENDING)
    stored = RegistryEvent.objects.get(event_id=stray_id)
    assert stored.state == EventState.SKIPPED
    assert "namespace 'ghost' does not exist" in stored.result
    assert not Repository.objects.filter(name="stray", namespace__name="ghost").exists()
