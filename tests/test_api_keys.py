"""A {key} or a body field is a name, or "id:N" for an id: a user named "5" is never user 5, nor the reverse."""

from __future__ import annotations

from portus.accounts.actions import create_user
from portus.accounts.models import User
from portus.api.params import find_by_key, key_id
from portus.registry.actions import create_namespace, create_team
from portus.registry.models import Namespace, Team, TeamMembership
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD


def digit_named_user(api: Api) -> User:
    """A user whose name is the id of another user (the outsider)."""
    return create_user(username=str(api.world.outsider.pk), password=PASSWORD)


def test_adding_member_by_a_numeric_name_adds_the_user_with_that_name_not_that_id(api: Api) -> None:
    named = digit_named_user(api)

    answer = api.post("teams/acme/members", {"user": str(api.world.outsider.pk), "role": "viewer"}, "owner")

    assert answer.status == 201 and answer.body["user_id"] == named.pk
    assert not TeamMembership.objects.filter(team=api.world.team, user=api.world.outsider).exists()


def test_adding_member_by_id_needs_the_explicit_id_form(api: Api) -> None:
    answer = api.post("teams/acme/members", {"user": f"id:{api.world.outsider.pk}", "role": "viewer"}, "owner")

    assert answer.status == 201 and answer.body["username"] == "outsider"


def test_a_bare_number_that_names_nobody_no_longer_picks_the_user_with_that_id(api: Api) -> None:
    answer = api.post("teams/acme/members", {"user": str(api.world.outsider.pk), "role": "viewer"}, "owner")

    assert answer.status == 400 and "id:N" in answer.body["message"]
    assert not TeamMembership.objects.filter(team=api.world.team, user=api.world.outsider).exists()


def test_user_paths_read_a_number_as_a_name_and_id_n_as_an_id(api: Api) -> None:
    named = digit_named_user(api)

    assert api.get(f"users/{api.world.outsider.pk}").body["id"] == named.pk
    assert api.get(f"users/id:{api.world.outsider.pk}").body["username"] == "outsider"
    assert api.get(f"users/id:{named.pk}").body["username"] == named.username


def test_member_paths_read_a_number_as_a_name(api: Api) -> None:
    named = digit_named_user(api)
    api.post("teams/acme/members", {"user": f"id:{api.world.outsider.pk}", "role": "viewer"}, "owner")
    api.post("teams/acme/members", {"user": named.username, "role": "viewer"}, "owner")

    changed = api.put(f"teams/acme/members/{named.username}", {"role": "contributor"}, "owner")

    assert changed.status == 200 and changed.body["user_id"] == named.pk
    assert TeamMembership.objects.get(team=api.world.team, user=api.world.outsider).role == "viewer"
    assert api.delete(f"teams/acme/members/id:{api.world.outsider.pk}", "owner").status == 204
    assert TeamMembership.objects.filter(team=api.world.team, user=named).exists()


def test_team_and_namespace_paths_read_a_number_as_a_name(api: Api) -> None:
    other = create_team(name="other", owner=api.world.owner, actor=api.world.owner)
    numeric_team = create_team(name=str(other.pk), owner=api.world.owner, actor=api.world.owner)
    namespace = create_namespace(name=str(api.world.namespace.pk), team=other, actor=api.world.owner)

    assert api.get(f"teams/{other.pk}", "owner").body["id"] == numeric_team.pk
    assert api.get(f"teams/id:{other.pk}", "owner").body["name"] == "other"
    assert api.get(f"namespaces/{api.world.namespace.pk}", "owner").body["id"] == namespace.pk
    assert api.get(f"namespaces/id:{api.world.namespace.pk}", "owner").body["name"] == "acme"


def test_the_global_namespace_is_reached_by_its_id(api: Api) -> None:
    global_namespace = Namespace.objects.get(kind="global")

    assert api.get(f"namespaces/id:{global_namespace.pk}").body["kind"] == "global"


def test_malformed_id_keys_find_nothing(api: Api) -> None:
    for key in ("id:", "id:abc", "id:-1", "id:1.0", "id:" + "9" * 19, "id:\u0665"):
        assert key_id(key) is None, key
        assert find_by_key(Team.objects.all(), key) is None, key
        assert api.get(f"teams/{key}").status == 404, key
