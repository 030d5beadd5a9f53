"""Webhook deliveries and a real worker process: SIGKILL mid-delivery loses nothing (sent again once the
lease runs out: at least once, the same X-Portus-Delivery id both times)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from portus.webhooks import actions
from portus.webhooks.actions import WebhookFields
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.conftest import make_world
from tests.support.background import start_worker, wait_for
from tests.support.webhook_receiver import Answer, Receiver, running_receiver

SETTINGS = {
    "PORTUS_BACKGROUND_SYNC_STRATEGY": "disabled",
    "PORTUS_BACKGROUND_POLL_INTERVAL_VALUE": "0.2",
    "PORTUS_BACKGROUND_LEASE_VALUE": "1",
    "PORTUS_WEBHOOKS_OUTGOING_ALLOW_PRIVATE_ADDRESSES": "true",
    # The claim on a delivery lasts three timeouts: 6 s here.
    "PORTUS_WEBHOOKS_OUTGOING_TIMEOUT": "2",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_a_worker_killed_mid_delivery_loses_nothing(transactional_db: None, receiver: Receiver, tmp_path: Path) -> None:
    world = make_world()
    webhook, _ = actions.create_webhook(
        namespace=world.namespace, fields=WebhookFields(name="ci", url=receiver.url), actor=world.owner
    )
    actions.queue(Webhook.objects.filter(pk=webhook.pk), "push", {"id": "ev-1", "action": "push"})
    held = threading.Event()
    receiver.answers = [Answer(200, b"too late", hold=held)]  # the first request is never answered in time
    first = start_worker(tmp_path / "first.log", **SETTINGS)
    second = None
    try:
        receiver.wait(1)
        delivery = WebhookDelivery.objects.get()
        assert delivery.state == DeliveryState.PENDING
        assert delivery.claim.startswith(f"{socket.gethostname()}:{first.pid}:")  # the first worker holds it
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        held.set()
        second = start_worker(tmp_path / "second.log", **SETTINGS)
        wait_for(lambda: WebhookDelivery.objects.get().state == DeliveryState.DELIVERED, timeout=60, what="delivered")
    finally:
        held.set()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.claim == "" and delivery.status == 200
    assert len(receiver.received) == 2
    assert {r.headers["X-Portus-Delivery"] for r in receiver.received} == {str(delivery.uuid)}
    assert receiver.received[0].body == receiver.received[1].body
