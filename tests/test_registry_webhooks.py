"""The notification endpoint: secret, size limit, envelope validation, filtering and idempotency."""

from __future__ import annotations

import ast
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test import Client

import portus.registry_endpoints
from portus.background.wakeup import CHANNEL, Waiter
from portus.registry.client import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from portus.registry.models import RegistryEvent
from portus.registry.signals import registry_events_stored
from tests.conftest import World

URL = "/v2/webhooks/events"
ENVELOPE_TYPE = "application/vnd.docker.distribution.events.v1+json"
DIGEST = "sha256:" + "a" * 64


def event(action: str = "push", media_type: str = OCI_MANIFEST, tag: str | None = "v1", **target: Any) -> dict:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "timestamp": "2024-05-01T10:00:00.123456789Z",
        "action": action,
        "target": {
            "mediaType": media_type,
            "size": 525,
            "digest": DIGEST,
            "length": 525,
            "repository": "acme/app",
            "url": "http://registry.test/v2/acme/app/manifests/" + DIGEST,
        },
        "request": {
            "id": "r1",
            "addr": "127.0.0.1:5000",
            "host": "registry.test",
            "method": "PUT",
            "useragent": "skopeo/1.9.3",
        },
        "actor": {"name": "contributor"},
        "source": {"addr": "vm:5000", "instanceID": "i1"},
    }
    if tag:
        body["target"]["tag"] = tag
    body["target"].update(target)
    return body


def send(
    client: Client,
    world: World,
    events: list[dict] | Any,
    *,
    secret: str | None = "right",
    **extra: Any,
):
    headers = {}
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = "Bearer " + (
            world.registry.notification_secret() if secret == "right" else secret
        )
    body = json.dumps({"events": events}) if isinstance(events, list) else events
    return client.post(URL, data=body, content_type=ENVELOPE_TYPE, **headers, **extra)


@pytest.fixture
def client() -> Client:
    return Client()


def test_missing_or_wrong_secret_is_refused_and_nothing_is_stored(client: Client, world: World) -> None:
    assert send(client, world, [event()], secret=None).status_code == 401
    assert send(client, world, [event()], secret="guess").status_code == 401
    answer = client.post(
        URL,
        data=json.dumps({"events": [event()]}),
        content_type=ENVELOPE_TYPE,
        HTTP_AUTHORIZATION="Basic " + world.registry.notification_secret(),
    )
    assert answer.status_code == 401
    assert "portusctl registry config" in answer.json()["errors"][0]["message"]
    assert not RegistryEvent.objects.exists()


def test_manifest_events_of_every_kind_are_stored(client: Client, world: World) -> None:
    kinds = [DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX]
    answer = send(client, world, [event(media_type=kind, tag=f"t{i}") for i, kind in enumerate(kinds)])
    assert answer.status_code == 200
    assert answer.json() == {"stored": 4, "ignored": 0}
    stored = RegistryEvent.objects.get(tag="t0")
    assert (stored.action, stored.repository, stored.digest, stored.actor) == (
        "push",
        "acme/app",
        DIGEST,
        "contributor",
    )
    assert stored.registry == world.registry
    assert stored.occurred_at.isoformat() == "2024-05-01T10:00:00.123456+00:00"


def test_blob_events_mounts_untagged_pushes_and_portus_own_pulls_are_ignored(client: Client, world: World) -> None:
    ignored = [
        event(media_type="application/octet-stream", tag=None),
        event(media_type="application/vnd.oci.image.layer.v1.tar+gzip", tag=None),
        event(action="mount", media_type="application/octet-stream", tag=None),
        event(media_type=OCI_MANIFEST, tag=None),  # a platform manifest of an index, pushed by digest
        {
            **event(action="pull"),
            "actor": {"name": "portus"},
        },  # synchronization reading the registry
    ]
    answer = send(client, world, ignored)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 0, "ignored": 5}
    assert not RegistryEvent.objects.exists()


def test_deletions_by_digest_or_by_tag_and_pulls_are_stored(client: Client, world: World) -> None:
    by_digest = event(action="delete", media_type="", tag=None)
    by_tag = event(action="delete", media_type="", tag="v1")
    del by_tag["target"]["digest"]
    pull = event(action="pull")
    assert send(client, world, [by_digest, by_tag, pull]).json() == {"stored": 3, "ignored": 0}


def test_a_retried_delivery_changes_nothing(client: Client, world: World) -> None:
    same = event()
    assert send(client, world, [same]).status_code == 200
    stored = RegistryEvent.objects.get()
    assert send(client, world, [same, same]).status_code == 200
    assert RegistryEvent.objects.get() == stored
    assert RegistryEvent.objects.get().received_at == stored.received_at


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps([1, 2]), '"events" list'),
        (json.dumps({"events": {}}), '"events" list'),
        (json.dumps({"events": ["x"]}), "events[0] must be an object"),
    ],
)
def test_a_malformed_envelope_is_a_clear_400(client: Client, world: World, body: str, message: str) -> None:
    answer = send(client, world, body)
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("id"), "events[1].id is missing"),
        (lambda e: e.update(timestamp="yesterday"), "events[1].timestamp is not an RFC 3339 time"),
        (lambda e: e.update(target="x"), "events[1].target must be an object"),
        (lambda e: e["target"].update(repository="Not/Valid"), "is not a repository name"),
        (lambda e: e["target"].update(digest="md5"), "is not a digest"),
        (lambda e: e["target"].pop("digest"), "events[1].target.digest is missing"),
        (lambda e: e["target"].update(tag="bad tag!"), "is not a tag name"),
        (lambda e: e["target"].update(repository=7), "must be a string"),
        (lambda e: e.update(action="x" * 17), "events[1].action is longer than 16 characters"),
        (lambda e: e["target"].update(tag="t" * 129), "events[1].target.tag is longer than 128 characters"),
        (lambda e: e.update(actor="x"), "events[1].actor must be an object"),
    ],
)
def test_a_bad_event_refuses_the_whole_envelope(client: Client, world: World, change: Any, message: str) -> None:
    bad = event(tag="v2")
    change(bad)
    answer = send(client, world, [event(), bad])
    assert answer.status_code == 400
    assert message in answer.json()["errors"][0]["message"]
    assert not RegistryEvent.objects.exists()


def test_oversized_body_is_refused(client: Client, world: World, portus_config: Any) -> None:
    portus_config("webhooks.max_body_bytes", 2000)
    many = [event(tag=f"t{i}") for i in range(10)]
    answer = send(client, world, many)
    assert answer.status_code == 413
    assert "webhooks.max_body_bytes" in answer.json()["errors"][0]["message"]
    assert not RegistryEvent.objects.exists()


def test_only_post_is_allowed(client: Client, world: World) -> None:
    answer = client.get(URL, HTTP_AUTHORIZATION="Bearer " + world.registry.notification_secret())
    assert answer.status_code == 405


# -- what happens after storing, and when Portus itself fails -------------------------------------


def test_stored_events_wake_a_waiting_worker_once_committed(
    client: Client, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    waiter = Waiter()
    waiter.open()
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            assert send(client, world, [event()]).json() == {"stored": 1, "ignored": 0}
            assert waiter.wait(0.05) is False  # not before the events are committed
        assert callbacks, "the intake should wake the worker when its transaction commits"
        for callback in callbacks:
            callback()
        assert waiter.wait(10) is True
    finally:
        waiter.close()


def test_the_intake_announces_stored_events_with_a_signal(client: Client, world: World) -> None:
    heard: list[dict[str, Any]] = []

    def listener(**kwargs: Any) -> None:
        heard.append(kwargs)

    registry_events_stored.connect(listener)
    try:
        send(client, world, [event(tag="a"), event(tag="b"), event(media_type="application/octet-stream", tag=None)])
        send(client, world, [event(media_type="application/octet-stream", tag=None)])  # nothing stored
    finally:
        registry_events_stored.disconnect(listener)
    assert [(h["registry"], h["count"]) for h in heard] == [(world.registry, 2)]


def test_the_intake_imports_nothing_from_the_background_worker() -> None:
    package = Path(portus.registry_endpoints.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("portus.background"), module.name
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("portus.background") for alias in node.names), module.name


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_failure_answers_in_distributions_error_envelope(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch, settings: Any, caplog: Any, debug: bool
) -> None:
    settings.DEBUG = debug

    def broken(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(RegistryEvent.objects, "bulk_create", broken)
    with caplog.at_level(logging.ERROR, logger="portus.registry_endpoints"):
        answer = send(client, world, [event()])
    assert answer.status_code == 500
    assert answer["Content-Type"] == "application/json"
    (error,) = answer.json()["errors"]
    assert error["code"] == "UNKNOWN"
    incident = error["detail"]["incident"]
    assert incident in error["message"]
    assert "disk I/O error" not in answer.content.decode()  # the details stay in the log
    (record,) = [r for r in caplog.records if r.name.startswith("portus.registry_endpoints")]
    assert incident in record.getMessage()
    assert record.exc_info is not None and "disk I/O error" in str(record.exc_info[1])


@pytest.mark.postgresql
def test_on_postgresql_the_intake_notifies_listeners_when_its_transaction_commits(
    transactional_db: None, client: Client, world: World
) -> None:
    import psycopg

    params = connection.get_connection_params()
    for unused in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(unused, None)
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        assert send(client, world, [event()]).status_code == 200
        heard = [n.channel for n in listener.notifies(timeout=10, stop_after=1)]
    assert heard == [CHANNEL]
