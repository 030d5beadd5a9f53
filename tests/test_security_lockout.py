"""Issue 9 item 9: lockout per account and client address, a ceiling that expires, and unlocking."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from portus.accounts.actions import create_token, revoke_token
from portus.accounts.credentials import Failure, verify
from portus.accounts.models import User
from portus.cli import main as portusctl
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD, World
from tests.support.web import client_as

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
SERVICE = "registry.test"


@pytest.fixture(autouse=True)
def small_limits(portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("lockout.attempts", 3)
    portus_config("lockout.account_attempts", 7)
    portus_config("lockout.minutes", 10)
    portus_config("rate_limit.failures", 1000)  # this file is about the lockout, not the rate limit


def fail(username: str, address: str, times: int) -> None:
    for _ in range(times):
        assert verify(username, "wrong-password", address=address).failure is Failure.BAD_CREDENTIALS


def sign_in(username: str, address: str, password: str = PASSWORD) -> Any:
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def token_request(username: str, password: str, address: str = OWNER) -> Any:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client(REMOTE_ADDR=address).get(
        "/v2/token",
        {"service": SERVICE, "scope": "repository:acme/app:pull"},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )


# -- an attacker cannot lock the owner out -------------------------------------------------------


def test_failures_from_one_address_lock_only_that_address_out(world: World) -> None:
    fail("admin", ATTACKER, 3)
    assert verify("admin", PASSWORD, address=ATTACKER).failure is Failure.LOCKED
    assert verify("admin", PASSWORD, address=OWNER).user == world.admin
    assert sign_in("admin", OWNER).status_code == 302
    assert "locked for a while" in sign_in("admin", ATTACKER).content.decode()


def test_failures_decay_after_lockout_minutes(world: World) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        fail("viewer", ATTACKER, 2)
        traveller.shift(dt.timedelta(minutes=10, seconds=1))
        fail("viewer", ATTACKER, 2)  # the first two are forgotten: four in all, but never three in a row
        assert verify("viewer", PASSWORD, address=ATTACKER).user == world.viewer


def test_many_addresses_reach_the_account_ceiling_which_expires(world: World) -> None:
    _, plain = create_token(user=world.owner, name="ci", actor=world.owner)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for attacker in range(3):  # 2 failures each: no address is locked
            fail("owner", f"203.0.113.{attacker}", 2)
        fail("owner", "203.0.113.9", 1)  # the seventh in all
        assert User.objects.get(pk=world.owner.pk).is_locked()
        assert verify("owner", PASSWORD, address=OWNER).failure is Failure.LOCKED
        # Locked means locked: an application token gets no registry token and no API call either.
        assert verify("owner", plain, address=OWNER).failure is Failure.LOCKED
        locked = token_request("owner", plain)
        assert locked.status_code == 401 and "locked" in locked.json()["message"]
        api_call = Client().get("/api/v1/repositories", HTTP_AUTHORIZATION=f"Bearer {plain}")
        assert api_call.status_code == 401
        traveller.shift(dt.timedelta(minutes=10, seconds=1))
        assert verify("owner", PASSWORD, address=OWNER).user == world.owner
        assert token_request("owner", plain).status_code == 200


# -- what counts and what resets -----------------------------------------------------------------


def test_revoked_and_invalid_tokens_do_not_count_as_failed_passwords(world: World) -> None:
    token, plain = create_token(user=world.viewer, name="old-ci", actor=world.viewer)
    revoke_token(token=token, actor=world.viewer)
    for secret in [plain] * 5 + ["prt_" + "x" * 43] * 5:
        assert token_request("viewer", secret, ATTACKER).status_code == 401
    assert User.objects.get(pk=world.viewer.pk).failed_sign_ins == 0
    assert token_request("viewer", PASSWORD, ATTACKER).status_code == 200


def test_a_remembered_success_resets_the_count(world: World) -> None:
    assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer  # now remembered
    for _ in range(3):
        fail("viewer", OWNER, 2)
        assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer  # served from memory
    assert User.objects.get(pk=world.viewer.pk).failed_sign_ins == 0


def test_a_remembered_password_does_not_get_past_a_locked_address(world: World) -> None:
    assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer  # remembered
    fail("viewer", ATTACKER, 3)
    # Otherwise the guesser would learn the right password from the one answer that succeeds.
    assert verify("viewer", PASSWORD, address=ATTACKER).failure is Failure.LOCKED
    assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer


def test_unknown_users_get_the_same_answers_as_real_ones(world: World) -> None:
    answers: dict[str, list[Any]] = {}
    for name in ("viewer", "nobody"):
        pages = [sign_in(name, ATTACKER, "wrong-password") for _ in range(4)]
        registry = token_request(name, "wrong-password", ATTACKER).json()["message"]
        answers[name] = [(page.status_code, *page.context["form"].non_field_errors()) for page in pages]
        answers[name].append(registry)
    assert answers["viewer"] == answers["nobody"]
    assert "The user name or password is wrong" in answers["nobody"][0][1]
    assert "locked for a while" in answers["nobody"][3][1]


# -- ways out: a password reset, an administrator ------------------------------------------------


def lock_viewer_everywhere(world: World) -> None:
    fail("viewer", OWNER, 3)
    for attacker in range(2):
        fail("viewer", f"203.0.113.{attacker}", 2)
    assert User.objects.get(pk=world.viewer.pk).is_locked()
    assert verify("viewer", PASSWORD, address=OWNER).failure is Failure.LOCKED


def test_a_password_reset_unlocks(world: World) -> None:
    lock_viewer_everywhere(world)
    user = User.objects.get(pk=world.viewer.pk)
    url = f"/password-reset/{urlsafe_base64_encode(force_bytes(user.pk))}/{default_token_generator.make_token(user)}/"
    client = Client(REMOTE_ADDR=OWNER)
    form_url = client.get(url)["Location"]
    done = client.post(form_url, {"new_password1": "a-fresh-password-9", "new_password2": "a-fresh-password-9"})
    assert done.status_code == 302
    assert verify("viewer", "a-fresh-password-9", address=OWNER).user == world.viewer


def test_an_admin_unlocks_on_the_users_page(world: World) -> None:
    lock_viewer_everywhere(world)
    answer = client_as(world, "admin").post(f"/admin/users/{world.viewer.pk}/change/", {"change": "unlock"})
    assert answer.status_code == 302
    assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer


def test_an_admin_unlocks_through_the_api_and_others_may_not(api: Api, world: World) -> None:
    lock_viewer_everywhere(world)
    assert api.post("users/viewer/unlock", {}, "owner").status == 404  # not even visible to others
    assert verify("viewer", PASSWORD, address=OWNER).failure is Failure.LOCKED
    assert api.post("users/viewer/unlock", {}).status == 200
    assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer


def test_portusctl_user_unlock(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    lock_viewer_everywhere(world)
    assert portusctl(["user", "unlock", "viewer"]) == 0
    assert "unlocked viewer" in capsys.readouterr().out
    assert verify("viewer", PASSWORD, address=OWNER).user == world.viewer
