"""Image details without a registry: what a config blob gives, and the worker's step when the registry
cannot answer."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from portus.background.worker import Worker
from portus.registry.client import NotFound, RegistryError, RegistryUnavailable
from portus.registry.images import MAX_ATTEMPTS, config_fields, is_transient, next_unread_tag
from portus.registry.models import ImageDetails, ImageReadRetry, Repository, Tag
from tests.conftest import World

pytestmark = pytest.mark.django_db


def test_config_fields_take_odd_but_real_configs_without_failing() -> None:
    fields = config_fields(
        {
            "created": "not a time",
            "os": "windows",
            "architecture": "amd64",
            "config": {"Cmd": "cmd /S /C app.exe", "Env": None, "Labels": None, "ExposedPorts": {"80/tcp": {}}},
            "history": [{"created_by": "RUN x"}, "junk", {"empty_layer": True, "comment": "buildkit"}],
        }
    )
    assert fields["created"] is None
    assert fields["command"] == ["cmd /S /C app.exe"]  # a shell-form string is one item
    assert (fields["environment"], fields["labels"], fields["exposed_ports"]) == ([], {}, ["80/tcp"])
    assert [step["empty_layer"] for step in fields["history"]] == [False, True]
    assert fields["history"][1]["comment"] == "buildkit"
    assert config_fields({"created": "2024-01-02T03:04:05Z"})["created"] == dt.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC
    )


def test_a_registry_that_cannot_answer_is_asked_again_after_1_5_30_minutes_then_every_6_hours_until_it_gives_up(
    world: World,
) -> None:
    world.registry.hostname = "127.0.0.1:1"  # nothing listens there
    world.registry.save()
    repository = Repository.objects.create(namespace=world.namespace, name="app")
    digest = "sha256:" + "a" * 64
    Tag.objects.create(repository=repository, name="v1", digest=digest)
    worker = Worker()
    expected = [dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30)]
    expected += [dt.timedelta(hours=6)] * (MAX_ATTEMPTS - 3)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for attempt, delay in enumerate(expected[:-1], start=1):
            assert worker.handle_one_image_details() is True  # a failed read, scheduled again
            retry = ImageReadRetry.objects.get(digest=digest)
            assert (retry.attempts, retry.retry_at - timezone.now()) == (attempt, delay)
            assert "cannot reach the registry" in retry.error
            assert not ImageDetails.objects.exists()
            clock.shift(delay - dt.timedelta(seconds=1))
            assert next_unread_tag() is None  # not before its time
            assert worker.handle_one_image_details() is False
            clock.shift(dt.timedelta(seconds=1))
            assert next_unread_tag() is not None
        # The last attempt fails too: the reason is stored as a permanent failure, not retried again.
        assert worker.handle_one_image_details() is True
        assert not ImageReadRetry.objects.exists()
        details = ImageDetails.objects.get(digest=digest)
        assert f"did not answer in {MAX_ATTEMPTS} attempts" in details.error
        clock.shift(dt.timedelta(days=30))
        assert next_unread_tag() is None


def test_an_image_waiting_for_its_retry_does_not_hold_up_the_others(world: World) -> None:
    world.registry.hostname = "127.0.0.1:1"
    world.registry.save()
    repository = Repository.objects.create(namespace=world.namespace, name="app")
    Tag.objects.create(repository=repository, name="old", digest="sha256:" + "a" * 64)
    Tag.objects.create(repository=repository, name="new", digest="sha256:" + "b" * 64)
    worker = Worker()
    assert worker.handle_one_image_details() and worker.handle_one_image_details()
    assert set(ImageReadRetry.objects.values_list("digest", flat=True)) == {"sha256:" + "a" * 64, "sha256:" + "b" * 64}
    assert worker.handle_one_image_details() is False


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RegistryUnavailable("timed out"), True),
        (RegistryError("answered 503", status=503), True),
        (RegistryError("answered 500", status=500), True),
        (RegistryError("answered 401", status=401), True),  # its trust in Portus's certificate, not the image
        (NotFound("gone", status=404), False),
        (RegistryError("answered 400", status=400), False),
        (RegistryError("config larger than the cap"), False),
        (RegistryError("config does not match its digest"), False),
    ],
)
def test_only_failures_that_say_nothing_about_the_image_are_retried(error: RegistryError, transient: bool) -> None:
    assert is_transient(error) is transient


def test_the_step_is_off_with_the_registry_tasks(world: World, portus_config: object) -> None:
    portus_config("background.registry.enabled", False)  # type: ignore[operator]
    repository = Repository.objects.create(namespace=world.namespace, name="app")
    Tag.objects.create(repository=repository, name="v1", digest="sha256:" + "a" * 64)
    assert Worker().handle_one_image_details() is False
