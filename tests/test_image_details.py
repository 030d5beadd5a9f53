"""Image details without a registry: what a config blob gives, and the worker's step when the registry
cannot answer."""

from __future__ import annotations

import datetime as dt

import pytest

from portus.background.worker import Worker
from portus.registry.images import config_fields, next_unread_tag
from portus.registry.models import ImageDetails, Repository, Tag
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


def test_a_registry_that_cannot_answer_leaves_the_image_to_read_later(world: World) -> None:
    world.registry.hostname = "127.0.0.1:1"  # nothing listens there
    world.registry.save()
    repository = Repository.objects.create(namespace=world.namespace, name="app")
    Tag.objects.create(repository=repository, name="v1", digest="sha256:" + "a" * 64)
    worker = Worker()
    assert worker.handle_one_image_details() is False  # not busy: the worker waits a poll interval
    assert not ImageDetails.objects.exists()
    assert next_unread_tag() is not None


def test_the_step_is_off_with_the_registry_tasks(world: World, portus_config: object) -> None:
    portus_config("background.registry.enabled", False)  # type: ignore[operator]
    repository = Repository.objects.create(namespace=world.namespace, name="app")
    Tag.objects.create(repository=repository, name="v1", digest="sha256:" + "a" * 64)
    assert Worker().handle_one_image_details() is False
