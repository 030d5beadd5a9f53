"""Signing in (with lockout), signing up (first user admin, switchable), out, password reset."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from portus.accounts.models import User
from tests.conftest import PASSWORD, World

pytestmark = pytest.mark.django_db


def test_user_signs_in_with_password_and_lands_on_the_dashboard(client: Client, world: World) -> None:
    response = client.post("/login/", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").context["user"] == world.owner


def test_wrong_password_shows_an_error_next_to_the_form(client: Client, world: World) -> None:
    response = client.post("/login/", {"username": "owner", "password": "nope"})
    assert response.status_code == 200
    assert "The user name or password is wrong" in response.content.decode()


def test_account_locks_after_ten_failures_and_says_so(client: Client, world: World) -> None:
    for _ in range(10):
        client.post("/login/", {"username": "viewer", "password": "wrong"})
    response = client.post("/login/", {"username": "viewer", "password": PASSWORD})
    assert "locked for a while" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_disabled_user_is_told_to_ask_an_administrator(client: Client, world: World) -> None:
    User.objects.filter(pk=world.outsider.pk).update(is_active=False)
    response = client.post("/login/", {"username": "outsider", "password": PASSWORD})
    assert "disabled" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_bot_cannot_sign_in_to_the_pages(client: Client, world: World) -> None:
    from portus.accounts.actions import create_user

    create_user(username="ci-bot", bot=True)
    response = client.post("/login/", {"username": "ci-bot", "password": ""})
    assert "_auth_user_id" not in client.session
    assert response.status_code == 200


def test_first_user_to_sign_up_becomes_admin_and_is_led_to_add_a_registry(client: Client, db: None) -> None:
    response = client.post(
        "/signup/",
        {
            "username": "alice",
            "email": "a@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    alice = User.objects.get(username="alice")
    assert alice.admin
    dashboard = client.get("/")
    assert dashboard.status_code == 302 and dashboard["Location"] == "/setup/"


def test_second_user_to_sign_up_is_not_admin(client: Client, world: World) -> None:
    client.post(
        "/signup/",
        {"username": "bob", "email": "b@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert not User.objects.get(username="bob").admin


def test_sign_up_shows_field_errors(client: Client, world: World) -> None:
    response = client.post("/signup/", {"username": "Owner!", "email": "x", "password1": "a", "password2": "b"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_username_error"' in page and 'id="id_email_error"' in page and 'id="id_password2_error"' in page


def test_sign_up_is_refused_when_turned_off(client: Client, world: World, portus_config) -> None:
    portus_config("signup.enabled", False)
    assert client.get("/signup/").status_code == 403
    response = client.post(
        "/signup/",
        {
            "username": "mallory",
            "email": "m@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()
    assert "Sign-up is turned off" in client.get("/login/").content.decode()


def test_sign_out_ends_the_session(client: Client, world: World) -> None:
    client.force_login(world.owner)
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_password_reset_mails_a_link_that_sets_a_new_password(client: Client, world: World) -> None:
    response = client.post("/password-reset/", {"email": "owner@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(re.escape(settings.PORTUS_URL) + r"(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"]
    new_password = "a-brand-new-secret"
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert done.status_code == 302
    world.owner.refresh_from_db()
    assert world.owner.check_password(new_password)


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client: Client, world: World) -> None:
    response = client.post("/password-reset/", {"email": "nobody@example.com"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_first_user_is_not_admin_when_first_user_admin_is_off(client: Client, db: None, portus_config) -> None:
    portus_config("first_user_admin.enabled", False)
    client.post(
        "/signup/",
        {
            "username": "carol",
            "email": "c@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert not User.objects.get(username="carol").admin
    assert "An administrator must add one" in client.get("/").content.decode()
