"""Queries behind a page do not grow with its rows: 2,000 tags, 10,000 repositories."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portus.registry.models import Repository, Star, Tag
from tests.conftest import World
from tests.support.web import client_as

pytestmark = pytest.mark.django_db

# Session, user, the object, the policy's role look-ups, counts, one page and its rows: a handful.
CEILING = 20


def fill_tags(repository: Repository, count: int, start: int = 0) -> None:
    # Two tags per image, so grouping by digest has work to do.
    Tag.objects.bulk_create(
        Tag(
            repository=repository,
            name=f"t{i}",
            digest=f"sha256:{i // 2:064x}",
            size=i,
            platforms=["linux/amd64"],
            author_id=repository.namespace.team.memberships.first().user_id if repository.namespace.team else None,
        )
        for i in range(start, start + count)
    )


def fill_repositories(namespace: object, count: int, start: int = 0) -> None:
    Repository.objects.bulk_create(
        Repository(namespace=namespace, name=f"repo-{i:05d}") for i in range(start, start + count)
    )


def queries_for(get: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = get()
    assert response.status_code == 200  # type: ignore[attr-defined]
    return len(captured)


def test_repository_page_queries_do_not_grow_from_20_to_2000_tags(world: World, django_assert_max_num_queries) -> None:
    repository = Repository.objects.create(namespace=world.namespace, name="big")
    fill_tags(repository, 20)
    Star.objects.create(user=world.viewer, repository=repository)
    client = client_as(world, "viewer")
    url = f"/repositories/{repository.pk}/"
    client.get(url)  # warm the session
    small = queries_for(lambda: client.get(url))
    assert small <= CEILING
    fill_tags(repository, 1980, start=20)
    with django_assert_max_num_queries(small):
        response = client.get(url)
    assert response.context["page_obj"].paginator.count == 1000  # 2,000 tags on 1,000 images


def test_namespace_page_queries_do_not_grow_from_30_to_10000_repositories(
    world: World, django_assert_max_num_queries
) -> None:
    fill_repositories(world.namespace, 30)
    client = client_as(world, "contributor")
    url = f"/namespaces/{world.namespace.pk}/"
    client.get(url)
    small = queries_for(lambda: client.get(url))
    assert small <= CEILING
    fill_repositories(world.namespace, 9970, start=30)
    with django_assert_max_num_queries(small):
        response = client.get(url, {"page": 7})
    assert response.context["page_obj"].paginator.count == 10_000


@pytest.mark.parametrize("url", ["/", "/explore/", "/namespaces/", "/teams/", "/search/?q=repo"])
def test_list_pages_queries_do_not_grow_with_repositories(
    world: World, url: str, django_assert_max_num_queries
) -> None:
    world.namespace.visibility = "public"
    world.namespace.save()
    fill_repositories(world.namespace, 10)
    client = client_as(world, "owner")
    client.get(url)
    small = queries_for(lambda: client.get(url))
    assert small <= CEILING
    fill_repositories(world.namespace, 500, start=10)
    for repository in Repository.objects.all()[:50]:
        fill_tags(repository, 2, start=repository.pk * 10)
    with django_assert_max_num_queries(small):
        client.get(url)
