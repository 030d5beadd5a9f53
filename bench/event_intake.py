"""Notifications per second accepted by `POST /v2/webhooks/events` under gunicorn, measured with wrk.

Each request carries one manifest push event with a unique id (a Lua script makes them), the way the
registry delivers them. Afterwards the stored rows are counted, so the figure is events stored, not
just answers. Usage:
    python3 bench/event_intake.py [--seconds 10] [--connections 4] [--workers 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import free_port, load, portusctl, prepare_environment, start, stop, wait_http  # noqa: E402

LUA = r"""
local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() + tid)
end
request = function()
  counter = counter + 1
  local id = string.format("bench-%d-%d-%d", tid, counter, math.random(1, 1000000000))
  local body = string.format([[{"events":[{"id":"%s","timestamp":"2024-05-01T10:00:00.123456789Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":525,"digest":"sha256:%s","length":525,"repository":"bench/app","url":"http://registry/v2/bench/app/manifests/x","tag":"t%d"},"request":{"id":"r","addr":"127.0.0.1","host":"registry","method":"PUT","useragent":"skopeo"},"actor":{"name":"pusher"},"source":{"addr":"vm:5000","instanceID":"i"}}]}]], id, string.rep("a", 64), counter)
  return wrk.format("POST", "/v2/webhooks/events", {["Authorization"] = "Bearer SECRET", ["Content-Type"] = "application/vnd.docker.distribution.events.v1+json"}, body)
end
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    data_dir = prepare_environment("portus-bench-intake-")
    import django

    django.setup()
    from portus.registry.models import Registry, RegistryEvent

    portusctl("migrate", "-v", "0")
    portusctl("registry", "add", "--name", "bench", "--hostname", "127.0.0.1:5999")
    secret = Registry.objects.get().notification_secret()
    script = data_dir / "events.lua"
    script.write_text(LUA.replace("SECRET", secret))
    port = free_port()
    web = start(
        [
            sys.executable,
            "-m",
            "portus.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
        ],
        data_dir / "web.log",
        env={**__import__("os").environ, "PORTUS_LOG_LEVEL": "WARNING"},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_ping")
        # The same server answering a trivial JSON view, right before: what this machine allows now.
        baseline = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{max(3, args.seconds // 2)}s",
                f"http://127.0.0.1:{port}/_ping",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/v2/webhooks/events",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        stop(web)
    print(result.stdout)
    answered = int(re.search(r"(\d+) requests in", result.stdout).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    stored = RegistryEvent.objects.count()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    ping = float(re.search(r"Requests/sec:\s+([\d.]+)", baseline.stdout).group(1))  # type: ignore[union-attr]
    print(f"baseline: GET /_ping on the same gunicorn: {ping:.0f} requests/s")
    # More rows than answers happens when wrk gives up on a slow answer (a timeout) that still committed.
    print(
        f"event intake: {rate:.0f} notifications/s answered, {stored} stored for {answered} answered "
        f"({non2xx.group(1) if non2xx else 0} non-2xx), gunicorn {args.workers} workers, SQLite, "
        f"{args.connections} connections, {args.seconds} s  ({load()})"
    )


if __name__ == "__main__":
    main()
