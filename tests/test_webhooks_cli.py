"""``portusctl get|create|update|delete webhooks NAMESPACE``, ``get deliveries``, ``retrigger``, live."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portus.cli import main as portusctl
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.api import give_tokens
from tests.conftest import World, make_world


@pytest.fixture
def server(live_server: Any, transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> tuple[World, dict[str, str]]:
    world = make_world()
    tokens = give_tokens(world)
    monkeypatch.setenv("PORTUSCTL_API_SERVER", live_server.url)
    monkeypatch.setenv("PORTUSCTL_API_USER", "owner")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", tokens["owner"])
    return world, tokens


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = portusctl(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_an_owner_creates_lists_changes_retriggers_and_deletes_a_webhook(server: Any, capsys: Any) -> None:
    status, out, _ = run(
        capsys, "create", "webhooks", "acme", "--name", "ci", "--url", "https://ci.example.com/h", "-o", "json"
    )
    assert status == 0
    created = json.loads(out)
    assert created["secret"] and created["request_method"] == "POST"
    status, out, _ = run(capsys, "get", "webhooks", "acme")
    assert status == 0 and "ci" in out and "https://ci.example.com/h" in out
    status, out, _ = run(capsys, "update", "webhooks", "acme", "--id", str(created["id"]), "--enabled", "false")
    assert status == 0 and not Webhook.objects.get().enabled
    run(capsys, "update", "webhooks", "acme", "--id", str(created["id"]), "--enabled", "true")
    webhook = Webhook.objects.get()
    failed = WebhookDelivery.objects.create(
        webhook=webhook, event="push", request_body="{}", state=DeliveryState.FAILED
    )
    status, out, _ = run(capsys, "get", "deliveries", "acme", "--webhook", str(webhook.pk))
    assert status == 0 and str(failed.uuid) in out and "failed" in out
    status, out, _ = run(capsys, "retrigger", "acme", "--webhook", str(webhook.pk), "--delivery", str(failed.pk))
    assert status == 0 and "pending" in out
    assert WebhookDelivery.objects.filter(retrigger_of=failed, state=DeliveryState.PENDING).count() == 1
    status, out, _ = run(capsys, "delete", "webhooks", "acme", "--id", str(webhook.pk))
    assert status == 0 and not Webhook.objects.exists()


def test_a_contributor_is_refused_in_one_line(server: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, tokens = server
    monkeypatch.setenv("PORTUSCTL_API_USER", "contributor")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", tokens["contributor"])
    status, _, err = run(capsys, "get", "webhooks", "acme")
    assert status == 1 and "Only owners of acme" in err and len(err.strip().splitlines()) == 1
