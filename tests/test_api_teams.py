"""/api/v1/teams: teams, members and the team's namespaces."""

from __future__ import annotations

from portus.registry.models import Role, Team, TeamMembership
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


def test_members_see_their_teams_with_their_role_and_outsiders_see_none(api: Api) -> None:
    mine = api.get("teams", "contributor").body
    assert [(t["name"], t["role"], t["member_count"], t["namespace_count"]) for t in mine] == [
        ("acme", "contributor", 3, 1)
    ]
    assert api.get("teams", "outsider").body == []
    assert [t["name"] for t in api.get("teams", "admin").body] == ["acme"]


def test_creating_a_team_makes_the_caller_owner(api: Api) -> None:
    created = api.post("teams", {"name": "devs", "description": "Developers"}, "outsider")
    assert created.status == 201
    assert created.body["role"] == "owner"
    assert TeamMembership.objects.get(team__name="devs").user.username == "outsider"


def test_only_admins_create_teams_for_someone_else(api: Api) -> None:
    assert api.post("teams", {"name": "ops", "owner": "viewer"}, "outsider").status == 403
    created = api.post("teams", {"name": "ops", "owner": "viewer"})
    assert created.status == 201
    assert Team.objects.get(name="ops").memberships.get().user.username == "viewer"


def test_team_name_must_be_valid_and_free(api: Api) -> None:
    assert api.post("teams", {"name": "acme"}, "owner").status == 400
    bad = api.post("teams", {"name": "Not Valid"}, "owner")
    assert bad.status == 400 and "not a valid team name" in bad.body["message"]


def test_owner_renames_and_describes_the_team(api: Api) -> None:
    answer = api.put("teams/acme", {"name": "acme-corp", "description": "Acme"}, "owner")
    assert answer.status == 200
    assert (answer.body["name"], answer.body["description"]) == ("acme-corp", "Acme")
    assert api.get("teams/acme-corp", "viewer").status == 200


def test_owner_manages_members(api: Api) -> None:
    added = api.post("teams/acme/members", {"user": "outsider", "role": "viewer"}, "owner")
    assert added.status == 201 and added.body["username"] == "outsider"
    assert api.get("teams/acme", "outsider").status == 200  # now a member, so visible
    promoted = api.put("teams/acme/members/outsider", {"role": "owner"}, "owner")
    assert promoted.body["role"] == "owner"
    assert api.delete("teams/acme/members/owner", "outsider").status == 204
    members = {m["username"]: m["role"] for m in api.get("teams/acme/members", "viewer").body}
    assert members == {"contributor": "contributor", "outsider": "owner", "viewer": "viewer"}


def test_team_keeps_an_owner(api: Api) -> None:
    answer = api.put("teams/acme/members/owner", {"role": "viewer"}, "owner")
    assert answer.status == 400
    assert "keep an owner" in answer.body["message"]
    assert TeamMembership.objects.get(user__username="owner").role == Role.OWNER


def test_unknown_role_is_a_validation_error(api: Api) -> None:
    answer = api.post("teams/acme/members", {"user": "outsider", "role": "king"}, "owner")
    assert answer.status == 422
    assert "role" in answer.body["message"]


def test_adding_an_unknown_user_says_so(api: Api) -> None:
    answer = api.post("teams/acme/members", {"user": "nobody", "role": "viewer"}, "owner")
    assert answer.status == 400
    assert "nobody" in answer.body["message"]


def test_team_with_namespaces_cannot_be_deleted(api: Api) -> None:
    answer = api.delete("teams/acme", "owner")
    assert answer.status == 400
    assert "namespaces" in answer.body["message"]
    assert api.delete("namespaces/acme", "owner").status == 204
    assert api.delete("teams/acme", "owner").status == 204


def test_team_namespaces_are_listed(api: Api) -> None:
    assert [n["name"] for n in api.get("teams/acme/namespaces", "viewer").body] == ["acme"]
