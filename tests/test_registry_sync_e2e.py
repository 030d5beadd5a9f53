"""Registry synchronization against a real registry: every strategy, both directions, and its safety rules."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from portus.background.models import TaskName, TaskStatus
from portus.background.worker import Worker
from portus.cli import main as portusctl
from portus.registry.models import Activity, RegistryEvent, Repository, SyncMark, Tag
from portus.registry.sync import Synchronizer
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import wait_for
from tests.support.images import Image, make_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


def push_unknown(stack: Stack, repository: str, tag: str = "v1") -> Image:
    """Push to the registry, then forget the notification: the registry holds what Portus does not know."""
    image = make_image(
        stack.tmp / f"{repository.replace('/', '_')}-{tag}",
        tag=tag,
        files={"f": f"{repository}:{tag}\n".encode()},
    )
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"owner:{PASSWORD}",
        image.reference,
        stack.ref(repository, tag),
    )
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: RegistryEvent.objects.filter(repository=repository, tag=tag).exists(),
        what="notification",
    )
    RegistryEvent.objects.all().delete()
    return image


def known_only_to_portus(stack: Stack, name: str = "gone", tags: tuple[str, ...] = ("v1",)) -> Repository:
    """A repository in the database that the registry does not hold (deleted behind Portus's back)."""
    repository = Repository.objects.create(namespace=stack.world.namespace, name=name)
    earlier = timezone.now() - timezone.timedelta(minutes=5)
    repository.created_at = earlier
    repository.save()
    for tag in tags:
        Tag.objects.create(repository=repository, name=tag, digest="sha256:" + "0" * 64, pushed_at=earlier)
    return repository


def tags() -> set[str]:
    return {f"{t.repository.full_name}:{t.name}" for t in Tag.objects.select_related("repository__namespace")}


@pytest.fixture
def both_ways(stack: Stack) -> tuple[Stack, Image]:
    image = push_unknown(stack, "acme/unknown")
    known_only_to_portus(stack)
    return stack, image


def sync_with(portus_config: Any, strategy: str) -> Worker:
    portus_config("background.sync.strategy", strategy)
    worker = Worker()
    worker.handle_one_sync()
    return worker


def test_update_adds_what_the_registry_holds_and_deletes_nothing(both_ways: Any, portus_config: Any) -> None:
    _, image = both_ways
    sync_with(portus_config, "update")
    assert tags() == {"acme/unknown:v1", "acme/gone:v1"}
    added = Tag.objects.get(repository__name="unknown")
    assert (added.digest, added.size, added.config_digest) == (
        image.manifest_digest,
        image.size,
        image.config_digest,
    )
    assert Activity.objects.filter(action="repository.sync", target="acme/unknown").exists()
    status = TaskStatus.objects.get(name=TaskName.REGISTRY_SYNC)
    assert status.last_success_at is not None and status.next_run_at is not None and not status.last_error


def test_update_delete_adds_and_deletes(both_ways: Any, portus_config: Any) -> None:
    stack, _ = both_ways
    # A tag Portus knows on a repository the registry does hold, but not under that tag.
    Tag.objects.create(
        repository=Repository.objects.get_or_create(namespace=stack.world.namespace, name="unknown")[0],
        name="old",
        digest="sha256:" + "1" * 64,
        pushed_at=timezone.now() - timezone.timedelta(hours=1),
    )
    sync_with(portus_config, "update-delete")
    assert tags() == {"acme/unknown:v1"}
    assert Activity.objects.filter(action="repository.delete", target="acme/gone").exists()
    assert Activity.objects.filter(action="repository.delete_tag", target="acme/unknown:old").exists()
    assert not SyncMark.objects.exists()  # the run cleans up its marks


def test_initial_runs_only_while_portus_knows_no_repository(stack: Stack, portus_config: Any) -> None:
    push_unknown(stack, "acme/unknown")
    sync_with(portus_config, "initial")
    assert tags() == {"acme/unknown:v1"}
    # Once something is known, initial does not run again: neither adds nor deletes.
    push_unknown(stack, "acme/later")
    known_only_to_portus(stack)
    TaskStatus.objects.update(next_run_at=None)
    sync_with(portus_config, "initial")
    assert tags() == {"acme/unknown:v1", "acme/gone:v1"}


def test_on_start_runs_once_fully_when_the_worker_starts(both_ways: Any, portus_config: Any) -> None:
    stack, _ = both_ways
    worker = sync_with(portus_config, "on-start")
    assert tags() == {"acme/unknown:v1"}
    push_unknown(stack, "acme/after-start")
    TaskStatus.objects.update(next_run_at=None)
    assert worker.handle_one_sync() is False  # the same process does not run it again
    assert tags() == {"acme/unknown:v1"}


@pytest.mark.parametrize("how", ["strategy", "switch"])
def test_disabled_sync_changes_nothing(both_ways: Any, portus_config: Any, how: str) -> None:
    if how == "strategy":
        portus_config("background.sync.strategy", "disabled")
    else:
        portus_config("background.sync.strategy", "update-delete")
        portus_config("background.sync.enabled", False)
    assert Worker().handle_one_sync() is False
    assert tags() == {"acme/gone:v1"}


def test_deletions_per_run_are_capped(stack: Stack, portus_config: Any) -> None:
    push_unknown(stack, "acme/kept")
    for name in ("gone-a", "gone-b", "gone-c"):
        known_only_to_portus(stack, name)
    portus_config("background.sync.max_deletions", 2)
    report = Synchronizer(stack.world.registry, delete=True).run()
    assert report.complete
    assert (report.deleted_repositories, report.deferred_deletions) == (2, 1)
    assert Repository.objects.filter(name__startswith="gone-").count() == 1
    report = Synchronizer(stack.world.registry, delete=True).run()
    assert not Repository.objects.filter(name__startswith="gone-").exists()


def test_dry_run_prints_what_it_would_do_and_changes_nothing(both_ways: Any) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        status = portusctl(["sync", "--dry-run", "--delete"])
    assert status == 0
    printed = out.getvalue()
    assert "add repository acme/unknown" in printed
    assert "add tag acme/unknown:v1 sha256:" in printed
    assert "delete repository acme/gone" in printed
    assert "would add 1 repositories and 1 tags" in printed
    assert tags() == {"acme/gone:v1"}
    assert not Activity.objects.filter(action__startswith="repository.").exists()


def test_registry_failing_half_way_through_the_catalog_deletes_nothing(stack: Stack, portus_config: Any) -> None:
    for name in ("a-first", "b-second", "c-third"):
        push_unknown(stack, f"acme/{name}")
    known_only_to_portus(stack, "gone")
    # The repository on the first page lost a tag too: deleting it would also be wrong after a failure.
    Tag.objects.create(
        repository=Repository.objects.get_or_create(namespace=stack.world.namespace, name="a-first")[0],
        name="stale",
        digest="sha256:" + "2" * 64,
        pushed_at=timezone.now() - timezone.timedelta(hours=1),
    )
    portus_config("registry.catalog_page.value", 1)
    pages: list[int] = []

    def stop_the_registry_after_the_first_page(report: Any) -> None:
        pages.append(report.repositories_read)
        if len(pages) == 1:
            stack.registry.stop()

    report = Synchronizer(stack.world.registry, delete=True, on_page=stop_the_registry_after_the_first_page).run()
    assert not report.complete
    assert "cannot reach the registry" in report.error
    assert report.deleted_repositories == report.deleted_tags == 0
    assert Repository.objects.filter(name="gone").exists()
    assert Tag.objects.filter(repository__name="a-first", name="stale").exists()
    assert Tag.objects.filter(repository__name="a-first", name="v1").exists()  # what was read is kept


def test_a_repository_with_events_during_the_run_is_left_to_the_events(stack: Stack, portus_config: Any) -> None:
    push_unknown(stack, "acme/busy")
    repository = known_only_to_portus(stack, "busy", tags=("v1",))
    RegistryEvent.objects.create(
        registry=stack.world.registry,
        event_id="fresh",
        action="push",
        repository="acme/busy",
        tag="v1",
        digest="sha256:" + "0" * 64,
        occurred_at=timezone.now() + timezone.timedelta(seconds=5),
    )
    report = Synchronizer(stack.world.registry, delete=True).run()
    assert report.complete and report.skipped == 1
    assert Tag.objects.get(repository=repository).digest == "sha256:" + "0" * 64
