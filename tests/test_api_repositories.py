"""/api/v1/repositories and /api/v1/tags: visibility, tags, grouping by digest, deletion."""

from __future__ import annotations

import pytest

from portus.registry.actions import change_visibility, create_namespace
from portus.registry.models import Activity, Repository, Tag
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


@pytest.fixture
def repos(world):  # type: ignore[no-untyped-def]
    app = Repository.objects.create(namespace=world.namespace, name="app")
    Tag.objects.create(
        repository=app,
        name="v1",
        digest=DIGEST_A,
        size=100,
        platforms=["linux/amd64"],
        author=world.contributor,
    )
    Tag.objects.create(repository=app, name="latest", digest=DIGEST_A, size=100, platforms=["linux/amd64"])
    Tag.objects.create(
        repository=app,
        name="v0",
        digest=DIGEST_B,
        size=50,
        pushed_at=app.created_at.replace(year=2020),
    )
    public = create_namespace(name="open", team=world.team, visibility="public", actor=world.owner)
    tool = Repository.objects.create(namespace=public, name="group/tool")
    mine = Repository.objects.create(namespace=world.outsider.personal_namespace, name="secret")
    return {"app": app, "tool": tool, "mine": mine}


def full_names(answer) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["full_name"] for r in answer.body]


def test_each_persona_lists_what_they_may_pull(api: Api, repos) -> None:  # type: ignore[no-untyped-def]
    assert full_names(api.get("repositories", "anonymous")) == ["open/group/tool"]
    assert full_names(api.get("repositories", "viewer")) == ["acme/app", "open/group/tool"]
    assert full_names(api.get("repositories", "outsider")) == ["open/group/tool", "outsider/secret"]
    assert full_names(api.get("repositories", "admin")) == [
        "acme/app",
        "open/group/tool",
        "outsider/secret",
    ]


def test_repository_shows_counts_and_star_for_the_caller(api: Api, repos) -> None:  # type: ignore[no-untyped-def]
    app = repos["app"]
    api.post(f"repositories/{app.pk}/star", persona="viewer")
    body = api.get(f"repositories/{app.pk}", "viewer").body
    assert (body["tag_count"], body["star_count"], body["starred"]) == (3, 1, True)
    assert body["registry"] == "registry.test"
    assert api.get(f"repositories/{app.pk}", "owner").body["starred"] is False


def test_filter_by_full_name_and_by_words(api: Api, repos) -> None:  # type: ignore[no-untyped-def]
    assert full_names(api.get("repositories", full_name="open/group/tool")) == ["open/group/tool"]
    assert full_names(api.get("repositories", q="secr")) == ["outsider/secret"]
    assert full_names(api.get("repositories", sort="-name")) == [
        "outsider/secret",
        "open/group/tool",
        "acme/app",
    ]


def test_tags_are_listed_newest_first_and_filtered(api: Api, repos) -> None:  # type: ignore[no-untyped-def]
    app = repos["app"]
    tags = api.get(f"repositories/{app.pk}/tags", "viewer").body
    assert [t["name"] for t in tags][-1] == "v0"
    assert {t["name"] for t in tags} == {"v1", "latest", "v0"}
    v1 = next(t for t in tags if t["name"] == "v1")
    assert (v1["author"], v1["repository"], v1["platforms"]) == (
        "contributor",
        "acme/app",
        ["linux/amd64"],
    )
    by_digest = api.get(f"repositories/{app.pk}/tags", "viewer", digest=DIGEST_B).body
    assert [t["name"] for t in by_digest] == ["v0"]
    assert [t["name"] for t in api.get(f"repositories/{app.pk}/tags", sort="name").body] == [
        "latest",
        "v0",
        "v1",
    ]


def test_tags_grouped_by_digest(api: Api, repos) -> None:  # type: ignore[no-untyped-def]
    groups = api.get(f"repositories/{repos['app'].pk}/tags/grouped", "viewer").body
    assert [(g["digest"], g["tags"], g["size"]) for g in groups] == [
        (DIGEST_A, ["latest", "v1"], 100),
        (DIGEST_B, ["v0"], 50),
    ]
    assert groups[0]["platforms"] == ["linux/amd64"]


def test_tag_delete_is_refused_when_off_and_keeps_the_tag_when_the_registry_is_unreachable(
    api: Api,
    repos,
    portus_config,  # type: ignore[no-untyped-def]
) -> None:
    tag = repos["app"].tags.get(name="v1")
    assert api.get(f"tags/{tag.pk}", "viewer").body["digest"] == DIGEST_A
    refused = api.delete(f"tags/{tag.pk}", "owner")
    assert refused.status == 403  # deletion is off by default
    portus_config("delete.enabled", True)
    # The registry of these tests does not run: the image must go there first, so nothing goes.
    unreachable = api.delete(f"tags/{tag.pk}", "owner")
    assert unreachable.status == 502
    assert "Cannot reach the registry" in unreachable.body["message"]
    assert Tag.objects.filter(pk=tag.pk).exists()
    assert not Activity.objects.filter(action="repository.delete_tag").exists()


def test_contributor_deletes_only_when_contributors_may(api: Api, repos, portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("delete.enabled", True)
    app = repos["app"]
    assert api.delete(f"repositories/{app.pk}", "contributor").status == 403
    portus_config("delete.contributors", True)
    # Allowed now: it gets as far as the (unreachable) registry, and nothing is deleted.
    assert api.delete(f"repositories/{app.pk}", "contributor").status == 502
    assert Repository.objects.filter(pk=app.pk).exists()


def test_contributor_describes_a_repository(api: Api, repos) -> None:  # type: ignore[no-untyped-def]
    app = repos["app"]
    answer = api.put(f"repositories/{app.pk}", {"description": "# The app"}, "contributor")
    assert answer.status == 200
    assert Repository.objects.get(pk=app.pk).description == "# The app"


def test_making_a_namespace_private_hides_its_repositories_again(api: Api, repos, world) -> None:  # type: ignore[no-untyped-def]
    tool = repos["tool"]
    assert api.get(f"repositories/{tool.pk}", "anonymous").status == 200
    change_visibility(namespace=tool.namespace, visibility="private", actor=world.owner)
    assert api.get(f"repositories/{tool.pk}", "anonymous").status == 404
    assert api.get(f"repositories/{tool.pk}", "outsider").status == 404


def test_unknown_ids_are_404_and_absurd_ids_422(api: Api) -> None:
    assert api.get("repositories/999999").status == 404
    assert api.get("tags/999999").status == 404
    assert api.get("repositories/0").status == 422
    assert api.get("repositories/99999999999999999999999").status == 422
