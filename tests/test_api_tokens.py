"""/api/v1/users/{user}/application_tokens: own tokens; admins also manage bots' tokens."""

from __future__ import annotations

from portus.accounts.actions import create_user
from portus.accounts.models import ApplicationToken
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


def test_user_creates_a_token_shown_once_that_then_signs_in(api: Api) -> None:
    created = api.browser("viewer").post("users/viewer/application_tokens", {"name": "laptop"}, None)
    assert created.status == 201
    secret = created.body["token"]
    assert secret.startswith(created.body["hint"])
    assert not ApplicationToken.objects.filter(digest=secret).exists()  # stored as a digest only
    listed = api.get("users/viewer/application_tokens", "viewer").body
    assert {"laptop", "api-tests"} <= {t["name"] for t in listed}
    assert all("token" not in t for t in listed)
    me = api.call("get", "users/viewer", None, headers={"Authorization": f"Bearer {secret}"})
    assert me.status == 200


def test_revoking_a_token_stops_it_at_once(api: Api) -> None:
    created = api.browser("viewer").post("users/viewer/application_tokens", {"name": "ci"}, None).body
    assert api.delete(f"users/viewer/application_tokens/{created['id']}", "viewer").status == 204
    refused = api.call("get", "users/viewer", None, headers={"Authorization": f"Bearer {created['token']}"})
    assert refused.status == 401
    revoked = [t for t in api.get("users/viewer/application_tokens", "viewer").body if t["name"] == "ci"]
    assert revoked[0]["revoked"] is True


def test_token_names_are_unique_per_user(api: Api) -> None:
    answer = api.browser("viewer").post("users/viewer/application_tokens", {"name": "api-tests"}, None)
    assert answer.status == 400
    assert "pick another name" in answer.body["message"]


def test_expiry_in_the_past_is_refused(api: Api) -> None:
    answer = api.browser("viewer").post(
        "users/viewer/application_tokens",
        {"name": "old", "expires_at": "2001-01-01T00:00:00Z"},
        None,
    )
    assert answer.status == 400
    assert "past" in answer.body["message"]


def test_admin_manages_a_bots_tokens_but_not_a_persons(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    create_user(username="deployer", bot=True, actor=world.admin)
    created = api.post("users/deployer/application_tokens", {"name": "deploy"})
    assert created.status == 201
    answer = api.call("get", "repositories", None, headers={"Portus-Auth": f"deployer:{created.body['token']}"})
    assert answer.status == 200
    assert api.post("users/owner/application_tokens", {"name": "sneaky"}).status == 403


def test_token_of_another_user_is_not_found_under_mine(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    owners = world.owner.application_tokens.get(name="api-tests")
    assert api.delete(f"users/viewer/application_tokens/{owners.pk}", "viewer").status == 404
    assert world.owner.application_tokens.get(pk=owners.pk).revoked_at is None
