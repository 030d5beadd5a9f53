"""Waking the worker: the local datagram after a commit, and PostgreSQL NOTIFY."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from portus.background.wakeup import Waiter, notify_in_transaction, wake_local_workers, wakeup_dir


@pytest.fixture
def waiter(transactional_db: None) -> Iterator[Waiter]:
    waiter = Waiter()
    waiter.open()
    yield waiter
    waiter.close()


def test_a_datagram_wakes_the_waiting_worker_and_is_consumed(waiter: Waiter) -> None:
    assert waiter.path is not None and waiter.path.parent == wakeup_dir()
    wake_local_workers()
    assert waiter.wait(10) is True
    assert waiter.wait(0.05) is False  # drained: no second wake-up from the same datagram


def test_a_socket_left_by_a_killed_worker_is_removed(waiter: Waiter) -> None:
    import socket

    stale = wakeup_dir() / "worker-0-dead.sock"
    orphan = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    orphan.bind(str(stale))
    orphan.close()  # the file stays, nobody listens: what SIGKILL leaves behind
    wake_local_workers()
    assert not stale.exists()
    assert waiter.wait(10) is True


def test_interrupt_ends_the_wait_for_a_shutdown(waiter: Waiter) -> None:
    waiter.interrupt()
    assert waiter.wait(10) is True


@pytest.mark.postgresql
def test_postgresql_notify_reaches_the_listener_only_after_commit(waiter: Waiter) -> None:
    assert waiter.listener is not None
    with transaction.atomic():
        notify_in_transaction()
        assert waiter.wait(0.2) is False  # not delivered before the events are committed
    assert waiter.wait(10) is True
