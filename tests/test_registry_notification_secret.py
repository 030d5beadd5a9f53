"""The notification secret: random per registry, stored as a digest and a sealed copy, rotatable, and the
event time a notification may claim."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from portus.registry.actions import create_registry
from portus.registry.models import Activity, Registry, RegistryEvent
from tests.conftest import World
from tests.test_portusctl import refused, run
from tests.test_registry_webhooks import ENVELOPE_TYPE, URL, event


def send_with(client: Client, secret: str, events: list[dict]) -> int:
    body = json.dumps({"events": events})
    return client.post(URL, data=body, content_type=ENVELOPE_TYPE, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code


def configured_secret(text: str) -> str:
    header = yaml.safe_load(text)["notifications"]["endpoints"][0]["headers"]["Authorization"][0]
    scheme, _, secret = header.partition(" ")
    assert scheme == "Bearer"
    return secret


def test_each_registry_gets_its_own_random_secret_not_derived_from_the_secret_key(world: World) -> None:
    other = create_registry(name="other", hostname="other.test:5000")
    secret = world.registry.notification_secret()
    assert len(secret) >= 40
    assert secret != other.notification_secret()
    derived = hmac.new(
        settings.SECRET_KEY.encode(), f"portus-notifications:{world.registry.hostname}".encode(), hashlib.sha256
    ).hexdigest()
    assert secret != derived
    assert send_with(Client(), derived, [event()]) == 401
    assert send_with(Client(), secret, [event()]) == 200


def test_a_database_read_alone_does_not_give_the_secret_away(world: World) -> None:
    secret = world.registry.notification_secret()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Registry._meta.db_table}")  # noqa: S608 - no user input
        rows = cursor.fetchall()
    assert rows
    assert not any(secret in str(value) for row in rows for value in row)


def test_registry_config_prints_the_stored_secret(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "registry", "config", "--portus-url", "https://portus.example.com")
    assert status == 0
    assert configured_secret(out) == world.registry.notification_secret()


def test_rotate_secret_refuses_the_old_secret_and_prints_the_new_config(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = Client()
    old = world.registry.notification_secret()
    output = tmp_path / "config.yml"
    status, _, err = run(
        capsys, "registry", "rotate-secret", "test", "--portus-url", "https://portus.example.com", "-o", str(output)
    )
    assert status == 0
    assert "restart" in err
    assert output.stat().st_mode & 0o777 == 0o600
    new = configured_secret(output.read_text())
    assert new != old
    assert new == Registry.objects.get(pk=world.registry.pk).notification_secret()

    assert send_with(client, old, [event()]) == 401
    assert send_with(client, new, [event()]) == 200
    status, out, _ = run(capsys, "registry", "config", "--portus-url", "https://portus.example.com")
    assert configured_secret(out) == new
    assert Activity.objects.filter(action="registry.rotate_secret", target="test").exists()


def test_rotate_secret_of_an_unknown_registry_says_so(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no registry called 'nope'" in refused(capsys, "registry", "rotate-secret", "nope")


def test_after_a_secret_key_change_registry_config_says_to_rotate(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = world.registry.notification_secret()
    with override_settings(SECRET_KEY="another-" + "k" * 60):
        message = refused(capsys, "registry", "config", "--portus-url", "https://portus.example.com")
        assert "portusctl registry rotate-secret test" in message
        # The intake checks the digest, which does not depend on the secret key: notifications keep flowing.
        assert send_with(Client(), secret, [event()]) == 200


def test_event_time_is_clamped_to_its_receipt_plus_the_allowed_skew(world: World) -> None:
    future, past = event(tag="future"), event(tag="past")
    future["timestamp"] = "2099-01-01T00:00:00Z"
    assert send_with(Client(), world.registry.notification_secret(), [future, past]) == 200
    stored_future = RegistryEvent.objects.get(tag="future")
    assert stored_future.occurred_at == stored_future.received_at + dt.timedelta(seconds=30)
    stored_past = RegistryEvent.objects.get(tag="past")
    assert stored_past.occurred_at == dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
