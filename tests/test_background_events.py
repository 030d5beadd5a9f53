"""The worker's event step without a registry: retries with backoff, giving up, and claims."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from portus.background.models import TaskName, TaskStatus
from portus.background.worker import Worker
from portus.registry.models import EventState, RegistryEvent
from tests.conftest import World


@pytest.fixture
def unreachable(world: World) -> World:
    world.registry.hostname = "127.0.0.1:1"  # nothing listens there: connection refused
    world.registry.save()
    return world


def push_event(world: World, event_id: str = "e1", repository: str = "acme/app") -> RegistryEvent:
    return RegistryEvent.objects.create(
        registry=world.registry,
        event_id=event_id,
        action="push",
        repository=repository,
        tag="v1",
        digest="sha256:" + "a" * 64,
        actor="contributor",
        occurred_at=timezone.now(),
    )


def test_an_unreadable_registry_puts_the_event_back_with_a_backoff(unreachable: World) -> None:
    event = push_event(unreachable)
    worker = Worker()
    assert worker.handle_one_event() is True
    event.refresh_from_db()
    assert event.state == EventState.PENDING
    assert event.attempts == 1 and event.claim == ""
    assert event.lease_until is not None and event.lease_until > timezone.now()
    assert "cannot read the registry" in event.result
    assert worker.handle_one_event() is False  # backing off: not claimable yet
    status = TaskStatus.objects.get(name=TaskName.REGISTRY_EVENTS)
    assert "cannot read the registry" in status.last_error


def test_the_event_is_marked_failed_after_the_last_attempt(unreachable: World, portus_config: Any) -> None:
    portus_config("background.max_attempts.value", 2)
    event = push_event(unreachable)
    worker = Worker()
    for _ in range(2):
        assert worker.handle_one_event() is True
        RegistryEvent.objects.filter(pk=event.pk).update(lease_until=None)  # skip the backoff
    event.refresh_from_db()
    assert (event.state, event.attempts) == (EventState.FAILED, 2)
    assert worker.handle_one_event() is False


def test_a_later_event_of_the_same_repository_waits_for_the_earlier_one(unreachable: World) -> None:
    first = push_event(unreachable, "first")
    push_event(unreachable, "second")
    push_event(unreachable, "other", repository="acme/other")
    worker = Worker()
    claimed = [worker.claim_event() for _ in range(3)]
    assert [c[0].event_id if c else None for c in claimed] == ["first", "other", None]
    assert RegistryEvent.objects.get(pk=first.pk).claim == claimed[0][1]  # type: ignore[index]


def test_an_event_claimed_by_a_live_worker_is_not_taken_until_its_lease_ends(unreachable: World) -> None:
    event = push_event(unreachable)
    assert Worker("one").claim_event() is not None
    assert Worker("two").claim_event() is None
    RegistryEvent.objects.filter(pk=event.pk).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    taken = Worker("two").claim_event()
    assert taken is not None and taken[1].startswith("two:")
    assert RegistryEvent.objects.get(pk=event.pk).attempts == 2


def test_a_worker_whose_claim_was_taken_over_applies_nothing(unreachable: World) -> None:
    from portus.registry.models import Repository

    event = RegistryEvent.objects.create(
        registry=unreachable.registry,
        event_id="d1",
        action="delete",
        repository="acme/app",
        digest="sha256:" + "a" * 64,
        occurred_at=timezone.now(),
    )
    Repository.objects.create(namespace=unreachable.namespace, name="app")
    slow = Worker("slow")
    claimed = slow.claim_event()
    assert claimed is not None
    # The lease ran out while "slow" was busy; another worker took the event and finished it.
    RegistryEvent.objects.filter(pk=event.pk).update(claim="fast:1", state=EventState.DONE)
    original = slow.claim_event
    slow.claim_event = lambda: claimed  # type: ignore[method-assign]
    try:
        assert slow.handle_one_event() is True
    finally:
        slow.claim_event = original  # type: ignore[method-assign]
    event.refresh_from_db()
    assert event.claim == "fast:1" and event.result == ""


def test_only_a_pending_event_of_the_same_registry_and_repository_holds_a_later_one(unreachable: World) -> None:
    from portus.registry.models import Registry

    other = Registry.objects.create(name="other", hostname="127.0.0.1:2")
    applied = push_event(unreachable, "applied")
    failed = push_event(unreachable, "failed")
    RegistryEvent.objects.filter(pk=applied.pk).update(state=EventState.DONE)
    RegistryEvent.objects.filter(pk=failed.pk).update(state=EventState.FAILED)
    RegistryEvent.objects.create(
        registry=other, event_id="elsewhere", action="push", repository="acme/app", occurred_at=timezone.now()
    )
    push_event(unreachable, "next")
    push_event(unreachable, "after")
    worker = Worker()
    claimed = [worker.claim_event() for _ in range(3)]
    # "elsewhere" (same name, another registry) does not hold "next"; "after" waits for "next".
    assert [c[0].event_id if c else None for c in claimed] == ["elsewhere", "next", None]
    RegistryEvent.objects.filter(event_id="next").update(state=EventState.DONE)
    taken = worker.claim_event()
    assert taken is not None and taken[0].event_id == "after"
