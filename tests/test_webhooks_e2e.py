"""Outgoing webhooks end to end: skopeo pushes to (and deletes from) a real docker-registry, the registry
notifies a live Portus, the background worker applies the event and fires the namespace's webhook at a
real receiver on loopback, with the registry's event as the body and a signature the receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.background.worker import Worker
from portus.registry.models import EventState, RegistryEvent, Tag
from portus.webhooks import actions
from portus.webhooks.actions import WebhookFields
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle, start_worker, wait_for
from tests.support.images import make_image
from tests.support.registry import skopeo
from tests.support.webhook_receiver import Received, Receiver, running_receiver

pytestmark = pytest.mark.e2e

DEADLINE = 60  # seconds for registry -> Portus -> worker -> receiver on a busy machine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config: Any) -> Iterator[Stack]:
    portus_config("delete.enabled", True)
    portus_config("webhooks_outgoing.allow_private_addresses", True)  # the receiver is on loopback
    yield from start_stack(live_server, tmp_path)


def add_webhook(stack: Stack, receiver: Receiver) -> tuple[Webhook, str]:
    fields = WebhookFields(name="ci", url=receiver.url)  # no secret given: Portus makes one, shown once
    return actions.create_webhook(namespace=stack.world.namespace, fields=fields, actor=stack.world.owner)


def push(stack: Stack, name: str, tag: str) -> str:
    image = make_image(stack.tmp / f"{name}-{tag}", tag=tag, files={"app.txt": f"{name}:{tag}\n".encode()})
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"contributor:{PASSWORD}",
        image.reference,
        stack.ref(f"acme/{name}", tag),
    )
    assert done.returncode == 0, done.stderr
    return image.manifest_digest


def assert_signed(received: Received, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(received.headers["X-Portus-Signature-256"], expected)


def test_a_skopeo_push_fires_the_webhook_with_the_registrys_event_and_a_valid_signature(
    stack: Stack, receiver: Receiver
) -> None:
    webhook, secret = add_webhook(stack, receiver)
    digest = push(stack, "app", "v1")
    worker = start_worker(
        stack.tmp / "worker.log",
        PORTUS_BACKGROUND_SYNC_STRATEGY="disabled",
        # About a push: a finished scan would queue a delivery of its own.
        PORTUS_BACKGROUND_SECURITY_SCANNING_ENABLED="false",
        PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="0.5",
        PORTUS_WEBHOOKS_OUTGOING_ALLOW_PRIVATE_ADDRESSES="true",
    )
    try:
        receiver.wait(1, timeout=DEADLINE)
        wait_for(
            lambda: WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).exists(),
            timeout=DEADLINE,
            what="the delivery saved as delivered",
        )
    except BaseException:
        print((stack.tmp / "worker.log").read_text(errors="replace")[-4000:])
        print(stack.registry.log()[-4000:])
        raise
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()

    (got,) = receiver.received
    event = RegistryEvent.objects.get(action="push", repository="acme/app", tag="v1")
    body = json.loads(got.body)
    # The event object exactly as the registry sent it in its notification, as the original Portus forwarded it.
    assert body == event.payload
    assert body["action"] == "push" and body["id"] == event.event_id
    assert body["target"]["repository"] == "acme/app" and body["target"]["tag"] == "v1"
    assert body["target"]["digest"] == digest and body["actor"]["name"] == "contributor"
    assert {"request", "source"} <= body.keys() and body["target"]["url"].endswith(digest)
    assert (got.method, got.headers["Content-Type"], got.headers["X-Portus-Event"]) == (
        "POST",
        "application/json",
        "push",
    )
    assert_signed(got, secret)
    # Blob uploads are not pushes a receiver hears about: one image, one delivery.
    assert not RegistryEvent.objects.filter(state=EventState.PENDING).exists()
    sent = WebhookDelivery.objects.get(webhook=webhook)
    assert got.headers["X-Portus-Delivery"] == str(sent.uuid)
    assert (sent.event, sent.status, sent.attempts) == ("push", 200, 1)


def test_a_skopeo_delete_fires_the_webhook_with_the_registrys_delete_event(stack: Stack, receiver: Receiver) -> None:
    worker = Worker("e2e-worker")
    push(stack, "doomed", "v1")
    settle(worker, lambda: Tag.objects.filter(repository__name="doomed").exists(), timeout=DEADLINE)
    webhook, secret = add_webhook(stack, receiver)  # added after the push: only the deletion is sent

    deleted = skopeo("delete", "--tls-verify=false", "--creds", f"owner:{PASSWORD}", stack.ref("acme/doomed", "v1"))
    assert deleted.returncode == 0, deleted.stderr
    # Registry 2.8 notifies a manifest deletion twice, by digest and then by tag: wait for both.
    deletes = RegistryEvent.objects.filter(action="delete", repository="acme/doomed")
    settle(worker, lambda: deletes.exclude(state=EventState.PENDING).count() == 2, timeout=DEADLINE)
    assert not Tag.objects.filter(repository__name="doomed").exists()
    while worker.handle_one_delivery():
        pass

    # Each is forwarded as the registry sent it.
    events = list(deletes.order_by("pk"))
    assert [e.payload["target"].get("digest", "") != "" for e in events] == [True, False]
    bodies = sorted((json.loads(got.body) for got in receiver.received), key=lambda body: body["timestamp"])
    assert bodies == [e.payload for e in events]
    for got in receiver.received:
        assert got.headers["X-Portus-Event"] == "delete"
        assert_signed(got, secret)
    deliveries = WebhookDelivery.objects.filter(webhook=webhook)
    assert sorted(deliveries.values_list("event", "state")) == [("delete", DeliveryState.DELIVERED)] * 2
