"""Outgoing webhooks: what a push, a deletion and a finished scan send to a real receiver on loopback,
the signature, form and GET bodies, basic auth and headers, retries with backoff, the address checks,
the answer cap and timeout, sealed secrets, retrigger and the policy."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from portus import policy
from portus.background.worker import Worker
from portus.errors import ActionError
from portus.registry import events
from portus.registry.client import OCI_MANIFEST, ManifestInfo
from portus.registry.models import Activity, Namespace, RegistryEvent
from portus.security.models import Scan, ScanState
from portus.security.signals import scan_finished
from portus.webhooks import actions, delivery
from portus.webhooks.actions import WebhookFields
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.conftest import World
from tests.support.webhook_receiver import Answer, Receiver, running_receiver

Configure = Callable[[str, Any], None]
DIGEST = "sha256:" + "c" * 64
SECRET = "s3cret-for-the-test"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def loopback_allowed(portus_config: Configure) -> Configure:
    # The receiver runs on loopback, which webhooks refuse by default.
    portus_config("webhooks_outgoing.allow_private_addresses", True)
    portus_config("webhooks_outgoing.timeout", 2.0)
    return portus_config


def make_webhook(world: World, url: str, **fields: Any) -> Webhook:
    given = WebhookFields(name="ci", url=url, secret=SECRET, **fields)
    return actions.create_webhook(namespace=world.namespace, fields=given, actor=world.owner)[0]


def push_event(world: World, tag: str = "v1", event_id: str = "ev-1") -> RegistryEvent:
    """A push applied the way the worker applies it, with the event object as the registry sent it."""
    payload = {
        "id": event_id,
        "timestamp": "2026-01-02T03:04:05.123456789Z",
        "action": "push",
        "target": {
            "mediaType": OCI_MANIFEST,
            "size": 527,
            "digest": DIGEST,
            "length": 527,
            "repository": "acme/app",
            "url": f"http://registry.test/v2/acme/app/manifests/{DIGEST}",
            "tag": tag,
        },
        "request": {"id": "r-1", "addr": "127.0.0.1:4000", "host": "registry.test", "method": "PUT"},
        "actor": {"name": "owner"},
        "source": {"addr": "registry:5000", "instanceID": "i-1"},
    }
    event = RegistryEvent.objects.create(
        registry=world.registry,
        event_id=event_id,
        action="push",
        repository="acme/app",
        tag=tag,
        digest=DIGEST,
        media_type=OCI_MANIFEST,
        actor="owner",
        occurred_at=timezone.now(),
        payload=payload,
    )
    with transaction.atomic():
        events.apply_event(event, ManifestInfo(digest=DIGEST, media_type=OCI_MANIFEST))
    return event


def run_deliveries(worker: Worker | None = None) -> int:
    worker = worker or Worker("test-worker")
    done = 0
    while worker.handle_one_delivery():
        done += 1
    return done


# -- what is sent ----------------------------------------------------------------------------------------


def test_a_push_sends_the_registry_event_as_received_with_a_signature_the_receiver_verifies(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url)
    event = push_event(world)
    assert run_deliveries() == 1
    (got,) = receiver.received
    assert (got.method, got.path, got.headers["Content-Type"]) == ("POST", "/hook", "application/json")
    assert json.loads(got.body) == event.payload  # every member the registry sent, request and source too
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Portus-Signature-256"], expected)
    assert got.headers["X-Portus-Event"] == "push"
    sent = WebhookDelivery.objects.get()
    assert got.headers["X-Portus-Delivery"] == str(sent.uuid)
    assert (sent.state, sent.status, sent.attempts, sent.response_body) == (DeliveryState.DELIVERED, 200, 1, "ok")
    assert "X-Receiver: test" in sent.response_header and "X-Portus-Signature-256: sha256=" in sent.request_header
    assert sent.duration is not None and sent.delivered_at is not None


def test_a_signature_made_with_another_secret_does_not_match(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url)
    push_event(world)
    run_deliveries()
    got = receiver.received[0]
    forged = "sha256=" + hmac.new(b"another", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Portus-Signature-256"] != forged


def test_a_form_webhook_sends_the_event_json_as_its_payload_field(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url, content_type="application/x-www-form-urlencoded")
    event = push_event(world)
    run_deliveries()
    got = receiver.received[0]
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(parse_qs(got.body.decode())["payload"][0]) == event.payload
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Portus-Signature-256"] == expected  # over the bytes sent, the form itself


def test_an_imported_form_webhook_sends_the_json_text_itself_as_the_original_did(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    """The original sent the event's JSON text under the form content type (Typhoeus posts a string
    body as it is): an imported form webhook keeps doing so, so its receiver keeps working."""
    hook = make_webhook(world, receiver.url, content_type="application/x-www-form-urlencoded")
    Webhook.objects.filter(pk=hook.pk).update(original_form_body=True)  # as the import leaves it
    event = push_event(world)
    run_deliveries()
    got = receiver.received[0]
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(got.body) == event.payload
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Portus-Signature-256"] == expected


def test_a_get_webhook_sends_get_with_the_body_as_the_original_did(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url + "?from=portus", request_method="GET")
    event = push_event(world)
    run_deliveries()
    got = receiver.received[0]
    assert (got.method, got.path) == ("GET", "/hook?from=portus")
    assert json.loads(got.body) == event.payload


def test_basic_auth_and_custom_headers_are_sent_but_never_logged(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    webhook = make_webhook(world, receiver.url, username="ci-user", password="pa:ss")
    actions.set_header(webhook=webhook, name="X-Api-Key", value="key-123", actor=world.owner)
    actions.set_header(webhook=webhook, name="X-Team", value="acme", actor=world.owner)
    push_event(world)
    run_deliveries()
    got = receiver.received[0]
    assert got.headers["Authorization"] == "Basic Y2ktdXNlcjpwYTpzcw=="  # base64("ci-user:pa:ss")
    assert (got.headers["X-Api-Key"], got.headers["X-Team"]) == ("key-123", "acme")
    logged = WebhookDelivery.objects.get().request_header
    assert "pa:ss" not in logged and "Y2ktdXNlcjpwYTpzcw" not in logged and "key-123" not in logged
    assert "X-Api-Key:" in logged and "ci-user" in logged


def test_a_header_portus_sets_cannot_be_replaced(world: World) -> None:
    webhook = make_webhook(world, "https://ci.example.com/hook")
    for name in ("X-Portus-Signature-256", "Host", "Content-Length"):
        with pytest.raises(ActionError, match="set by Portus"):
            actions.set_header(webhook=webhook, name=name, value="x", actor=world.owner)
    with pytest.raises(ActionError, match="one line"):
        actions.set_header(webhook=webhook, name="X-Evil", value="a\r\nHost: b", actor=world.owner)


def test_a_deletion_and_a_finished_scan_fire_too_but_a_disabled_webhook_never(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url)
    actions.create_webhook(
        namespace=world.namespace,
        fields=WebhookFields(name="off", url=receiver.url + "/off", enabled=False),
        actor=world.owner,
    )
    push_event(world)
    deletion = RegistryEvent.objects.create(
        registry=world.registry,
        event_id="ev-del",
        action="delete",
        repository="acme/app",
        tag="v1",
        occurred_at=timezone.now(),
        payload={"id": "ev-del", "action": "delete", "target": {"repository": "acme/app", "tag": "v1"}},
    )
    with transaction.atomic():
        events.apply_event(deletion, None)
    scan = Scan.objects.create(
        manifest_digest=DIGEST, backend="dummy", registry=world.registry, repository="acme/app", state=ScanState.DONE
    )
    with transaction.atomic():
        scan_finished.send(sender=Scan, scan=scan)
    assert run_deliveries() == 3
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["action"] for b in bodies] == ["push", "delete", "scan"]
    assert bodies[1] == deletion.payload
    assert bodies[2]["target"] == {"repository": "acme/app", "digest": DIGEST}
    assert bodies[2]["scan"]["backend"] == "dummy" and bodies[2]["scan"]["findings"] == 0
    assert all(r.path == "/hook" for r in receiver.received)


def test_an_event_for_another_namespace_sends_nothing(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    personal = actions.create_webhook(
        namespace=world.owner.personal_namespace,
        fields=WebhookFields(name="mine", url=receiver.url),
        actor=world.owner,
    )[0]
    push_event(world)
    assert not WebhookDelivery.objects.filter(webhook=personal).exists()


# -- retries, the log, retrigger ----------------------------------------------------------------------------


def test_a_failing_receiver_is_tried_again_after_a_growing_wait(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url)
    receiver.answers = [Answer(500, b"down"), Answer(502, b"still down")]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        push_event(world)
        worker = Worker("test-worker")
        assert run_deliveries(worker) == 1
        sent = WebhookDelivery.objects.get()
        assert (sent.state, sent.status, sent.response_body) == (DeliveryState.PENDING, 500, "down")
        assert sent.lease_until == start + dt.timedelta(seconds=10)
        assert run_deliveries(worker) == 0  # not yet due
        clock.shift(dt.timedelta(seconds=11))
        assert run_deliveries(worker) == 1
        sent.refresh_from_db()
        assert (sent.status, sent.attempts) == (502, 2)
        assert sent.lease_until == start + dt.timedelta(seconds=11 + 20)  # the wait doubled
        clock.shift(dt.timedelta(seconds=21))
        assert run_deliveries(worker) == 1
    sent.refresh_from_db()
    assert (sent.state, sent.status, sent.attempts, sent.error) == (DeliveryState.DELIVERED, 200, 3, "")
    assert len({r.headers["X-Portus-Delivery"] for r in receiver.received}) == 1  # one delivery, three tries


def test_a_delivery_is_marked_failed_after_the_configured_attempts(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    loopback_allowed("webhooks_outgoing.max_attempts", 2)
    make_webhook(world, receiver.url)
    receiver.answers = [Answer(500), Answer(500)]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        push_event(world)
        run_deliveries()
        clock.shift(dt.timedelta(minutes=5))
        run_deliveries()
        clock.shift(dt.timedelta(hours=2))
        assert run_deliveries() == 0
    sent = WebhookDelivery.objects.get()
    assert (sent.state, sent.attempts, sent.lease_until) == (DeliveryState.FAILED, 2, None)
    assert "answered 500" in sent.error


def test_retrigger_sends_the_same_body_again_as_a_new_delivery_and_records_it(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    make_webhook(world, receiver.url)
    push_event(world)
    run_deliveries()
    first = WebhookDelivery.objects.get()
    again = actions.retrigger_delivery(delivery=first, actor=world.owner)
    assert run_deliveries() == 1
    assert receiver.received[0].body == receiver.received[1].body
    assert receiver.received[1].headers["X-Portus-Delivery"] == str(again.uuid) != str(first.uuid)
    again.refresh_from_db()
    assert again.state == DeliveryState.DELIVERED and again.retrigger_of == first
    assert Activity.objects.filter(action="webhook.retrigger", actor=world.owner).count() == 1


def test_a_webhook_disabled_after_queueing_sends_nothing(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    webhook = make_webhook(world, receiver.url)
    push_event(world)
    actions.update_webhook(webhook=webhook, fields=WebhookFields(enabled=False), actor=world.owner)
    run_deliveries()
    assert receiver.received == []
    assert WebhookDelivery.objects.get().state == DeliveryState.FAILED
    assert Activity.objects.filter(action="webhook.disable").count() == 1
    with pytest.raises(ActionError, match="disabled"):
        actions.retrigger_delivery(delivery=WebhookDelivery.objects.get(), actor=world.owner)


# -- where requests may go -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_loopback_private_link_local_and_reserved_addresses_are_refused_by_default(address: str) -> None:
    assert delivery.address_allowed(ipaddress.ip_address(address)) is False


def test_public_addresses_are_allowed() -> None:
    assert delivery.address_allowed(ipaddress.ip_address("93.184.216.34"))
    assert delivery.address_allowed(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))


def test_a_loopback_receiver_is_refused_by_default_and_nothing_is_sent(world: World, receiver: Receiver) -> None:
    make_webhook(world, receiver.url)
    push_event(world)
    run_deliveries()
    assert receiver.received == []
    sent = WebhookDelivery.objects.get()
    assert sent.status is None and "127.0.0.1" in sent.error and "allowed_networks" in sent.error


def test_a_host_name_resolving_to_loopback_is_refused(world: World, receiver: Receiver) -> None:
    make_webhook(world, f"http://localhost:{receiver.port}/hook")
    push_event(world)
    run_deliveries()
    assert receiver.received == []
    assert "localhost resolves to" in WebhookDelivery.objects.get().error


def test_a_name_is_refused_when_any_of_its_addresses_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [("93.184.216.34", 80), ("10.0.0.5", 80)]
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", s) for s in answers]
    )
    with pytest.raises(delivery.AddressRefused, match="10.0.0.5"):
        delivery.resolve("mixed.example", 80)


def test_the_connection_goes_to_the_address_that_was_checked(
    world: World, receiver: Receiver, portus_config: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding name: checked once, connected to the checked address, never looked up a second time.
    portus_config("webhooks_outgoing.allowed_networks", "127.0.0.0/8")
    lookups: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real("127.0.0.1", *args, **kwargs) if len(lookups) == 1 else real("10.9.9.9", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    make_webhook(world, f"http://rebind.test:{receiver.port}/hook")
    push_event(world)
    run_deliveries()
    assert lookups == ["rebind.test"]
    assert receiver.received[0].headers["Host"] == f"rebind.test:{receiver.port}"
    assert WebhookDelivery.objects.get().state == DeliveryState.DELIVERED


def test_an_allowed_network_lets_a_private_receiver_through(
    world: World, receiver: Receiver, portus_config: Configure
) -> None:
    portus_config("webhooks_outgoing.allowed_networks", "10.0.0.0/8, 127.0.0.1/32")
    make_webhook(world, receiver.url)
    push_event(world)
    run_deliveries()
    assert len(receiver.received) == 1


# -- limits ----------------------------------------------------------------------------------------------------


def test_the_answer_is_read_only_up_to_the_cap(world: World, receiver: Receiver, loopback_allowed: Configure) -> None:
    loopback_allowed("webhooks_outgoing.max_response_bytes", 1000)
    make_webhook(world, receiver.url)
    receiver.answers = [Answer(200, b"x" * 500_000)]
    push_event(world)
    run_deliveries()
    sent = WebhookDelivery.objects.get()
    assert sent.state == DeliveryState.DELIVERED
    assert sent.response_body.startswith("x" * 1000 + "\n[answer cut at 1000 bytes]")


def test_a_receiver_slower_than_the_timeout_fails_the_attempt(
    world: World, receiver: Receiver, loopback_allowed: Configure
) -> None:
    loopback_allowed("webhooks_outgoing.timeout", 0.3)
    make_webhook(world, receiver.url)
    receiver.answers = [Answer(200, delay=3)]
    push_event(world)
    run_deliveries()
    sent = WebhookDelivery.objects.get()
    assert (sent.state, sent.status) == (DeliveryState.PENDING, None)
    assert "timed out" in sent.error.lower() or "timeout" in sent.error.lower()


# -- secrets at rest ---------------------------------------------------------------------------------------------


def test_the_password_secret_and_header_values_are_stored_sealed(world: World) -> None:
    webhook = make_webhook(world, "https://ci.example.com/hook", username="u", password="hunter2-password")
    actions.set_header(webhook=webhook, name="X-Api-Key", value="header-secret-value", actor=world.owner)
    with connection.cursor() as cursor:
        cursor.execute("SELECT password_sealed, secret_sealed FROM webhooks_webhook")
        stored = " ".join(cursor.fetchone())
        cursor.execute("SELECT value_sealed FROM webhooks_webhookheader")
        stored += cursor.fetchone()[0]
    for plain in ("hunter2-password", SECRET, "header-secret-value"):
        assert plain not in stored
    webhook.refresh_from_db()
    assert (webhook.password, webhook.secret, webhook.headers.get().value) == (
        "hunter2-password",
        SECRET,
        "header-secret-value",
    )


def test_a_new_webhook_without_a_secret_gets_a_random_one_shown_once(world: World) -> None:
    webhook, secret = actions.create_webhook(
        namespace=world.namespace, fields=WebhookFields(name="x", url="https://ci.example.com/"), actor=world.owner
    )
    assert len(secret) >= 32 and webhook.secret == secret
    assert Activity.objects.filter(action="webhook.create", namespace=world.namespace).exists()


@pytest.mark.parametrize("url", ["ftp://ci.example.com/", "not a url", "https://user:pw@ci.example.com/", "http:///x"])
def test_an_address_that_is_not_http_is_refused(world: World, url: str) -> None:
    with pytest.raises(ActionError):
        make_webhook(world, url)


# -- who may --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("admin", True),
        ("owner", True),
        ("contributor", False),
        ("viewer", False),
        ("outsider", False),
        ("anonymous", False),
    ],
)
def test_only_namespace_owners_and_admins_manage_webhooks(world: World, persona: str, allowed: bool) -> None:
    webhook = make_webhook(world, "https://ci.example.com/hook")
    principal = world.persona(persona)
    assert policy.can_manage_webhooks(principal, world.namespace) is allowed
    assert list(policy.manageable_webhooks(principal)) == ([webhook] if allowed else [])


def test_nobody_but_an_admin_manages_the_global_namespaces_webhooks(world: World) -> None:
    global_namespace = Namespace.objects.get(registry=world.registry, kind="global")
    assert policy.can_manage_webhooks(world.admin, global_namespace)
    assert not policy.can_manage_webhooks(world.owner, global_namespace)


@pytest.mark.parametrize(
    ("persona", "shown"),
    [
        ("admin", True),
        ("owner", True),
        ("contributor", False),
        ("viewer", False),
        ("outsider", False),
        ("anonymous", False),
    ],
)
def test_webhook_activity_lines_are_read_only_by_those_who_manage_the_webhooks(
    world: World, persona: str, shown: bool
) -> None:
    # Public: everyone sees the namespace's other lines, but a webhook's name its address.
    world.namespace.visibility = "public"
    world.namespace.save()
    make_webhook(world, "https://ci.example.com/hook?token=abc")
    visible = policy.visible_activities(world.persona(persona))
    assert visible.filter(action="webhook.create").exists() is shown
    assert visible.filter(action="namespace.create", namespace=world.namespace).exists()
