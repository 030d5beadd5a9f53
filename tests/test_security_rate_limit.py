"""Issue 9 item 10: failed credential checks are limited per client address; health probes are remembered."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from portus.accounts.throttle import address_of
from portus.api import health
from portus.registry.reachability import Reachability
from tests.conftest import PASSWORD, World

ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.7"


@pytest.fixture(autouse=True)
def small_limits(portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("rate_limit.failures", 3)
    portus_config("rate_limit.seconds", 60)


def token_request(username: str, password: str, address: str) -> Any:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client(REMOTE_ADDR=address).get(
        "/v2/token",
        {"service": "registry.test", "scope": "repository:acme/app:pull"},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )


def test_the_token_endpoint_answers_429_with_retry_after_to_a_guessing_address(world: World) -> None:
    start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    with time_machine.travel(start, tick=False) as traveller:
        for name in ("owner", "viewer", "nobody"):  # spraying several accounts: no account lockout
            assert token_request(name, "wrong-password", ATTACKER).status_code == 401
        refused = token_request("owner", PASSWORD, ATTACKER)  # even the right password: no oracle
        assert refused.status_code == 429
        assert refused["Content-Type"] == "application/json"
        assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert refused["Retry-After"] == "60"
        assert token_request("owner", PASSWORD, NEIGHBOUR).status_code == 200  # other addresses go on
        traveller.shift(dt.timedelta(seconds=61))
        assert token_request("owner", PASSWORD, ATTACKER).status_code == 200


def test_a_remembered_password_does_not_get_past_the_limit(world: World) -> None:
    assert token_request("owner", PASSWORD, ATTACKER).status_code == 200  # now remembered
    for name in ("viewer", "outsider", "nobody"):
        token_request(name, "wrong-password", ATTACKER)
    assert token_request("owner", PASSWORD, ATTACKER).status_code == 429


def test_the_sign_in_page_answers_429_with_a_message(world: World) -> None:
    client = Client(REMOTE_ADDR=ATTACKER)
    for name in ("owner", "viewer", "nobody"):
        assert client.post("/login/", {"username": name, "password": "wrong-password"}).status_code == 200
    refused = client.post("/login/", {"username": "owner", "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins from your address" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_api_answers_429_in_json_to_an_address_guessing_tokens(world: World) -> None:
    client = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(3):
        assert client.get("/api/v1/repositories", HTTP_AUTHORIZATION="Bearer prt_guess").status_code == 401
    refused = client.get("/api/v1/repositories", HTTP_AUTHORIZATION="Bearer prt_guess")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.json()["message"]
    neighbour = Client(REMOTE_ADDR=NEIGHBOUR)
    assert neighbour.get("/api/v1/repositories", HTTP_AUTHORIZATION="Bearer prt_guess").status_code == 401


def test_an_ipv6_client_is_counted_by_its_64_network(world: World) -> None:
    for suffix in ("1", "2", "3"):
        token_request("nobody", "wrong-password", f"2001:db8:1:2::{suffix}")
    assert token_request("owner", PASSWORD, "2001:db8:1:2::99").status_code == 429
    assert token_request("owner", PASSWORD, "2001:db8:1:3::1").status_code == 200


@pytest.mark.parametrize(
    ("remote_addr", "counted"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("not an address", "not an address"),
        (None, ""),
        ("x" * 100, "x" * 64),
    ],
)
def test_an_address_is_counted_the_same_when_it_comes_again(remote_addr: object, counted: str) -> None:
    # The second answer is the remembered one (up to 64 characters; a longer text is never remembered).
    assert [address_of(remote_addr), address_of(remote_addr)] == [counted, counted]


# -- /api/v1/health ------------------------------------------------------------------------------


def test_health_probes_are_remembered_for_a_few_seconds(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[str] = []

    def counting_probe(hostname: str, use_ssl: bool) -> Reachability:
        probes.append(hostname)
        return Reachability(ok=False, message="refused")

    # A spy on the one function that reaches out: the question is how often it is called.
    monkeypatch.setattr(health, "check_registry", counting_probe)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(20):
            answer = Client().get("/api/v1/health")
        assert answer.status_code == 503
        assert answer.json() == {
            "healthy": False,
            "message": "Some checks fail; an administrator sees which.",
            "database": None,
            "registries": {},
            "background": {},
            "scanners": {},
        }
        assert len(probes) == 1
        traveller.shift(dt.timedelta(seconds=6))
        Client().get("/api/v1/health")
        assert len(probes) == 2
