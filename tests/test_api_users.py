"""/api/v1/users: listing, showing, creating, updating, deleting users, and bootstrap."""

from __future__ import annotations

from django.test import Client

from portus.accounts.models import User
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD


def test_admin_lists_users_filtered_and_sorted(api: Api) -> None:
    answer = api.get("users", sort="-username", per_page=3)
    assert answer.status == 200
    assert [u["username"] for u in answer.body] == ["viewer", "owner", "outsider"]
    assert answer.headers["X-Total"] == "6"  # five personas and the disabled user
    disabled = api.get("users", enabled="false")
    assert [u["username"] for u in disabled.body] == ["disabled"]
    assert [u["username"] for u in api.get("users", q="contrib").body] == ["contributor"]
    assert [u["username"] for u in api.get("users", admin="true").body] == ["admin"]


def test_user_shows_personal_namespace_id(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    body = api.get("users/owner", "owner").body
    assert body["namespace_id"] == world.owner.personal_namespace.pk
    assert body == api.get(f"users/id:{world.owner.pk}", "owner").body


def test_admin_creates_a_user_who_can_then_sign_in(api: Api) -> None:
    answer = api.post("users", {"username": "newbie", "email": "n@example.com", "password": PASSWORD})
    assert answer.status == 201, answer.body
    assert answer.body["username"] == "newbie" and not answer.body["admin"]
    assert Client().login(username="newbie", password=PASSWORD)


def test_creating_a_user_twice_is_refused_with_a_reason(api: Api) -> None:
    answer = api.post("users", {"username": "owner", "password": PASSWORD})
    assert answer.status == 400
    assert "already exists" in answer.body["message"]


def test_invalid_user_name_and_weak_password_are_refused(api: Api) -> None:
    assert api.post("users", {"username": "Bad Name", "password": PASSWORD}).status == 400
    weak = api.post("users", {"username": "weak", "password": "short"})
    assert weak.status == 400
    assert "short" in weak.body["message"]


def test_person_needs_a_password_but_a_bot_does_not(api: Api) -> None:
    assert api.post("users", {"username": "person"}).status == 400
    bot = api.post("users", {"username": "robot", "bot": True})
    assert bot.status == 201 and bot.body["bot"]


def test_missing_field_is_a_422_with_a_message(api: Api) -> None:
    answer = api.post("users", {"email": "x@example.com"})
    assert answer.status == 422
    assert "username" in answer.body["message"]


def test_user_changes_own_profile_and_password(api: Api) -> None:
    answer = api.browser("viewer").put(
        "users/viewer",
        {
            "display_name": "Vera",
            "email": "v@example.com",
            "password": "a-new-secret-42",
            "current_password": PASSWORD,
        },
        None,
    )
    assert answer.status == 200
    assert (answer.body["display_name"], answer.body["email"]) == ("Vera", "v@example.com")
    assert Client().login(username="viewer", password="a-new-secret-42")


def test_admin_disables_a_user_whose_token_then_stops_working(api: Api) -> None:
    assert api.get("users/viewer", "viewer").status == 200
    assert api.put("users/viewer", {"enabled": False}).body["enabled"] is False
    assert api.get("users/viewer", "viewer").status == 401


def test_last_admin_cannot_remove_their_own_admin_flag(api: Api) -> None:
    answer = api.put("users/admin", {"admin": False})
    assert answer.status == 400
    assert "last" in answer.body["message"]
    assert User.objects.get(username="admin").admin


def test_admin_deletes_a_user(api: Api) -> None:
    assert api.delete("users/outsider").status == 204
    assert not User.objects.filter(username="outsider").exists()
    assert api.get("users/outsider").status == 404


def test_bootstrap_creates_the_first_admin_and_returns_a_working_token(db: None) -> None:
    client = Client()
    answer = client.post(
        "/api/v1/users/bootstrap",
        {"username": "root", "password": PASSWORD},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["user"]["admin"] is True
    me = client.get("/api/v1/users/root", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    again = client.post(
        "/api/v1/users/bootstrap",
        {"username": "second", "password": PASSWORD},
        content_type="application/json",
    )
    assert again.status_code == 403
    assert "without users" in again.json()["message"]


def test_bootstrap_is_refused_when_first_user_admin_is_off(db: None, portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("first_user_admin.enabled", False)
    answer = Client().post(
        "/api/v1/users/bootstrap",
        {"username": "root", "password": PASSWORD},
        content_type="application/json",
    )
    assert answer.status_code == 403
    assert not User.objects.exists()
