"""The one registry client, against a real registry: not found, unreachable, refused, and its users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from portus.registry.client import NotFound, RegistryClient, RegistryError, RegistryUnavailable
from portus.registry.deletion import RegistryDeletionError, delete_image
from portus.registry.events import read_registry
from portus.registry.models import Registry, RegistryEvent
from portus.registry.reachability import check_registry
from tests.conftest import World
from tests.support.registry import RunningRegistry, free_port, running_registry
from tests.support.web import add_repository

# No token authentication and no storage.delete: the registry answers 404s and refuses deletions.
PLAIN_REGISTRY = """version: 0.1
storage: {{filesystem: {{rootdirectory: {root}}}}}
http: {{addr: "{addr}"}}
"""
DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def plain(world: World, tmp_path: Path) -> Iterator[RunningRegistry]:
    addr = f"127.0.0.1:{free_port()}"
    world.registry.hostname = addr
    world.registry.save()
    with running_registry(PLAIN_REGISTRY.format(root=tmp_path / "data", addr=addr), addr, tmp_path / "r") as running:
        yield running


@pytest.fixture
def nowhere(world: World) -> Registry:
    world.registry.hostname = f"127.0.0.1:{free_port()}"  # nothing listens there
    world.registry.save()
    return world.registry


def test_a_missing_manifest_is_not_found(world: World, plain: RunningRegistry) -> None:
    client = RegistryClient(world.registry)
    with pytest.raises(NotFound) as raised:
        client.manifest("acme/app", DIGEST)
    assert raised.value.status == 404


def test_a_registry_that_does_not_answer_is_unavailable_not_missing(nowhere: Registry) -> None:
    with pytest.raises(RegistryUnavailable, match="cannot reach the registry") as raised:
        RegistryClient(nowhere).tags("acme/app")
    assert raised.value.status is None and not isinstance(raised.value, NotFound)


def test_every_call_uses_one_timeout_policy(world: World, portus_config) -> None:  # type: ignore[no-untyped-def]
    portus_config("registry.timeout.value", 3)
    portus_config("registry.read_timeout.value", 40)
    assert RegistryClient(world.registry).timeout == (3.0, 40.0)


def test_a_registry_that_refuses_deletions_answers_with_its_status(world: World, plain: RunningRegistry) -> None:
    with pytest.raises(RegistryError) as raised:
        RegistryClient(world.registry).delete_manifest("acme/app", DIGEST)
    assert raised.value.status == 405 and not isinstance(raised.value, (NotFound, RegistryUnavailable))


def test_deletion_explains_a_refusal_and_keeps_the_tags(world: World, plain: RunningRegistry) -> None:
    repository = add_repository(world.namespace, "app", {"v1": DIGEST})
    with pytest.raises(RegistryDeletionError, match="enable storage.delete"):
        delete_image(tag=repository.tags.get(), actor=world.owner)
    assert repository.tags.count() == 1


def test_deletion_says_the_registry_is_down_and_keeps_the_tags(world: World, nowhere: Registry) -> None:
    repository = add_repository(world.namespace, "app", {"v1": DIGEST})
    with pytest.raises(RegistryDeletionError, match="Cannot reach the registry at .*nothing was deleted"):
        delete_image(tag=repository.tags.get(), actor=world.owner)
    assert repository.tags.count() == 1


def test_reachability_asks_through_the_client(world: World, plain: RunningRegistry) -> None:
    found = check_registry(plain.hostname, use_ssl=False)
    assert found.ok and "answered 200 and speaks registry/2.0" in found.message


def test_reachability_reports_a_registry_that_does_not_answer(nowhere: Registry) -> None:
    found = check_registry(nowhere.hostname, use_ssl=False)
    assert not found.ok and found.message.startswith(f"Cannot reach http://{nowhere.hostname}/v2/")


def event(world: World, action: str, repository: str = "acme/app") -> RegistryEvent:
    return RegistryEvent.objects.create(
        registry=world.registry,
        event_id=f"{action}-{repository}",
        action=action,
        repository=repository,
        tag="v1",
        digest=DIGEST,
        occurred_at=timezone.now(),
    )


def test_events_read_the_registry_only_for_a_push_or_delete_into_a_known_namespace(
    nowhere: Registry, world: World
) -> None:
    client = RegistryClient(nowhere)  # any read would raise RegistryUnavailable
    assert read_registry(event(world, "pull"), client) is None
    assert read_registry(event(world, "push", "nobody/app"), client) is None
    assert read_registry(event(world, "delete", "nobody/app"), client) is None
    with pytest.raises(RegistryUnavailable):
        read_registry(event(world, "push"), client)
    # A deletion is confirmed with the registry before it is applied (a notification is only a claim).
    with pytest.raises(RegistryUnavailable):
        read_registry(event(world, "delete"), client)


def test_a_pushed_manifest_already_gone_reads_as_nothing(world: World, plain: RunningRegistry) -> None:
    assert read_registry(event(world, "push"), RegistryClient(world.registry)) is None


def test_a_token_is_kept_per_scope_until_shortly_before_it_expires(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import portus.registry.client as client_module

    minted: list[str] = []
    clock = [1000.0]

    def mint(subject: str, audience: str, access: list[dict[str, object]]) -> tuple[str, int, int]:
        minted.append(str(access[0]["name"]))
        return f"token-{len(minted)}", 300, 0

    monkeypatch.setattr(client_module, "registry_token", mint)
    monkeypatch.setattr(client_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(client_module, "TOKENS_KEPT", 2)
    client = RegistryClient(world.registry)

    def pull(name: str) -> str:
        return client._authorization({"type": "repository", "name": name, "actions": ["pull"]})

    # Events of two repositories, interleaved: one token each, not one per read.
    assert [pull(n) for n in ("a", "b", "a", "b")] == ["Bearer token-1", "Bearer token-2"] * 2
    assert minted == ["a", "b"]
    clock[0] += 300 - 30 + 1  # within 30 s of its expiry: a new one
    assert pull("a") == "Bearer token-3"
    pull("c")  # a third scope: the least recently used one ("b") goes
    assert pull("a") == "Bearer token-3" and pull("b") == "Bearer token-5"
    assert minted == ["a", "b", "a", "c", "b"]
