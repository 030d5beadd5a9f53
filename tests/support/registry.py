"""Starting a real Docker Distribution registry (Debian's docker-registry) wired to a Portus under test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from django.core.signals import request_finished, request_started

from tests.conftest import require

# Requests the live server's threads are still answering. A registry that stops may leave a
# notification being handled; the test database must not be flushed under it (PostgreSQL reports a
# deadlock). Only server threads count: the test client answers in the test's own thread.
_in_flight: set[int] = set()
_in_flight_lock = threading.Lock()


def _request_started(**_: object) -> None:
    if threading.current_thread() is not threading.main_thread():
        with _in_flight_lock:
            _in_flight.add(threading.get_ident())


def _request_finished(**_: object) -> None:
    with _in_flight_lock:
        _in_flight.discard(threading.get_ident())


request_started.connect(_request_started, weak=False, dispatch_uid="tests-in-flight-started")
request_finished.connect(_request_finished, weak=False, dispatch_uid="tests-in-flight-finished")


def wait_for_requests_to_finish(timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _in_flight and time.monotonic() < deadline:
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningRegistry:
    hostname: str  # 127.0.0.1:PORT, also the token service
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None  # None while stopped

    @property
    def url(self) -> str:
        return f"http://{self.hostname}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def start(self) -> None:
        """Start the registry (again, after stop(): same port, configuration and storage); wait until it answers."""
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                [registry_binary(), "serve", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
            )
        self.process = process
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.get(f"{self.url}/v2/", timeout=1)
                if answer.status_code in (200, 401):
                    return
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start:\n{self.log()}")
            time.sleep(0.05)


def registry_binary() -> str:
    found = shutil.which("docker-registry")
    require(found is not None, "docker-registry is not installed (apt-get install docker-registry)")
    return str(found)


def skopeo_binary() -> str:
    found = shutil.which("skopeo")
    require(found is not None, "skopeo is not installed (apt-get install skopeo)")
    return str(found)


@contextmanager
def running_registry(config_text: str, hostname: str, workdir: Path) -> Iterator[RunningRegistry]:
    registry_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yml"
    config_path.write_text(config_text)
    log_path = workdir / "registry.log"
    log_path.touch()
    registry = RunningRegistry(hostname, config_path, log_path)
    try:
        registry.start()
        yield registry
    finally:
        registry.stop()
        wait_for_requests_to_finish()


def skopeo(*args: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run skopeo (STDIN for --password-stdin); the caller checks returncode (a denied push is an expected failure)."""
    return subprocess.run(
        [skopeo_binary(), "--insecure-policy", *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )
