"""/health/live, /health/ready and /metrics as a kubelet, a load balancer and Prometheus see them."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from portus import metrics
from portus.registry.checks import production_check
from portus.registry.models import Namespace, RegistryEvent, Repository, Tag
from portus.registry.signing import signing_key
from portus.server import readiness
from tests.conftest import PASSWORD, World
from tests.test_registry_webhooks import event, send

TOKEN = "a-metrics-token-for-the-tests"


@pytest.fixture(autouse=True)
def fresh_readiness() -> Iterator[None]:
    readiness.forget_migrations()
    yield
    readiness.forget_migrations()


def scrape(client: Client, **headers: str) -> Any:
    return client.get("/metrics", **headers)


def samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def current(name: str, labels: str = "") -> float:
    return samples(metrics.exposition().decode(), name).get(labels, 0.0)


def token_request(client: Client, username: str, password: str, service: str = "registry.test") -> Any:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return client.get(
        "/v2/token",
        {"service": service, "scope": "repository:acme/app:pull"},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )


def test_liveness_answers_without_asking_the_database(client: Client) -> None:
    response = client.get("/health/live")  # no db fixture: pytest-django refuses any query here
    assert response.status_code == 200 and response.json() == {"live": True}


def test_readiness_checks_database_migrations_and_signing_key(db: None, client: Client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": True, "migrations": True, "signing_key": True}}
    assert response["Cache-Control"] == "no-store"


def test_readiness_is_503_and_names_the_command_while_a_migration_is_pending(
    db: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readiness, "pending_migrations", lambda: ["registry.9999_future"])
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] is False
    assert "portusctl migrate" in response.json()["message"]


def test_readiness_is_503_when_the_signing_key_does_not_load(
    db: None, client: Client, settings: Any, tmp_path: Path
) -> None:
    settings.TOKEN_KEY_PATH = tmp_path / "missing.pem"
    settings.TOKEN_KEY_GENERATE = False
    signing_key.cache_clear()
    try:
        response = client.get("/health/ready")
    finally:
        signing_key.cache_clear()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "migrations": True, "signing_key": False}
    assert str(tmp_path) not in response.content.decode()  # paths stay in the server's log


def test_probes_answer_any_host_and_an_address_the_rate_limit_stopped(
    world: World, settings: Any, portus_config: Any
) -> None:
    # In this order: portus_config's restore must land where its change did, inside the settings override.
    settings.ALLOWED_HOSTS = ["portus.example.com"]
    portus_config("rate_limit.failures", 2)
    attacker = Client(REMOTE_ADDR="203.0.113.9", HTTP_HOST="portus.example.com")
    statuses = [token_request(attacker, "owner", "wrong").status_code for _ in range(3)]
    assert statuses[-1] == 429
    pod = Client(REMOTE_ADDR="203.0.113.9", HTTP_HOST="10.0.0.7:3000")
    assert pod.get("/api/v1/_ping").status_code == 400  # the host check still holds for everything else
    assert pod.get("/health/live").status_code == 200
    assert pod.get("/health/ready").status_code == 200


def test_metrics_are_off_by_default(client: Client) -> None:
    assert scrape(client).status_code == 404


def test_metrics_ask_for_the_bearer_token_when_one_is_configured(db: None, client: Client, portus_config: Any) -> None:
    portus_config("metrics.enabled", True)
    assert scrape(client).status_code == 200  # no token configured: open
    portus_config("metrics.token", TOKEN)
    refused = scrape(client)
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert scrape(client, HTTP_AUTHORIZATION="Bearer not-it").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    accepted = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert accepted.status_code == 200
    assert accepted["Content-Type"].startswith("text/plain; version=0.0.4")


def test_inventory_gauges_count_what_the_database_holds(world: World, client: Client, portus_config: Any) -> None:
    portus_config("metrics.enabled", True)
    repository = Repository.objects.create(namespace=world.namespace, name="app")
    Tag.objects.create(repository=repository, name="v1", digest="sha256:" + "b" * 64)
    with time_machine.travel(timezone.now() - dt.timedelta(seconds=90), tick=False):
        RegistryEvent.objects.create(
            registry=world.registry,
            event_id="old",
            action="push",
            repository="acme/app",
            tag="v2",
            digest="sha256:" + "c" * 64,
            occurred_at=timezone.now(),
        )
    text = scrape(client).content.decode()
    by_visibility = samples(text, "portus_namespaces")
    assert sum(by_visibility.values()) == Namespace.objects.count()
    assert by_visibility['{visibility="private"}'] >= 1
    assert samples(text, "portus_repositories") == {"": 1.0}
    assert samples(text, "portus_tags") == {"": 1.0}
    assert samples(text, "portus_users") == {'{state="enabled"}': 5.0, '{state="disabled"}': 0.0}
    assert samples(text, "portus_teams") == {"": 1.0}
    assert samples(text, "portus_registries") == {"": 1.0}
    assert samples(text, "portus_registry_events_backlog") == {"": 1.0}
    assert samples(text, "portus_registry_events_oldest_age_seconds")[""] >= 90
    assert set(samples(text, "portus_scans")) == {f'{{state="{s}"}}' for s in ("pending", "running", "done", "failed")}


def test_token_answers_are_counted_by_outcome_and_reason(world: World, client: Client) -> None:
    issued = current("portus_token_requests_total", '{outcome="issued",reason=""}')
    bad = current("portus_token_requests_total", '{outcome="refused",reason="bad_credentials"}')
    unknown = current("portus_token_requests_total", '{outcome="refused",reason="unknown_service"}')
    timed = current("portus_token_request_duration_seconds_count", '{outcome="refused"}')
    assert token_request(client, "owner", PASSWORD).status_code == 200
    assert token_request(client, "owner", "wrong").status_code == 401
    assert token_request(client, "owner", PASSWORD, service="elsewhere:5000").status_code == 400
    assert current("portus_token_requests_total", '{outcome="issued",reason=""}') == issued + 1
    assert current("portus_token_requests_total", '{outcome="refused",reason="bad_credentials"}') == bad + 1
    assert current("portus_token_requests_total", '{outcome="refused",reason="unknown_service"}') == unknown + 1
    assert current("portus_token_request_duration_seconds_count", '{outcome="refused"}') == timed + 2


def test_requests_are_counted_by_url_pattern_not_by_path(world: World, client: Client) -> None:
    client.force_login(world.admin)
    team = world.team.name
    before = samples(metrics.exposition().decode(), "portus_http_requests_total")
    assert client.get(f"/api/v1/teams/{team}").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = samples(metrics.exposition().decode(), "portus_http_requests_total")
    grown = {labels for labels, value in after.items() if value > before.get(labels, 0.0)}
    assert any('route="api/v1/teams/' in labels and 'status="200"' in labels for labels in grown), grown
    assert all(team not in labels for labels in grown)
    assert '{method="GET",route="(unmatched)",status="404"}' in grown


def test_stored_registry_events_are_counted_by_action(world: World, client: Client) -> None:
    before = current("portus_registry_events_received_total", '{action="push"}')
    assert send(client, world, [event()]).status_code == 200
    assert current("portus_registry_events_received_total", '{action="push"}') == before + 1


def test_production_warns_of_metrics_without_a_token(settings: Any, portus_config: Any) -> None:
    settings.PRODUCTION = True
    portus_config("metrics.enabled", True)
    assert [w.id for w in production_check(None)] == ["portus.W003"]
    portus_config("metrics.token", TOKEN)
    assert production_check(None) == []
