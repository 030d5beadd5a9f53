"""Team pages: list, create, members and namespaces, roles, edit and delete, per persona."""

from __future__ import annotations

import pytest

from portus.registry.models import Team, TeamMembership
from tests.conftest import World
from tests.support.web import MEMBERS, PERSONAS, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def membership(world: World, username: str) -> TeamMembership:
    return TeamMembership.objects.get(team=world.team, user__username=username)


@pytest.mark.parametrize("persona", PERSONAS)
def test_team_page_is_for_members_and_admins(world: World, persona: str) -> None:
    response = client_as(world, persona).get(f"/teams/{world.team.pk}/")
    if persona == "anonymous":
        assert is_sign_in_redirect(response)
    elif persona in MEMBERS:
        assert response.status_code == 200
        assert [m.user.username for m in response.context["memberships"]] == [
            "contributor",
            "owner",
            "viewer",
        ]
    else:
        assert response.status_code == 404


def test_team_list_shows_only_my_teams_with_counts(world: World) -> None:
    teams = list(client_as(world, "viewer").get("/teams/").context["page_obj"])
    assert [(t.name, t.member_count, t.namespace_count) for t in teams] == [("acme", 3, 1)]
    assert list(client_as(world, "outsider").get("/teams/").context["page_obj"]) == []


def test_any_user_creates_a_team_and_owns_it(world: World) -> None:
    response = client_as(world, "outsider").post("/teams/new/", {"name": "newteam", "description": ""})
    team = Team.objects.get(name="newteam")
    assert response["Location"] == f"/teams/{team.pk}/"
    assert team.memberships.get().user == world.outsider


def test_team_creation_can_be_reserved_to_admins(world: World, portus_config) -> None:
    portus_config("user_permission.create_team.enabled", False)
    assert client_as(world, "outsider").post("/teams/new/", {"name": "nope"}).status_code == 403
    assert client_as(world, "admin").post("/teams/new/", {"name": "yes"}).status_code == 302


def test_team_name_errors_show_next_to_the_field(world: World) -> None:
    response = client_as(world, "owner").post("/teams/new/", {"name": "acme"})
    assert "already exists" in response.content.decode()


def test_owner_adds_a_member_as_contributor(world: World) -> None:
    response = client_as(world, "owner").post(
        f"/teams/{world.team.pk}/members/", {"username": "outsider", "role": "contributor"}
    )
    assert response.status_code == 302
    assert membership(world, "outsider").role == "contributor"


def test_adding_an_unknown_user_says_so_next_to_the_field(world: World) -> None:
    response = client_as(world, "owner").post(
        f"/teams/{world.team.pk}/members/", {"username": "ghost", "role": "viewer"}
    )
    assert response.status_code == 400 and "No enabled user has this name" in response.content.decode()


@pytest.mark.parametrize(("persona", "status"), [("contributor", 403), ("viewer", 403), ("outsider", 404)])
def test_non_owners_cannot_manage_members(world: World, persona: str, status: int) -> None:
    client = client_as(world, persona)
    assert client.post(f"/teams/{world.team.pk}/members/", {"username": "admin", "role": "owner"}).status_code == status
    viewer = membership(world, "viewer")
    assert client.post(f"/teams/{world.team.pk}/members/{viewer.pk}/role/", {"role": "owner"}).status_code == status
    assert client.post(f"/teams/{world.team.pk}/members/{viewer.pk}/remove/").status_code == status
    assert client.get(f"/teams/{world.team.pk}/edit/").status_code == status
    assert client.post(f"/teams/{world.team.pk}/delete/").status_code == status
    assert membership(world, "viewer").role == "viewer"


def test_role_change_with_htmx_answers_the_member_row(world: World) -> None:
    viewer = membership(world, "viewer")
    response = client_as(world, "owner").post(
        f"/teams/{world.team.pk}/members/{viewer.pk}/role/", {"role": "contributor"}, **HTMX
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="member-{viewer.pk}">') and "Saved." in body
    assert membership(world, "viewer").role == "contributor"


def test_the_last_owner_can_neither_be_demoted_nor_removed(world: World) -> None:
    owner = membership(world, "owner")
    client = client_as(world, "owner")
    demoted = client.post(f"/teams/{world.team.pk}/members/{owner.pk}/role/", {"role": "viewer"}, **HTMX)
    assert "must keep an owner" in demoted.content.decode()
    client.post(f"/teams/{world.team.pk}/members/{owner.pk}/remove/")
    assert membership(world, "owner").role == "owner"


def test_owner_removes_a_member(world: World) -> None:
    viewer = membership(world, "viewer")
    assert client_as(world, "owner").post(f"/teams/{world.team.pk}/members/{viewer.pk}/remove/").status_code == 302
    assert not TeamMembership.objects.filter(pk=viewer.pk).exists()


def test_membership_of_another_team_cannot_be_reached_through_mine(world: World) -> None:
    client_as(world, "outsider").post("/teams/new/", {"name": "theirs"})
    theirs = TeamMembership.objects.get(team__name="theirs")
    response = client_as(world, "owner").post(f"/teams/{world.team.pk}/members/{theirs.pk}/remove/")
    assert response.status_code == 404
    assert TeamMembership.objects.filter(pk=theirs.pk).exists()


def test_owner_edits_the_description(world: World) -> None:
    client_as(world, "owner").post(f"/teams/{world.team.pk}/edit/", {"description": "We build *things*"})
    world.team.refresh_from_db()
    assert world.team.description == "We build *things*"
    assert "<em>things</em>" in client_as(world, "viewer").get(f"/teams/{world.team.pk}/").content.decode()


def test_team_with_namespaces_is_not_deleted_and_an_empty_one_is(world: World) -> None:
    client = client_as(world, "owner")
    refused = client.post(f"/teams/{world.team.pk}/delete/")
    assert "still owns namespaces" in refused.content.decode()
    world.namespace.delete()
    assert client.post(f"/teams/{world.team.pk}/delete/").status_code == 302
    assert not Team.objects.filter(pk=world.team.pk).exists()


def test_a_refused_member_keeps_the_team_page_with_the_error_by_the_field(world: World) -> None:
    response = client_as(world, "owner").post(
        f"/teams/{world.team.pk}/members/", {"username": "viewer", "role": "viewer"}
    )
    body = response.content.decode()
    assert response.status_code == 400 and "already a member" in body and 'id="id_username_error"' in body
    assert [m.user.username for m in response.context["memberships"]] == ["contributor", "owner", "viewer"]


def test_role_change_without_javascript_says_so_and_returns_to_the_team(world: World) -> None:
    viewer = membership(world, "viewer")
    response = client_as(world, "owner").post(
        f"/teams/{world.team.pk}/members/{viewer.pk}/role/", {"role": "boss"}, follow=True
    )
    assert "Choose owner, contributor or viewer." in response.content.decode()
    assert membership(world, "viewer").role == "viewer"
