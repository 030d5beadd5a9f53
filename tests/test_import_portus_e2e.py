"""docs/migration.md followed from start to finish against a real registry whose configuration is the
original Portus's and is never changed: the original's RSA key, issuer and service, no notification
secret. skopeo pushes with an imported password and an imported application token, and the push fires
the imported webhook at a receiver on loopback with the registry's event and the new signature header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from django.conf import settings

from portus.background.worker import Worker
from portus.cli import main as portusctl
from portus.registry.actions import end_unsigned_notifications
from portus.registry.models import Registry, Tag
from portus.registry.signing import signing_key, write_key_pair
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.conftest import require
from tests.support import original_portus as op
from tests.support.background import settle, wait_for
from tests.support.images import make_image
from tests.support.registry import RunningRegistry, free_port, running_registry, skopeo
from tests.support.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e
ISSUER = "portus.original.lan"


def original_registry_config(portus_url: str, hostname: str, cert: Path, storage: Path) -> str:
    """The registry configuration the original Portus's documentation gave: token auth against it,
    notifications to it without any Authorization header."""
    return yaml.safe_dump(
        {
            "version": 0.1,
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": hostname},
            "auth": {
                "token": {
                    "realm": f"{portus_url}/v2/token",
                    "service": hostname,
                    "issuer": ISSUER,
                    "rootcertbundle": str(cert),
                }
            },
            "notifications": {
                "endpoints": [
                    {
                        "name": "portus",
                        "url": f"{portus_url}/v2/webhooks/events",
                        "timeout": "2s",
                        "threshold": 5,
                        "backoff": "1s",
                    }
                ]
            },
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def migrated(
    live_server: Any,
    transactional_db: None,
    tmp_path: Path,
    portus_config: Callable[[str, Any], None],
    receiver: Receiver,
) -> Iterator[tuple[RunningRegistry, op.Original, str, Path]]:
    require(op.server_reachable("mysql"), "no MariaDB server at 127.0.0.1 for the original's database")
    portus_config("webhooks_outgoing.allow_private_addresses", True)  # the receiver is on loopback
    # The original's key and certificate (RSA), as its installation left them.
    key, cert = tmp_path / "original" / "portus.key", tmp_path / "original" / "portus.crt"
    key.parent.mkdir()
    write_key_pair(key, cert, "RS256", ISSUER)
    hostname = f"127.0.0.1:{free_port()}"
    config_text = original_registry_config(live_server.url, hostname, cert, tmp_path / "storage")
    # Step 2 of the guide: this Portus keeps the original's key, certificate, algorithm and issuer.
    saved = (settings.TOKEN_KEY_PATH, settings.TOKEN_CERT_PATH, settings.MACHINE_FQDN)
    settings.TOKEN_KEY_PATH, settings.TOKEN_CERT_PATH, settings.MACHINE_FQDN = key, cert, ISSUER
    portus_config("registry.jwt_algorithm", "RS256")
    signing_key.cache_clear()
    name = op.source_name("e2e")
    try:
        with op.original_database("mysql", name) as url:
            data = op.fill("mysql", name, hostname, webhook_url=receiver.url)  # the original's ci-hook
            with running_registry(config_text, hostname, tmp_path / "registry") as registry:
                yield registry, data, url, registry.config_path
    finally:
        settings.TOKEN_KEY_PATH, settings.TOKEN_CERT_PATH, settings.MACHINE_FQDN = saved
        signing_key.cache_clear()


def registry_url_of(registry: RunningRegistry) -> str:
    """Portus's address, as the registry's configuration names it (the realm)."""
    config = yaml.safe_load(registry.config_path.read_text())
    return str(config["auth"]["token"]["realm"]).removesuffix("/v2/token")


def push(registry: RunningRegistry, tmp: Path, repository: str, creds: str, tag: str = "v2") -> Any:
    image = make_image(tmp / f"img-{repository.replace('/', '_')}-{tag}", tag=tag)
    target = f"docker://{registry.hostname}/{repository}:{tag}"
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, image.reference, target)


def is_app_v2(body: bytes) -> bool:
    target = json.loads(body).get("target", {})
    return bool(target.get("repository") == "qa/app" and target.get("tag") == "v2")


def test_migration_guide_keeps_the_registry_configuration_and_every_credential(
    migrated: tuple[RunningRegistry, op.Original, str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    receiver: Receiver,
) -> None:
    registry, data, url, config_path = migrated
    config_before = config_path.read_bytes()

    # Step 4: a dry run first, then the import.
    assert portusctl(["import", "portus", "--from", url, "--dry-run"]) == 0
    assert "Dry run: Would import" in capsys.readouterr().out
    assert not Registry.objects.exists()
    assert portusctl(["import", "portus", "--from", url]) == 0
    printed = capsys.readouterr().out
    assert "PORTUS_KEY_PATH" in printed and registry.hostname in printed

    # docker login / push with the old password and the old application token, at once.
    bob = f"bob:{data.passwords['bob']}"
    pushed = push(registry, tmp_path, "qa/app", bob)
    assert pushed.returncode == 0, pushed.stderr + registry.log()[-2000:]
    token_push = push(registry, tmp_path, "qa/tokenapp", f"bob:{data.tokens['bob/ci']}")
    assert token_push.returncode == 0, token_push.stderr
    # The imported roles: the viewer cannot push, the owner can push to her personal namespace.
    denied = push(registry, tmp_path, "qa/viewer", f"carol:{data.passwords['carol']}")
    assert denied.returncode != 0
    assert push(registry, tmp_path, "alice/own", f"alice:{data.passwords['alice']}").returncode == 0

    # The registry's unsigned notifications are accepted during the grace period.
    worker = Worker()
    settle(worker, lambda: Tag.objects.filter(repository__name="app", name="v2").exists())

    # The push of qa/app:v2 fires the imported webhook: the registry's event as the original sent it, the
    # original's basic auth and custom header, plus the signature with the secret the import generated.
    hook = Webhook.objects.get(name="ci-hook")

    def pushed_v2_arrived() -> bool:
        worker.handle_one_delivery()
        return any(is_app_v2(r.body) for r in receiver.received)

    wait_for(pushed_v2_arrived, what="the imported webhook's delivery of the push of qa/app:v2")
    received = next(r for r in receiver.received if is_app_v2(r.body))
    event = json.loads(received.body)
    assert received.method == "POST" and received.headers["Content-Type"] == "application/json"
    assert event["action"] == "push" and event["target"]["repository"] == "qa/app"
    assert event["target"]["mediaType"] and event["target"]["digest"].startswith("sha256:")
    assert event["actor"]["name"] == "bob" and event["request"]["host"]  # the registry's own fields
    assert received.headers["X-Token"] == "abc"
    assert received.headers["Authorization"] == "Basic " + base64.b64encode(b"hook-user:hook-password").decode()
    expected = "sha256=" + hmac.new(hook.secret.encode(), received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(received.headers["X-Portus-Signature-256"], expected)
    assert WebhookDelivery.objects.filter(webhook=hook, state=DeliveryState.DELIVERED, event="push").count() >= 2
    assert not Webhook.objects.get(name="form-hook").deliveries.exclude(created_at__year=2019).exists()  # disabled

    # Step 6: sync --dry-run shows what differs (the imported v1 tag the registry does not hold here).
    assert portusctl(["sync", "--dry-run", "--delete"]) == 0
    assert "qa/app" in capsys.readouterr().out
    assert Tag.objects.filter(repository__name="app", name="v1").exists()  # a dry run deletes nothing

    # Step 7: once the registry has the secret, the admin requires it; unsigned events are refused.
    end_unsigned_notifications(registry=Registry.objects.get(), actor=None)
    refused = requests.post(f"{registry_url_of(registry)}/v2/webhooks/events", json={"events": []}, timeout=5)
    assert refused.status_code == 401
    assert config_path.read_bytes() == config_before  # the registry's configuration never changed
