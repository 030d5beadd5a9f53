"""Shared set-up for the benchmarks: a throw-away Portus data directory, its database, processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_environment(prefix: str) -> Path:
    """A fresh data directory (SQLite database, key) in os.environ, before Django is set up."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["PORTUS_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("PORTUS_ENV", "development")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portus.settings"
    os.environ["PORTUS_LOG_LEVEL"] = os.environ.get("PORTUS_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    from portus.config import prepare_data_dir

    prepare_data_dir()  # the development secret this process and the servers it starts share
    return data_dir


def portusctl(*args: str) -> None:
    from portus.cli import main

    status = main(list(args))
    if status:
        raise SystemExit(f"portusctl {' '.join(args)} failed with {status}")


def start(command: list[str], log_path: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]


def wait_http(url: str, ok: tuple[int, ...] = (200, 401, 404, 405), timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code in ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def registry_binary() -> str:
    found = shutil.which("docker-registry")
    if not found:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    return found
