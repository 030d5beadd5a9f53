"""First request against the hundredth on a fresh `portusctl serve` worker, after a start and after a recycle.

One gunicorn worker. The script waits until the port answers a TCP connect and then a settle time
(the worker has booted by then), so what it times is the request itself: the lazy work a worker
leaves for its first request (URL map, API routers, templates, signing key) shows up as the gap
between the first and the hundredth. Then it kills the worker (SIGKILL), lets gunicorn start a new
one, and times that one's first request the same way. --source DIR runs the server from another
checkout (the tree before a change), for a before/after in the same minutes. Usage:
    python3 bench/cold_start.py [--path /api/v1/_ping] [--settle 8] [--requests 100] [--source DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import ROOT, free_port, load, portusctl, prepare_environment, stop  # noqa: E402


def start(command: list[str], log_path: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_port(port: int, timeout: float = 60) -> None:
    """A bare TCP connect: an HTTP request here would do the worker's lazy work before the timing starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} never accepted a connection")


def timed(url: str) -> float:
    started = time.perf_counter()
    response = requests.get(url, timeout=60, headers={"Connection": "close"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed


def series(url: str, count: int) -> tuple[float, float, float]:
    times = [timed(url) for _ in range(count)]
    return times[0], times[-1], statistics.median(times[1:])


def worker_pids(arbiter: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == arbiter:
                children.add(int(entry.name))
    return children


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default="/api/v1/_ping")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds to let a new worker boot")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--source", type=Path, help="a checkout to run the server from (default: this one)")
    args = parser.parse_args()
    data_dir = prepare_environment("portus-bench-cold-")
    portusctl("migrate", "-v", "0")
    port = free_port()
    url = f"http://127.0.0.1:{port}{args.path}"
    command = [sys.executable, "-m", "portus.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
    web = start(command, data_dir / "web.log", env=env, cwd=args.source or ROOT)
    try:
        wait_port(port)
        time.sleep(args.settle)
        first, last, median = series(url, args.requests)
        print(
            f"after start:   first {first * 1000:8.1f} ms   #{args.requests} {last * 1000:6.1f} ms   median {median * 1000:6.1f} ms"
        )
        workers = worker_pids(web.pid)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (worker_pids(web.pid) - workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(args.settle)
        first, last, median = series(url, args.requests)
        print(
            f"after recycle: first {first * 1000:8.1f} ms   #{args.requests} {last * 1000:6.1f} ms   median {median * 1000:6.1f} ms"
        )
        print(load())
    finally:
        stop(web)


if __name__ == "__main__":
    main()
