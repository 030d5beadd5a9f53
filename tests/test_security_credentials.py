"""Issue 9 item 3: one leaked application token or session is no longer a permanent takeover."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.test import Client

from portus.accounts.actions import create_token, create_user
from portus.accounts.models import ApplicationToken, User
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD, World
from tests.support.web import client_as


def password_still_works(username: str, password: str = PASSWORD) -> bool:
    return Client().login(username=username, password=password)


# -- a leaked application token ----------------------------------------------------------------


def test_a_token_cannot_change_its_accounts_password(api: Api) -> None:
    answer = api.put("users/viewer", {"password": "attacker-chose-this"}, "viewer")
    assert answer.status == 403
    assert "application token cannot change" in answer.body["message"]
    assert password_still_works("viewer") and not password_still_works("viewer", "attacker-chose-this")


def test_a_token_cannot_change_its_accounts_email_even_with_the_password(api: Api, world: World) -> None:
    answer = api.put("users/viewer", {"email": "evil@example.com", "current_password": PASSWORD}, "viewer")
    assert answer.status == 403
    assert User.objects.get(pk=world.viewer.pk).email == ""


def test_a_token_can_still_change_harmless_fields(api: Api) -> None:
    answer = api.put("users/viewer", {"display_name": "Vera"}, "viewer")
    assert answer.status == 200 and answer.body["display_name"] == "Vera"


def test_a_token_cannot_mint_tokens_but_can_revoke_them(api: Api, world: World) -> None:
    answer = api.post("users/viewer/application_tokens", {"name": "persistence"}, "viewer")
    assert answer.status == 403
    assert "cannot create tokens" in answer.body["message"]
    assert not ApplicationToken.objects.filter(user=world.viewer, name="persistence").exists()
    leaked = ApplicationToken.objects.get(user=world.viewer, name="api-tests")
    assert api.delete(f"users/viewer/application_tokens/{leaked.pk}", "viewer").status == 204
    assert api.get("users/viewer", "viewer").status == 401  # the revoked token is refused at once


def test_an_admins_token_cannot_take_over_the_admins_own_account(api: Api) -> None:
    assert api.put("users/admin", {"password": "attacker-chose-this"}).status == 403
    assert api.post("users/admin/application_tokens", {"name": "persistence"}).status == 403
    assert password_still_works("admin")


def test_an_admin_may_still_set_another_persons_password(api: Api) -> None:
    assert api.put("users/viewer", {"password": "set-by-the-admin"}).status == 200
    assert password_still_works("viewer", "set-by-the-admin")


# -- a session: the current password is asked for ----------------------------------------------


def test_a_session_without_the_current_password_cannot_change_password_or_email(api: Api) -> None:
    browser = api.browser("viewer")
    missing = browser.put("users/viewer", {"password": "attacker-chose-this"}, None)
    assert missing.status == 403 and "current_password" in missing.body["message"]
    wrong = browser.put("users/viewer", {"email": "evil@example.com", "current_password": "guess"}, None)
    assert wrong.status == 403 and "not your current password" in wrong.body["message"]
    assert password_still_works("viewer")
    right = browser.put("users/viewer", {"email": "vera@example.com", "current_password": PASSWORD}, None)
    assert right.status == 200 and right.body["email"] == "vera@example.com"


def test_a_session_creates_tokens(api: Api) -> None:
    created = api.browser("viewer").post("users/viewer/application_tokens", {"name": "laptop"}, None)
    assert created.status == 201


def test_the_profile_page_asks_for_the_current_password_to_change_the_email(world: World) -> None:
    client = client_as(world, "viewer")
    refused = client.post("/profile/", {"email": "evil@example.com", "display_name": ""})
    assert refused.status_code == 400
    assert "current password" in refused.content.decode()
    assert User.objects.get(pk=world.viewer.pk).email == ""
    accepted = client.post("/profile/", {"email": "v@example.com", "display_name": "", "current_password": PASSWORD})
    assert accepted.status_code == 302
    assert User.objects.get(pk=world.viewer.pk).email == "v@example.com"


def test_guessing_the_current_password_counts_toward_the_lockout(world: World, portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("lockout.attempts", 3)
    client = client_as(world, "viewer")
    for _ in range(3):
        client.post("/profile/password/", {"old_password": "guess", "password1": "x" * 12, "password2": "x" * 12})
    answer = client.post(
        "/profile/password/", {"old_password": PASSWORD, "password1": "n" * 12 + "1", "password2": "n" * 12 + "1"}
    )
    assert answer.status_code == 400  # locked from this address, even with the right password
    assert not signs_in("viewer", "127.0.0.1")
    assert signs_in("viewer", "198.51.100.20")  # the owner elsewhere is not locked out


def signs_in(username: str, address: str) -> bool:
    client = Client(REMOTE_ADDR=address)
    return client.post("/login/", {"username": username, "password": PASSWORD}).status_code == 302


# -- bots never have a password ----------------------------------------------------------------


def test_a_bots_token_cannot_give_the_bot_a_password(api: Api, world: World) -> None:
    bot = create_user(username="deployer", bot=True, actor=world.admin)
    _, plain = create_token(user=bot, name="deploy", actor=world.admin)
    as_bot = {"Authorization": f"Bearer {plain}"}
    answer = api.call("put", "users/deployer", None, json={"password": "now-i-sign-in"}, headers=as_bot)
    assert answer.status == 403
    assert api.put("users/deployer", {"password": "now-i-sign-in"}).status == 400  # not even an admin
    assert not User.objects.get(pk=bot.pk).has_usable_password()


def test_a_bot_cannot_be_created_with_a_password(api: Api) -> None:
    answer = api.post("users", {"username": "deployer", "bot": True, "password": "a-long-password"})
    assert answer.status == 400
    assert "tokens only" in answer.body["message"]
    assert not User.objects.filter(username="deployer").exists()


def test_a_bot_with_a_stored_password_still_cannot_sign_in(world: World) -> None:
    bot = create_user(username="deployer", bot=True, actor=world.admin)
    User.objects.filter(pk=bot.pk).update(password=make_password("left-by-an-old-version"))
    client = Client()
    client.post("/login/", {"username": "deployer", "password": "left-by-an-old-version"})
    assert "_auth_user_id" not in client.session
