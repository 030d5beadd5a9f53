"""Issue 9 item 12: disabling, a password change and a password reset end sessions, for good."""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from portus.accounts.actions import change_password, set_enabled
from portus.accounts.models import User
from tests.conftest import PASSWORD, World
from tests.support.web import client_as, is_sign_in_redirect


def signed_in(client: Client) -> bool:
    return not is_sign_in_redirect(client.get("/profile/"))


def test_disabling_a_user_ends_their_sessions_and_enabling_does_not_bring_them_back(world: World) -> None:
    session = client_as(world, "viewer")
    assert signed_in(session)
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    assert not signed_in(session)
    set_enabled(user=User.objects.get(pk=world.viewer.pk), enabled=True, actor=world.admin)
    assert not signed_in(session)
    again = Client()
    assert again.login(username="viewer", password=PASSWORD) and signed_in(again)  # signing in again works


def test_disabling_on_the_admin_page_ends_the_users_sessions(world: World) -> None:
    session = client_as(world, "viewer")
    admin = client_as(world, "admin")
    admin.post(f"/admin/users/{world.viewer.pk}/change/", {"change": "disable"})
    admin.post(f"/admin/users/{world.viewer.pk}/change/", {"change": "enable"})
    assert not signed_in(session)


def test_a_password_change_ends_the_other_sessions_but_not_this_one(world: World) -> None:
    here, elsewhere = client_as(world, "viewer"), client_as(world, "viewer")
    new = "a-brand-new-password-1"
    answer = here.post("/profile/password/", {"old_password": PASSWORD, "password1": new, "password2": new})
    assert answer.status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)


def test_an_admin_setting_a_password_ends_the_users_sessions(world: World) -> None:
    session = client_as(world, "viewer")
    change_password(user=world.viewer, password="set-by-the-admin-1", actor=world.admin)
    assert not signed_in(session)


def test_a_password_reset_ends_every_session(world: World) -> None:
    session = client_as(world, "viewer")
    user = User.objects.get(pk=world.viewer.pk)
    url = f"/password-reset/{urlsafe_base64_encode(force_bytes(user.pk))}/{default_token_generator.make_token(user)}/"
    resetter = Client()
    form_url = resetter.get(url)["Location"]
    new = "a-fresh-password-9"
    assert resetter.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302
    assert not signed_in(session)
