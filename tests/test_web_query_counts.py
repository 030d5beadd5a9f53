"""The queries behind a page, pinned: each is listed, a new one fails, and none grows with the rows
(2,000 tags, 10,000 repositories)."""

from __future__ import annotations

import pytest

from portus.registry.models import Repository, Role, Star, Tag, Team, TeamMembership
from tests.conftest import World
from tests.support.web import client_as

pytestmark = pytest.mark.django_db

SESSION_AND_USER = 2  # django_session, then accounts_user: every signed-in page starts with these two

REPOSITORY_PAGE = SESSION_AND_USER + 8
# 3. the repository with its namespace, registry and team, and the caller's role in the team (a subquery)
# 4. the number of images (tags grouped by digest), for the paginator
# 5. the page of images: digests and their newest push
# 6. the page's tags, with their author and their image's platform (subqueries on image details)
# 7. the page's scan summaries
# 8. the tag for the pull command ("latest", else the newest)
# 9. the star count and whether the caller starred it
# 10. the comments with their authors

NAMESPACE_PAGE = SESSION_AND_USER + 4
# 3. the namespace with registry, team, owner, its repository count (the paginator's) and the caller's role
# 4. the activity chart (the daily roll-up)
# 5. the namespace's storage
# 6. the page of repositories with their tag and star counts

DASHBOARD = SESSION_AND_USER + 6
# 3. whether a registry exists, with the counts of repositories, namespaces, teams and stars (subqueries)
# 4. the recent activity with what its lines name
# 5. the activity chart
# 6.-8. the personal, team and starred repositories, with their counts

LIST_PAGES = {
    # 3. the count, 4. the page of public repositories
    "/explore/": SESSION_AND_USER + 2,
    # 3. may the user create a namespace in some team, 4. the count of others' namespaces (none here, so
    # their page is not read), 5.-7. the global, personal and team namespaces
    "/namespaces/": SESSION_AND_USER + 5,
    # 3. the count, 4. the page of teams with their member and namespace counts
    "/teams/": SESSION_AND_USER + 2,
    # 3.-5. matching repositories, namespaces and teams
    "/search/?q=repo": SESSION_AND_USER + 3,
}


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


def test_repository_page_queries_are_the_same_for_20_and_2000_tags(world: World, django_assert_num_queries) -> None:
    repository = Repository.objects.create(namespace=world.namespace, name="big")
    fill_tags(repository, 20)
    Star.objects.create(user=world.viewer, repository=repository)
    client = client_as(world, "viewer")
    url = f"/repositories/{repository.pk}/"
    client.get(url)  # warm the session
    with django_assert_num_queries(REPOSITORY_PAGE):
        assert client.get(url).status_code == 200
    fill_tags(repository, 1980, start=20)
    with django_assert_num_queries(REPOSITORY_PAGE):
        response = client.get(url)
    assert response.context["page_obj"].paginator.count == 1000  # 2,000 tags on 1,000 images
    assert response.context["starred"] and response.context["star_count"] == 1


def test_namespace_page_queries_are_the_same_for_30_and_10000_repositories(
    world: World, django_assert_num_queries
) -> None:
    fill_repositories(world.namespace, 30)
    client = client_as(world, "contributor")
    url = f"/namespaces/{world.namespace.pk}/"
    client.get(url)
    with django_assert_num_queries(NAMESPACE_PAGE):
        assert client.get(url).status_code == 200
    fill_repositories(world.namespace, 9970, start=30)
    with django_assert_num_queries(NAMESPACE_PAGE):
        response = client.get(url, {"page": 7})
    assert response.context["page_obj"].paginator.count == 10_000
    assert response.context["can_push"] and not response.context["can_manage"]  # a contributor


def test_dashboard_queries_are_the_same_for_10_and_510_repositories(world: World, django_assert_num_queries) -> None:
    fill_repositories(world.namespace, 10)
    client = client_as(world, "owner")
    client.get("/")
    with django_assert_num_queries(DASHBOARD):
        assert client.get("/").status_code == 200
    fill_repositories(world.namespace, 500, start=10)
    with django_assert_num_queries(DASHBOARD):
        response = client.get("/")
    assert response.context["counts"]["repositories"] >= 510


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_pages_queries_are_the_same_for_10_and_510_repositories_and_20_more_teams(
    world: World, url: str, django_assert_num_queries
) -> None:
    world.namespace.visibility = "public"
    world.namespace.save()
    fill_repositories(world.namespace, 10)
    client = client_as(world, "owner")
    client.get(url)
    with django_assert_num_queries(LIST_PAGES[url]):
        client.get(url)
    fill_repositories(world.namespace, 500, start=10)
    for repository in Repository.objects.all()[:50]:
        fill_tags(repository, 2, start=repository.pk * 10)
    teams = Team.objects.bulk_create(Team(name=f"more-{i}") for i in range(20))
    TeamMembership.objects.bulk_create(TeamMembership(team=team, user=world.owner, role=Role.VIEWER) for team in teams)
    with django_assert_num_queries(LIST_PAGES[url]):
        client.get(url)
