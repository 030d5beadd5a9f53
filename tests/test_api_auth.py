"""API authentication: Portus-Auth, Bearer tokens, the browser session with CSRF, and refusals."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.crypto import get_random_string

from portus.accounts.actions import create_token
from portus.registry.models import Activity
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD


def test_portus_auth_header_signs_in_with_user_and_token(api: Api) -> None:
    answer = api.call("get", "users/owner", None, headers={"Portus-Auth": f"owner:{api.tokens['owner']}"})
    assert answer.status == 200, answer.body
    assert answer.body["username"] == "owner"


def test_portus_auth_header_must_name_the_token_owner(api: Api) -> None:
    answer = api.call("get", "users/owner", None, headers={"Portus-Auth": f"viewer:{api.tokens['owner']}"})
    assert answer.status == 401
    assert "token" in answer.body["message"]


def test_portus_auth_header_without_colon_is_refused_with_a_hint(api: Api) -> None:
    answer = api.call("get", "users/owner", None, headers={"Portus-Auth": api.tokens["owner"]})
    assert answer.status == 401
    assert "USER:APPLICATION_TOKEN" in answer.body["message"]


def test_bearer_token_signs_in(api: Api) -> None:
    answer = api.get("users/contributor", "contributor")
    assert answer.status == 200
    assert answer.body["username"] == "contributor"


@pytest.mark.parametrize("persona", ["disabled", "revoked"])
def test_disabled_user_and_revoked_token_get_401(api: Api, persona: str) -> None:
    answer = api.get("repositories", persona)
    assert answer.status == 401
    assert answer.body["message"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_gets_401(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    import time_machine

    token, plain = create_token(
        user=world.viewer,
        name="short",
        actor=world.viewer,
        expires_at=__import__("django.utils.timezone").utils.timezone.now() + __import__("datetime").timedelta(hours=1),
    )
    api.tokens["short"] = plain
    assert api.get("users/viewer", "short").status == 200
    with time_machine.travel(token.expires_at + __import__("datetime").timedelta(seconds=1)):
        assert api.get("users/viewer", "short").status == 401


def test_basic_authorization_is_refused_with_the_schemes_to_use(api: Api) -> None:
    answer = api.call("get", "repositories", None, headers={"Authorization": "Basic b3duZXI6eA=="})
    assert answer.status == 401
    assert "Bearer" in answer.body["message"]


def test_unknown_bearer_token_gets_401(api: Api) -> None:
    answer = api.call("get", "repositories", None, headers={"Authorization": "Bearer prt_nonsense"})
    assert answer.status == 401


def test_browser_session_reads_without_csrf_but_writes_need_it(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="owner", password=PASSWORD)
    assert browser.get("/api/v1/users/owner").json()["username"] == "owner"
    refused = browser.put("/api/v1/users/owner", data='{"display_name": "O"}', content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    # What a page of the site does: the csrftoken cookie, echoed in the X-CSRFToken header.
    secret = get_random_string(32)
    browser.cookies["csrftoken"] = secret
    accepted = browser.put(
        "/api/v1/users/owner",
        data='{"display_name": "O"}',
        content_type="application/json",
        headers={"X-CSRFToken": secret},
    )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["display_name"] == "O"


def test_anonymous_reads_public_things_but_not_when_anonymous_browsing_is_off(api: Api, portus_config) -> None:  # type: ignore[no-untyped-def]
    assert api.get("repositories", "anonymous").status == 200
    portus_config("anonymous_browsing.enabled", False)
    answer = api.get("repositories", "anonymous")
    assert answer.status == 401
    assert "Sign in" in answer.body["message"]


def test_token_use_is_remembered_without_a_write_per_request(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    api.get("users/owner", "owner")
    used = world.owner.application_tokens.get(name="api-tests").last_used_at
    assert used is not None


def test_writes_through_the_api_leave_an_activity_line(api: Api) -> None:
    before = Activity.objects.count()
    assert api.post("teams", {"name": "newteam"}, "outsider").status == 201
    line = Activity.objects.select_related("actor").order_by("-id")[0]
    assert Activity.objects.count() == before + 1
    assert (line.action, line.actor and line.actor.username) == ("team.create", "outsider")


def test_nul_characters_are_refused_before_they_reach_the_database(api: Api) -> None:
    # PostgreSQL refuses NUL in text: the query would fail with a 500 without this check.
    assert api.get("repositories", q="a\x00b").status == 400
    answer = api.post("teams", {"name": "ok", "description": "a\x00b"}, "owner")
    assert answer.status == 400
    assert "NUL" in answer.body["message"]
