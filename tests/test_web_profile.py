"""The profile page: email and display name, password, avatar setting, application tokens."""

from __future__ import annotations

import pytest

from portus.accounts.credentials import verify
from portus.accounts.models import ApplicationToken
from tests.conftest import PASSWORD, World
from tests.support.web import client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_profile_needs_an_account(world: World) -> None:
    assert is_sign_in_redirect(client_as(world, "anonymous").get("/profile/"))


def test_user_changes_email_and_display_name(world: World) -> None:
    client = client_as(world, "viewer")
    changed = {"email": "v@example.com", "display_name": "Vera", "current_password": PASSWORD}
    assert client.post("/profile/", changed).status_code == 302
    world.viewer.refresh_from_db()
    assert (world.viewer.email, world.viewer.display_name) == ("v@example.com", "Vera")


def test_invalid_email_is_shown_next_to_the_field(world: World) -> None:
    response = client_as(world, "viewer").post("/profile/", {"email": "not-an-email"})
    assert response.status_code == 400 and 'id="id_email_error"' in response.content.decode()


def test_avatar_uses_gravatar_only_when_enabled(world: World, portus_config) -> None:
    client = client_as(world, "owner")
    portus_config("gravatar.enabled", True)
    assert "gravatar.com/avatar/" in client.get("/profile/").content.decode()
    portus_config("gravatar.enabled", False)
    assert "gravatar.com/avatar/" not in client.get("/profile/").content.decode()


def test_password_change_needs_the_current_password(world: World) -> None:
    client = client_as(world, "owner")
    wrong = client.post(
        "/profile/password/",
        {"old_password": "nope", "password1": "fresh-secret-1", "password2": "fresh-secret-1"},
    )
    assert wrong.status_code == 400 and "not your current password" in wrong.content.decode()
    right = client.post(
        "/profile/password/",
        {"old_password": PASSWORD, "password1": "fresh-secret-1", "password2": "fresh-secret-1"},
    )
    assert right.status_code == 302
    assert verify("owner", "fresh-secret-1").user == world.owner
    assert client.get("/profile/").status_code == 200  # still signed in on this browser


def test_token_is_shown_once_and_works_as_a_password(world: World) -> None:
    client = client_as(world, "contributor")
    response = client.post("/profile/tokens/", {"name": "laptop", "expires_in": "30"}, **HTMX)
    body = response.content.decode()
    secret = response.context["secret"]
    assert secret.startswith("prt_") and secret in body
    assert body.lstrip().startswith('<div id="tokens">')
    assert verify("contributor", secret).user == world.contributor
    assert secret not in client.get("/profile/").content.decode()
    token = ApplicationToken.objects.get(name="laptop")
    assert token.expires_at is not None


def test_token_creation_without_javascript_shows_the_secret_in_the_page(world: World) -> None:
    response = client_as(world, "contributor").post("/profile/tokens/", {"name": "ci", "expires_in": ""})
    assert response.status_code == 200 and response.context["secret"] in response.content.decode()


def test_duplicate_token_name_is_refused_next_to_the_field(world: World) -> None:
    client = client_as(world, "owner")
    client.post("/profile/tokens/", {"name": "ci"}, **HTMX)
    again = client.post("/profile/tokens/", {"name": "ci"}, **HTMX)
    assert "already has a token called" in again.content.decode() and not again.context["secret"]


def test_user_revokes_their_token_and_not_someone_elses(world: World) -> None:
    client_as(world, "owner").post("/profile/tokens/", {"name": "mine"})
    token = ApplicationToken.objects.get(name="mine")
    assert client_as(world, "viewer").post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert not token.revoked
    assert client_as(world, "owner").post(f"/profile/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked
