"""Image details and storage against a real docker-registry and skopeo: the worker reads each pushed image's
config once, stores it, and the tag page, the repository page and the API show it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from portus.background.worker import Worker
from portus.registry.client import OCI_INDEX
from portus.registry.images import namespace_storage, next_unread_tag
from portus.registry.models import ImageDetails, ImagePlatform, ImageReadRetry, Tag
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import DETAILED_RUN_CONFIG, make_detailed_image, make_detailed_index
from tests.support.registry import skopeo
from tests.support.web import client_as

pytestmark = pytest.mark.e2e

BASE = {"base/os-release": b"ID=testos\n" * 50}


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


def push(stack: Stack, source: str, repository: str, tag: str) -> None:
    creds = f"contributor:{PASSWORD}"
    # --all: every platform of an index, not only the one matching this machine.
    done = skopeo("copy", "--all", "--dest-tls-verify=false", "--dest-creds", creds, source, stack.ref(repository, tag))
    assert done.returncode == 0, done.stderr


def read_all(worker: Worker, *tags: tuple[str, str]) -> None:
    """Apply the pushes, then let the worker read every image's details."""

    def stored() -> bool:
        while worker.handle_one_image_details():
            pass
        digests = Tag.objects.filter(repository__namespace__name="acme").values("digest")
        return len(tags) == Tag.objects.filter(repository__namespace__name="acme").count() and not (
            digests.exclude(digest__in=ImageDetails.objects.values("digest")).exists()
        )

    settle(worker, stored)


def test_a_pushed_image_has_its_config_details_stored_once_and_shown_on_the_tag_page(stack: Stack) -> None:
    image = make_detailed_image(stack.tmp / "app", "v1", [BASE, {"app/run": b"run\n"}])
    push(stack, image.reference, "acme/app", "v1")
    push(stack, image.reference, "acme/app", "latest")
    worker = Worker()
    read_all(worker, ("app", "v1"), ("app", "latest"))

    details = ImageDetails.objects.get(digest=image.manifest_digest)
    assert details.error == ""
    assert (details.os, details.architecture, details.platform) == ("linux", "amd64", "linux/amd64")
    assert details.created == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert details.entrypoint == DETAILED_RUN_CONFIG["Entrypoint"]
    assert details.command == DETAILED_RUN_CONFIG["Cmd"]
    assert details.environment == DETAILED_RUN_CONFIG["Env"]
    assert details.exposed_ports == ["53/udp", "8080/tcp"]
    assert details.labels == DETAILED_RUN_CONFIG["Labels"]
    assert details.annotations == {"org.example.built-by": "tests"}
    assert [step["empty_layer"] for step in details.history] == [False, True, False, True]
    assert details.size == image.size == Tag.objects.get(name="v1").size
    assert dict(details.blobs.values_list("digest", "size")) == image.blobs
    # Two tags on one digest: one row, read once; nothing is left for the worker to read.
    assert ImageDetails.objects.count() == 1
    assert worker.handle_one_image_details() is False

    tag = Tag.objects.get(name="v1")
    page = client_as(stack.world, "viewer").get(f"/repositories/{tag.repository_id}/tags/v1/").content.decode()
    for shown in ("/usr/bin/entry.sh", "8080/tcp", "https://example.com/app", "API_TOKEN=s3cr3t-value", "empty layer"):
        assert shown in page
    assert "org.example.built-by" in page
    repository_page = client_as(stack.world, "viewer").get(f"/repositories/{tag.repository_id}/").content.decode()
    assert "linux/amd64" in repository_page

    api = client_as(stack.world, "viewer").get(f"/api/v1/tags/{tag.pk}").json()
    assert api["details"]["entrypoint"] == DETAILED_RUN_CONFIG["Entrypoint"]
    assert api["details"]["history"][1]["empty_layer"] is True
    # The environment may hold secrets: only for those who may pull, and the outsider may not even see the tag.
    assert client_as(stack.world, "outsider").get(f"/repositories/{tag.repository_id}/tags/v1/").status_code == 404
    assert client_as(stack.world, "outsider").get(f"/api/v1/tags/{tag.pk}").status_code == 404


def test_each_platform_of_an_index_has_its_own_manifest_size_and_details(stack: Stack) -> None:
    index = make_detailed_index(
        stack.tmp / "multi",
        "multi",
        {("amd64", ""): [BASE, {"a": b"amd64"}], ("arm64", "v8"): [BASE, {"a": b"arm64"}]},
    )
    push(stack, index.reference, "acme/multi", "v1")
    worker = Worker()
    read_all(worker, ("multi", "v1"))

    details = ImageDetails.objects.get(digest=index.manifest_digest)
    assert details.media_type == OCI_INDEX
    assert details.size == index.size
    platforms = list(ImagePlatform.objects.filter(index=details).select_related("image"))
    assert [p.name for p in platforms] == ["linux/amd64", "linux/arm64/v8"]
    assert {p.name: p.image.digest for p in platforms} == index.platform_digests
    assert platforms[1].image.variant == "v8"
    assert platforms[1].image.annotations == {"org.example.arch": "arm64"}
    assert sum(p.image.size for p in platforms) == index.size
    # The base layer is in both platforms: the index needs it once.
    assert dict(details.blobs.values_list("digest", "size")) == index.blobs

    tag = Tag.objects.get(name="v1")
    page = client_as(stack.world, "viewer").get(f"/repositories/{tag.repository_id}/tags/v1/").content.decode()
    assert index.manifest_digest in page
    for digest in index.platform_digests.values():
        assert digest in page
    assert "linux/arm64/v8" in page


def test_namespace_storage_counts_a_layer_shared_by_tags_and_repositories_once(stack: Stack) -> None:
    first = make_detailed_image(stack.tmp / "one", "v1", [BASE, {"one": b"1" * 300}])
    second = make_detailed_image(stack.tmp / "two", "v1", [BASE, {"two": b"2" * 700}])
    push(stack, first.reference, "acme/one", "v1")
    push(stack, first.reference, "acme/one", "latest")
    push(stack, second.reference, "acme/two", "v1")
    worker = Worker()
    read_all(worker, ("one", "v1"), ("one", "latest"), ("two", "v1"))

    shared = set(first.blobs) & set(second.blobs)
    assert len(shared) == 1  # the base layer
    distinct = {**first.blobs, **second.blobs}
    assert namespace_storage([stack.world.namespace]) == {stack.world.namespace.pk: sum(distinct.values())}
    assert sum(distinct.values()) < first.size * 2 + second.size  # what counting per tag would say

    response = client_as(stack.world, "viewer").get("/api/v1/namespaces/acme")
    assert response.json()["storage_bytes"] == sum(distinct.values())
    page = client_as(stack.world, "viewer").get(f"/namespaces/{stack.world.namespace.pk}/").content.decode()
    assert "counted once" in page


def test_an_image_the_registry_no_longer_has_is_stored_with_the_reason_and_not_asked_for_again(stack: Stack) -> None:
    image = make_detailed_image(stack.tmp / "app", "v1", [BASE])
    push(stack, image.reference, "acme/app", "v1")
    worker = Worker()
    settle(worker, lambda: Tag.objects.filter(name="v1").exists())
    tag = Tag.objects.get(name="v1")
    gone = "sha256:" + "0" * 64
    Tag.objects.create(repository=tag.repository, name="gone", digest=gone)
    while worker.handle_one_image_details():
        pass
    assert ImageDetails.objects.get(digest=image.manifest_digest).error == ""
    missing = ImageDetails.objects.get(digest=gone)
    assert "no longer has this image" in missing.error
    assert worker.handle_one_image_details() is False
    # A 404 is an answer about the image: recorded at once, never scheduled again, whatever the time.
    assert not ImageReadRetry.objects.exists()
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        assert next_unread_tag() is None
    page = client_as(stack.world, "viewer").get(f"/repositories/{tag.repository_id}/tags/gone/").content.decode()
    assert "The details of this image could not be read, and will not be read again" in page


def test_details_a_stopped_registry_could_not_give_arrive_on_the_retry_after_it_is_started_again(
    stack: Stack,
) -> None:
    image = make_detailed_image(stack.tmp / "app", "v1", [BASE])
    push(stack, image.reference, "acme/app", "v1")
    worker = Worker()
    settle(worker, lambda: Tag.objects.filter(name="v1").exists())
    # As for a tag from before details were kept: the worker has them still to read.
    ImageDetails.objects.all().delete()
    tag = Tag.objects.get(name="v1")
    url = f"/repositories/{tag.repository_id}/tags/v1/"
    stack.registry.stop()
    failed_at = timezone.now() - dt.timedelta(minutes=10)
    with time_machine.travel(failed_at, tick=False):  # the failed read was ten minutes ago
        assert worker.handle_one_image_details() is True
        retry = ImageReadRetry.objects.get(digest=image.manifest_digest)
        assert (retry.attempts, retry.retry_at) == (1, failed_at + dt.timedelta(minutes=1))
        assert "cannot reach the registry" in retry.error
        assert next_unread_tag() is None  # waiting for its minute
        page = client_as(stack.world, "viewer").get(url).content.decode()
        assert "the registry could not answer (1 failed read of at most" in page
    assert not ImageDetails.objects.exists()

    stack.registry.start()
    assert worker.handle_one_image_details() is True  # the minute has passed: read again, now answered
    details = ImageDetails.objects.get(digest=image.manifest_digest)
    assert (details.error, details.platform, details.entrypoint) == (
        "",
        "linux/amd64",
        DETAILED_RUN_CONFIG["Entrypoint"],
    )
    assert not ImageReadRetry.objects.exists()
    assert worker.handle_one_image_details() is False
    page = client_as(stack.world, "viewer").get(url).content.decode()
    assert "/usr/bin/entry.sh" in page and "could not answer" not in page
