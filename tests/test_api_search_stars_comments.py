"""/api/v1/search, /stars and /repositories/{id}/comments."""

from __future__ import annotations

import pytest

from portus.registry.models import Comment, Repository, Star
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


@pytest.fixture
def app(world) -> Repository:  # type: ignore[no-untyped-def]
    return Repository.objects.create(namespace=world.namespace, name="app")


def test_search_finds_only_what_the_caller_may_see(api: Api, app: Repository) -> None:
    viewer = api.get("search", "viewer", q="a").body
    assert [r["full_name"] for r in viewer["repositories"]] == ["acme/app"]
    assert "acme" in [n["name"] for n in viewer["namespaces"]]
    assert [t["name"] for t in viewer["teams"]] == ["acme"]
    outsider = api.get("search", "outsider", q="a").body
    assert outsider["repositories"] == [] and outsider["teams"] == []
    assert "acme" not in [n["name"] for n in outsider["namespaces"]]


def test_search_needs_a_word(api: Api) -> None:
    assert api.get("search", "viewer").status == 422


def test_star_and_unstar_are_idempotent(api: Api, app: Repository) -> None:
    for _ in range(2):
        assert api.post(f"repositories/{app.pk}/star", persona="viewer").body["starred"] is True
    assert Star.objects.filter(repository=app).count() == 1
    assert [r["full_name"] for r in api.get("stars", "viewer").body] == ["acme/app"]
    for _ in range(2):
        assert api.delete(f"repositories/{app.pk}/star", "viewer").body["starred"] is False
    assert api.get("stars", "viewer").body == []


def test_stars_hide_repositories_the_user_no_longer_sees(api: Api, app: Repository, world) -> None:  # type: ignore[no-untyped-def]
    api.post(f"repositories/{app.pk}/star", persona="viewer")
    api.delete("teams/acme/members/viewer", "owner")
    assert api.get("stars", "viewer").body == []


def test_comments_are_written_listed_and_deleted_by_their_author(api: Api, app: Repository) -> None:
    created = api.post(f"repositories/{app.pk}/comments", {"body": "  Works on arm64 too  "}, "viewer")
    assert created.status == 201
    assert (created.body["author"], created.body["body"]) == ("viewer", "Works on arm64 too")
    listed = api.get(f"repositories/{app.pk}/comments", "contributor").body
    assert [c["body"] for c in listed] == ["Works on arm64 too"]
    assert api.delete(f"repositories/{app.pk}/comments/{created.body['id']}", "contributor").status == 403
    assert api.delete(f"repositories/{app.pk}/comments/{created.body['id']}", "viewer").status == 204
    assert not Comment.objects.exists()


def test_blank_comment_is_refused(api: Api, app: Repository) -> None:
    answer = api.post(f"repositories/{app.pk}/comments", {"body": "   "}, "viewer")
    assert answer.status == 400
    assert "empty" in answer.body["message"]


def test_comment_on_another_repository_is_not_found_through_this_one(api: Api, app: Repository, world) -> None:  # type: ignore[no-untyped-def]
    other = Repository.objects.create(namespace=world.namespace, name="other")
    comment = api.post(f"repositories/{other.pk}/comments", {"body": "hi"}, "viewer").body
    assert api.delete(f"repositories/{app.pk}/comments/{comment['id']}", "viewer").status == 404
