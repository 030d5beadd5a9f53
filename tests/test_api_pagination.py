"""Paging headers, Link, and a query count that does not grow with the page size."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from portus.accounts.actions import create_token
from portus.registry.actions import create_namespace, create_registry, create_team
from portus.registry.models import Comment, Repository, Star, Tag
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


@pytest.fixture
def many(world):  # type: ignore[no-untyped-def]
    Repository.objects.bulk_create(Repository(namespace=world.namespace, name=f"app{i:02d}") for i in range(45))
    repos = list(Repository.objects.all())
    Tag.objects.bulk_create(
        Tag(repository=r, name=f"v{j}", digest=f"sha256:{r.pk:032d}{j:032d}", author=world.owner)
        for r in repos
        for j in range(3)
    )
    Star.objects.bulk_create(Star(user=world.viewer, repository=r) for r in repos[::2])
    Comment.objects.bulk_create(Comment(repository=repos[0], author=world.viewer, body=f"c{i}") for i in range(40))
    Star.objects.bulk_create(Star(user=world.admin, repository=r) for r in repos[::3])
    for i in range(30):
        create_namespace(name=f"ns{i:02d}", team=world.team, actor=world.owner)
    for i in range(4):
        create_team(name=f"team{i}", owner=world.viewer, actor=world.viewer)
        create_registry(name=f"registry{i}", hostname=f"registry{i}.test")
        create_token(user=world.viewer, name=f"token{i}", actor=world.viewer)
    return repos


def links(header: str) -> dict[str, dict[str, list[str]]]:
    found = {}
    for part in header.split(","):
        url, rel = part.split(";")
        found[rel.strip().split('"')[1]] = parse_qs(urlparse(url.strip()[1:-1]).query)
    return found


def test_headers_describe_the_pages(api: Api, many) -> None:  # type: ignore[no-untyped-def]
    answer = api.get("repositories", "viewer", page=2, per_page=20, q="app")
    assert len(answer.body) == 20
    h = answer.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Per-Page"]) == (
        "45",
        "3",
        "2",
        "20",
    )
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    rels = links(h["Link"])
    assert rels["next"]["page"] == ["3"] and rels["prev"]["page"] == ["1"]
    assert rels["last"]["page"] == ["3"] and rels["first"]["page"] == ["1"]
    assert rels["next"]["q"] == ["app"], "filters are kept in the links"
    last = api.get("repositories", "viewer", page=3, per_page=20)
    assert len(last.body) == 5 and last.headers["X-Next-Page"] == ""


def test_default_page_size_comes_from_the_configuration(api: Api, many, portus_config) -> None:  # type: ignore[no-untyped-def]
    assert len(api.get("repositories", "viewer").body) == 20
    portus_config("pagination.per_page", 7)
    assert api.get("repositories", "viewer").headers["X-Per-Page"] == "7"


def test_page_beyond_the_end_is_empty_and_too_large_a_page_size_is_refused(api: Api, many) -> None:  # type: ignore[no-untyped-def]
    beyond = api.get("repositories", "viewer", page=99)
    assert beyond.status == 200 and beyond.body == []
    assert beyond.headers["X-Prev-Page"] == "3"
    too_big = api.get("repositories", "viewer", per_page=1000)
    assert too_big.status == 422
    assert "per_page" in too_big.body["message"]


def test_all_pages_together_hold_every_item_once(api: Api, many) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    page = 1
    while page:
        answer = api.get("repositories", "viewer", page=page, per_page=7)
        seen += [r["id"] for r in answer.body]
        page = int(answer.headers["X-Next-Page"] or 0)
    assert sorted(seen) == sorted(r.pk for r in many)


LIST_ENDPOINTS: list[tuple[str, dict[str, str]]] = [
    ("repositories", {}),
    ("namespaces", {}),
    ("teams", {}),
    ("activities", {}),
    ("stars", {}),
    ("users", {}),
    ("registries", {}),
    ("repositories/{first}/tags", {}),
    ("repositories/{first}/tags/grouped", {}),
    ("repositories/{first}/comments", {}),
    ("namespaces/acme/repositories", {}),
    ("users/viewer/application_tokens", {}),
]


@pytest.mark.parametrize("path,params", LIST_ENDPOINTS)
@pytest.mark.parametrize("persona", ["admin", "viewer"])
def test_query_count_does_not_grow_with_page_size(  # type: ignore[no-untyped-def]
    api: Api, many, persona: str, path: str, params: dict[str, str], django_assert_max_num_queries
) -> None:
    if persona == "admin" and path.startswith("users/viewer"):
        persona = "viewer"  # only the owner reads their tokens
    if persona == "viewer" and path == "users":
        persona = "admin"
    url = path.format(first=many[0].pk)
    small = api.get(url, persona, per_page=2)
    assert small.status == 200 and len(small.body) == 2, (url, small.text[:200])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as at_two:
        api.get(url, persona, per_page=2)
    with django_assert_max_num_queries(len(at_two.captured_queries)):
        large = api.get(url, persona, per_page=40)
    assert len(large.body) > 2
