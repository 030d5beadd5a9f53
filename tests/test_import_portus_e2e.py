"""docs/migration.md followed from start to finish against a real registry whose configuration is the
original Portus's and is never changed: the original's RSA key, issuer and service, no notification
secret. Every step runs as the guide writes it, in its own process: `portusctl import portus`, then
`portusctl serve` and `portusctl background` with the variables of step 2 read from the guide itself,
then `portusctl sync --dry-run`. skopeo pushes with an imported password and an imported application
token, and the push fires the imported webhook at a receiver on loopback with the registry's event and
the new signature header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from portus.registry.actions import end_unsigned_notifications
from portus.registry.models import Registry, Tag
from portus.registry.signing import write_key_pair
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.conftest import require
from tests.support import original_portus as op
from tests.support.background import ROOT, start_worker, wait_for, worker_env
from tests.support.images import make_image
from tests.support.registry import RunningRegistry, free_port, running_registry, skopeo
from tests.support.scale_out import start_web, stop, wait_for_ping
from tests.support.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e
ISSUER = "portus.original.lan"
GUIDE = ROOT / "docs" / "migration.md"


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


def guide_variables(key: Path, cert: Path) -> dict[str, str]:
    """Step 2's `export NAME=VALUE` lines, as the guide writes them, with this installation's paths."""
    text = GUIDE.read_text()
    block = text[text.index("2. **Install this Portus**") : text.index("3. **Create the tables**")]
    exported = dict(re.findall(r"^\s*export (PORTUS_[A-Z_]+)=(\S+)", block, flags=re.MULTILINE))
    ours = {"PORTUS_KEY_PATH": str(key), "PORTUS_CERT_PATH": str(cert), "PORTUS_MACHINE_FQDN_VALUE": ISSUER}
    assert set(exported) == {*ours, "PORTUS_REGISTRY_JWT_ALGORITHM_VALUE"}, exported
    return exported | ours


@dataclass
class Migration:
    registry: RunningRegistry
    original: op.Original
    source_url: str
    portus_url: str
    variables: dict[str, str]  # step 2's, and the webhook receiver's loopback allowed
    tmp: Path

    def portusctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "portus.cli", *args],
            cwd=ROOT,
            env=worker_env(**self.variables),
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def migrated(transactional_db: None, tmp_path: Path, receiver: Receiver) -> Iterator[Migration]:
    require(op.server_reachable("mysql"), "no MariaDB server at 127.0.0.1 for the original's database")
    # The original's key and certificate (RSA), as its installation left them.
    key, cert = tmp_path / "original" / "portus.key", tmp_path / "original" / "portus.crt"
    key.parent.mkdir()
    write_key_pair(key, cert, "RS256", ISSUER)
    port, hostname = free_port(), f"127.0.0.1:{free_port()}"
    portus_url = f"http://127.0.0.1:{port}"
    config_text = original_registry_config(portus_url, hostname, cert, tmp_path / "storage")
    # Step 2: this Portus with the original's signing identity; the receiver of the webhook is on loopback.
    variables = guide_variables(key, cert) | {"PORTUS_WEBHOOKS_OUTGOING_ALLOW_PRIVATE_ADDRESSES": "true"}
    name = op.source_name("e2e")
    with op.original_database("mysql", name) as url:
        data = op.fill("mysql", name, hostname, webhook_url=receiver.url)  # the original's ci-hook
        with running_registry(config_text, hostname, tmp_path / "registry") as registry:
            yield Migration(registry, data, url, portus_url, variables, tmp_path)


def start_portus(migration: Migration) -> list[subprocess.Popen[bytes]]:
    """Step 5: `portusctl serve` at the address the registry knows, and `portusctl background`."""
    port = migration.portus_url.rsplit(":", 1)[1]
    web = start_web(int(port), worker_env(**migration.variables), migration.tmp / "web.log", migration.tmp / "web")
    worker = start_worker(
        migration.tmp / "worker.log", **migration.variables, PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="1"
    )
    wait_for_ping(f"{migration.portus_url}/health/ready", [web, worker])
    return [web, worker]


def registry_url_of(registry: RunningRegistry) -> str:
    """Portus's address, as the registry's configuration names it (the realm)."""
    config = yaml.safe_load(registry.config_path.read_text())
    return str(config["auth"]["token"]["realm"]).removesuffix("/v2/token")


def push(registry: RunningRegistry, tmp: Path, repository: str, creds: str, tag: str = "v2") -> Any:
    image = make_image(tmp / f"img-{repository.replace('/', '_')}-{tag}", tag=tag)
    target = f"docker://{registry.hostname}/{repository}:{tag}"
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, image.reference, target)


def login(registry: RunningRegistry, tmp: Path, username: str, secret: str) -> Any:
    """`skopeo login`, docker login's equivalent: the registry sends it to Portus's token endpoint."""
    authfile = str(tmp / "auth.json")
    args = ("login", "--tls-verify=false", "--authfile", authfile, "-u", username, "--password-stdin")
    return skopeo(*args, registry.hostname, stdin=secret)


def is_app_v2(body: bytes) -> bool:
    target = json.loads(body).get("target", {})
    return bool(target.get("repository") == "qa/app" and target.get("tag") == "v2")


def test_migration_guide_keeps_the_registry_configuration_and_every_credential(
    migrated: Migration, receiver: Receiver
) -> None:
    registry, data, tmp_path = migrated.registry, migrated.original, migrated.tmp
    config_path = registry.config_path
    config_before = config_path.read_bytes()

    # Step 4: a dry run first, then the import.
    dry = migrated.portusctl("import", "portus", "--from", migrated.source_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: Would import" in dry.stdout and "Rows not imported" in dry.stdout
    assert not Registry.objects.exists()
    done = migrated.portusctl("import", "portus", "--from", migrated.source_url)
    assert done.returncode == 0, done.stderr
    assert "PORTUS_KEY_PATH" in done.stdout and registry.hostname in done.stdout

    processes = start_portus(migrated)
    try:
        # docker login with the old password and the old application token, at once; a wrong one is refused.
        for secret in (data.passwords["bob"], data.tokens["bob/ci"]):
            logged_in = login(registry, tmp_path, "bob", secret)
            assert logged_in.returncode == 0, logged_in.stderr
        assert login(registry, tmp_path, "bob", "not-bobs-password").returncode != 0
        # Push with both.
        bob = f"bob:{data.passwords['bob']}"
        pushed = push(registry, tmp_path, "qa/app", bob)
        assert pushed.returncode == 0, pushed.stderr + registry.log()[-2000:]
        token_push = push(registry, tmp_path, "qa/tokenapp", f"bob:{data.tokens['bob/ci']}")
        assert token_push.returncode == 0, token_push.stderr
        # The imported roles: the viewer cannot push, the owner can push to her personal namespace.
        denied = push(registry, tmp_path, "qa/viewer", f"carol:{data.passwords['carol']}")
        assert denied.returncode != 0
        assert push(registry, tmp_path, "alice/own", f"alice:{data.passwords['alice']}").returncode == 0

        # The registry's unsigned notifications are accepted during the grace period; the worker applies them.
        wait_for(lambda: Tag.objects.filter(repository__name="app", name="v2").exists(), what="the push of qa/app:v2")

        # The push of qa/app:v2 fires the imported webhook: the registry's event as the original sent it, the
        # original's basic auth and custom header, plus the signature with the secret the import generated.
        hook = Webhook.objects.get(name="ci-hook")
        wait_for(
            lambda: any(is_app_v2(r.body) for r in receiver.received),
            what="the imported webhook's delivery of the push of qa/app:v2",
        )
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
        form_hook = Webhook.objects.get(name="form-hook")
        assert not form_hook.deliveries.exclude(created_at__year=2019).exists()  # disabled

        # Step 6: sync --dry-run shows what differs (the imported v1 tag the registry does not hold here).
        sync = migrated.portusctl("sync", "--dry-run", "--delete")
        assert sync.returncode == 0, sync.stderr
        assert "qa/app" in sync.stdout
        assert Tag.objects.filter(repository__name="app", name="v1").exists()  # a dry run deletes nothing

        # Step 7: once the registry has the secret, the admin requires it; unsigned events are refused.
        end_unsigned_notifications(registry=Registry.objects.get(), actor=None)
        refused = requests.post(f"{registry_url_of(registry)}/v2/webhooks/events", json={"events": []}, timeout=5)
        assert refused.status_code == 401
    finally:
        for process in processes:
            stop(process)
    assert config_path.read_bytes() == config_before  # the registry's configuration never changed
