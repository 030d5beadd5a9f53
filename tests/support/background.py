"""Running the background worker in tests: in-process steps, or a real `portusctl background` process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

from portus.background.worker import Worker

ROOT = Path(__file__).resolve().parents[2]


def settle(worker: Worker, done: Callable[[], bool], timeout: float = 30) -> None:
    """Let WORKER apply whatever arrives until DONE() holds; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        while worker.handle_one_event():
            pass
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker process sharing this test's database, data directory and settings."""
    env = dict(os.environ)
    env.update(
        {
            "PORTUS_ENV": "test",
            "PORTUS_DATA_DIR": str(settings.DATA_DIR),
            "PORTUS_DB_DATABASE": str(connection.settings_dict["NAME"]),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def start_worker(log_path: Path, **extra: str) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "portus.cli", "background"],
            cwd=ROOT,
            env=worker_env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
