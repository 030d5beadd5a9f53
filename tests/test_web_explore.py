"""Explore (public repositories, anonymous browsing) and search (what a signed-in user may see)."""

from __future__ import annotations

import pytest

from portus.registry.actions import change_visibility, create_namespace, create_team
from tests.conftest import World
from tests.support.web import PERSONAS, add_repository, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_and_private(world: World) -> tuple[object, object]:
    team = create_team(name="oss", owner=world.owner, actor=world.owner)
    public = create_namespace(name="oss", team=team, visibility="public", actor=world.owner)
    return add_repository(public, "shiny"), add_repository(world.namespace, "hidden")


@pytest.mark.parametrize("persona", PERSONAS)
def test_explore_lists_public_repositories_only(world: World, public_and_private, persona: str) -> None:
    page = client_as(world, persona).get("/explore/")
    assert page.status_code == 200
    names = [repository.full_name for repository in page.context["page_obj"]]
    assert "oss/shiny" in names and "acme/hidden" not in names


def test_explore_search_filters_by_name(world: World, public_and_private) -> None:
    page = client_as(world, "anonymous").get("/explore/", {"q": "nothing-like-it"})
    assert list(page.context["page_obj"]) == []
    page = client_as(world, "anonymous").get("/explore/", {"q": "shin"})
    assert [r.full_name for r in page.context["page_obj"]] == ["oss/shiny"]


def test_anonymous_browsing_off_sends_visitors_to_sign_in(world: World, public_and_private, portus_config) -> None:
    portus_config("anonymous_browsing.enabled", False)
    shiny, _ = public_and_private
    anonymous = client_as(world, "anonymous")
    assert is_sign_in_redirect(anonymous.get("/explore/"))
    assert is_sign_in_redirect(anonymous.get(f"/repositories/{shiny.pk}/"))
    assert client_as(world, "outsider").get("/explore/").status_code == 200


def test_anonymous_visitor_opens_a_public_repository_but_not_a_private_one(world: World, public_and_private) -> None:
    shiny, hidden = public_and_private
    anonymous = client_as(world, "anonymous")
    assert anonymous.get(f"/repositories/{shiny.pk}/").status_code == 200
    assert anonymous.get(f"/repositories/{hidden.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("persona", "sees_private"),
    [
        ("admin", True),
        ("owner", True),
        ("contributor", True),
        ("viewer", True),
        ("outsider", False),
    ],
)
def test_search_finds_only_what_the_persona_may_see(
    world: World, public_and_private, persona: str, sees_private: bool
) -> None:
    page = client_as(world, persona).get("/search/", {"q": "acme"})
    assert page.status_code == 200
    found = {r.full_name for r in page.context["repositories"]}
    assert (found == {"acme/hidden"}) is sees_private
    assert bool(list(page.context["namespaces"])) is sees_private
    assert bool(list(page.context["teams"])) is sees_private
    assert ("acme/hidden" in page.content.decode()) is sees_private


def test_search_sees_protected_namespaces_of_other_teams(world: World) -> None:
    add_repository(world.namespace, "inner")
    change_visibility(namespace=world.namespace, visibility="protected", actor=world.owner)
    page = client_as(world, "outsider").get("/search/", {"q": "inner"})
    assert [r.full_name for r in page.context["repositories"]] == ["acme/inner"]
    assert list(page.context["teams"]) == []  # the team itself stays private to its members


def test_search_needs_an_account(world: World) -> None:
    assert is_sign_in_redirect(client_as(world, "anonymous").get("/search/", {"q": "a"}))
