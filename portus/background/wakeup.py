"""Waking the worker the moment an event is stored, instead of at its next poll.

Two channels, both best effort (polling stays the fallback, so a lost wake-up only costs latency):
- a datagram to every worker on this machine: each worker binds a Unix datagram socket under
  ``DATA_DIR/run/wakeup`` and the web process sends one byte to each after its transaction commits;
- on PostgreSQL, ``NOTIFY portus_registry_events`` in the same transaction, which also reaches
  workers on other machines (high availability) and is delivered only if the event was committed.
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import socket
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

CHANNEL = "portus_registry_events"
log = logging.getLogger(__name__)
_sender: socket.socket | None = None


def wakeup_dir() -> Path:
    return Path(settings.DATA_DIR) / "run" / "wakeup"


def notify_in_transaction() -> None:
    """Inside the transaction that stores events: tell PostgreSQL listeners once it commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")


def wake_local_workers() -> None:
    """Send one byte to each worker socket on this machine; forget the sockets of dead workers."""
    global _sender
    try:
        entries = list(os.scandir(wakeup_dir()))
    except FileNotFoundError:
        return
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    for entry in entries:
        if not entry.name.endswith(".sock"):
            continue
        try:
            _sender.sendto(b"!", entry.path)
        except (ConnectionRefusedError, FileNotFoundError):
            # A worker killed without cleaning up (SIGKILL) leaves its socket file behind.
            Path(entry.path).unlink(missing_ok=True)
        except OSError:
            pass  # a full buffer means that worker has wake-ups queued already


class Waiter:
    """What the worker sleeps on: its wake-up socket, PostgreSQL LISTEN, and a stop pipe."""

    def __init__(self) -> None:
        self.socket: socket.socket | None = None
        self.path: Path | None = None
        self.listener: Any = None
        self._stop_read, self._stop_write = socket.socketpair()
        self._stop_write.setblocking(False)

    def open(self) -> None:
        directory = wakeup_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"worker-{os.getpid()}-{secrets.token_hex(3)}.sock"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(path))
            sock.setblocking(False)
            self.socket, self.path = sock, path
        except OSError as exc:
            log.warning("no local wake-up socket (%s); events wait for the next poll instead", exc)
        if connection.vendor == "postgresql":
            self.listener = self._listen()

    def _listen(self) -> Any:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        try:
            listener = psycopg.connect(**params, autocommit=True)
            listener.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:  # noqa: BLE001 - a missing wake-up must never stop the worker
            log.warning("cannot LISTEN on PostgreSQL (%s); relying on the local socket and polling", exc)
            return None
        return listener

    def interrupt(self) -> None:
        """Called from a signal handler: end the current wait at once."""
        try:
            self._stop_write.send(b"!")
        except OSError:
            pass

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or TIMEOUT seconds pass; True when something woke us."""
        readers: list[Any] = [self._stop_read]
        if self.socket is not None:
            readers.append(self.socket)
        if self.listener is not None:
            readers.append(self.listener.fileno())
        ready, _, _ = select.select(readers, [], [], timeout)
        self._drain()
        return bool(ready)

    def _drain(self) -> None:
        for sock in (self.socket, self._stop_read):
            if sock is None:
                continue
            sock.setblocking(False)
            try:
                while sock.recv(64):
                    pass
            except (BlockingIOError, OSError):
                pass
        if self.listener is not None:
            try:
                for _ in self.listener.notifies(timeout=0):
                    pass
            except Exception:  # noqa: BLE001 - a broken listener falls back to polling
                log.warning("PostgreSQL LISTEN connection lost; relying on polling")
                self.listener = None

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        if self.listener is not None:
            self.listener.close()
        self._stop_read.close()
        self._stop_write.close()
