"""The two deletion actions every path uses (pages, API, registry events, sync): tags, then repositories."""

from __future__ import annotations

import pytest

from portus.registry.actions import delete_repository, delete_tags
from portus.registry.models import Activity, Repository, Star, Tag
from tests.conftest import World
from tests.support.web import add_repository

ONE = "sha256:" + "1" * 64
TWO = "sha256:" + "2" * 64


@pytest.fixture
def app(world: World) -> Repository:
    return add_repository(world.namespace, "app", {"v1": ONE, "latest": ONE, "v2": TWO})


def lines() -> list[tuple[str, str, dict[str, object]]]:
    found = Activity.objects.filter(action__startswith="repository.delete").order_by("id")
    return [(a.action, a.target, a.data) for a in found]


def test_deleting_some_tags_records_one_line_each_and_keeps_the_repository(world: World, app: Repository) -> None:
    deletion = delete_tags(repository=app, tags=app.tags.filter(digest=ONE).order_by("name"), actor=world.owner)
    assert [t.name for t in deletion.tags] == ["latest", "v1"]
    assert deletion.repository_deleted is False
    assert list(app.tags.values_list("name", flat=True)) == ["v2"]
    assert lines() == [
        ("repository.delete_tag", "acme/app:latest", {"digest": ONE}),
        ("repository.delete_tag", "acme/app:v1", {"digest": ONE}),
    ]
    assert set(Activity.objects.values_list("actor", flat=True).filter(action="repository.delete_tag")) == {
        world.owner.pk
    }


def test_deleting_the_last_tags_removes_the_repository_with_its_own_line(world: World, app: Repository) -> None:
    deletion = delete_tags(repository=app, tags=app.tags.order_by("name"), actor=world.owner)
    assert deletion.repository_deleted is True
    assert not Repository.objects.filter(pk=app.pk).exists()
    assert lines()[-1] == ("repository.delete", "acme/app", {})
    assert Activity.objects.get(action="repository.delete").namespace == world.namespace


def test_a_deletion_that_matches_no_tag_changes_nothing(world: World, app: Repository) -> None:
    deletion = delete_tags(repository=app, tags=app.tags.filter(name="missing"), actor=world.owner)
    assert (deletion.tags, deletion.repository_deleted) == ([], False)
    assert app.tags.count() == 3 and lines() == []


def test_registry_events_and_sync_say_where_the_deletion_came_from(world: World, app: Repository) -> None:
    delete_tags(repository=app, tags=app.tags.filter(name="v2"), actor=None, via="sync")
    delete_tags(repository=app, tags=app.tags.all(), actor=world.contributor, via="registry", event="ev-7")
    assert lines() == [
        ("repository.delete_tag", "acme/app:v2", {"digest": TWO, "via": "sync"}),
        ("repository.delete_tag", "acme/app:latest", {"digest": ONE, "via": "registry", "event": "ev-7"}),
        ("repository.delete_tag", "acme/app:v1", {"digest": ONE, "via": "registry", "event": "ev-7"}),
        ("repository.delete", "acme/app", {"via": "registry", "event": "ev-7"}),
    ]
    assert Activity.objects.filter(action="repository.delete_tag", actor=None).count() == 1


def test_a_tag_of_another_repository_is_refused_and_nothing_is_deleted(world: World, app: Repository) -> None:
    other = add_repository(world.namespace, "other", {"v1": ONE})
    mixed = [app.tags.get(name="v1"), other.tags.get(name="v1")]
    with pytest.raises(ValueError, match="acme/other:v1 is not a tag of acme/app"):
        delete_tags(repository=app, tags=mixed, actor=world.owner)
    assert app.tags.count() == 3 and other.tags.count() == 1  # one transaction: the first tag is back
    assert lines() == []


def test_deleting_a_repository_takes_its_tags_and_stars_in_one_line(world: World, app: Repository) -> None:
    Star.objects.create(user=world.viewer, repository=app)
    delete_repository(repository=app, actor=world.owner)
    assert not Repository.objects.filter(pk=app.pk).exists()
    assert not Tag.objects.filter(repository_id=app.pk).exists() and not Star.objects.exists()
    assert lines() == [("repository.delete", "acme/app", {})]
