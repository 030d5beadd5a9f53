"""Notifications per second accepted by `POST /v2/webhooks/events` under gunicorn, measured with wrk,
against the bare Django JSON view (bench/bare_django.py) on the same gunicorn command line.

Each request carries one manifest push event with a unique id (a Lua script makes them), the way the
registry delivers them. Afterwards the stored rows are counted, so the figure is events stored, not
just answers. It prints both rates, their ratio and the server CPU time per request (steadier than
rates on a busy machine). With PORTUS_DB_ADAPTER=postgresql it uses the database
portus_bench_tokens on 127.0.0.1 (dropped and created afresh). Usage:
    python3 bench/event_intake.py [--seconds 10] [--connections 4] [--workers 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import free_port, load, portusctl, prepare_environment, start, stop, wait_http  # noqa: E402
from token_throughput import POSTGRES_DATABASE, bare_command, create_postgres_database, server_cpu_seconds  # noqa: E402

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
    database = "SQLite"
    if os.environ.get("PORTUS_DB_ADAPTER") == "postgresql":
        os.environ["PORTUS_DB_DATABASE"] = POSTGRES_DATABASE
        create_postgres_database(POSTGRES_DATABASE)
        database = "PostgreSQL"
    import django

    django.setup()
    from portus.cli.server import SERVE_THREADS
    from portus.registry.models import Registry, RegistryEvent

    portusctl("migrate", "-v", "0")
    portusctl("registry", "add", "--name", "bench", "--hostname", "127.0.0.1:5999")
    secret = Registry.objects.get().notification_secret()
    script = data_dir / "events.lua"
    script.write_text(LUA.replace("SECRET", secret))
    port, bare_port = free_port(), free_port()
    env = {**os.environ, "PORTUS_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "portus.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    threads = str(SERVE_THREADS)
    web = start([*command, "--workers", str(args.workers), "--threads", threads], data_dir / "web.log", env=env)
    bare_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    bare = start(bare_command(bare_port, args.workers, SERVE_THREADS), data_dir / "bare.log", env=bare_env)

    def wrk(url: str, seconds: int, server: object, *extra: str) -> tuple[str, float]:
        before = server_cpu_seconds(server)  # type: ignore[arg-type]
        command = ["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", *extra, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        answered = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
        return output, (server_cpu_seconds(server) - before) / max(answered, 1) * 1e6  # type: ignore[arg-type]

    try:
        wait_http(f"http://127.0.0.1:{port}/_ping")
        wait_http(f"http://127.0.0.1:{bare_port}/bare")
        # The bare Django view on the same gunicorn command line, right before: what this machine allows now.
        baseline, baseline_cpu = wrk(f"http://127.0.0.1:{bare_port}/bare", max(3, args.seconds // 2), bare)
        result, result_cpu = wrk(f"http://127.0.0.1:{port}/v2/webhooks/events", args.seconds, web, "-s", str(script))
    finally:
        stop(web, bare)
    answered = int(re.search(r"(\d+) requests in", result).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result)
    stored = RegistryEvent.objects.count()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result).group(1))  # type: ignore[union-attr]
    bare_rate = float(re.search(r"Requests/sec:\s+([\d.]+)", baseline).group(1))  # type: ignore[union-attr]
    print(
        f"baseline: the bare Django view on the same gunicorn: {bare_rate:.0f} requests/s, {baseline_cpu:.0f} µs CPU each"
    )
    # More rows than answers happens when wrk gives up on a slow answer (a timeout) that still committed.
    print(
        f"event intake: {rate:.0f} notifications/s answered ({rate / bare_rate:.2f} of the bare view, "
        f"{result_cpu:.0f} µs server CPU each), {stored} stored for {answered} answered "
        f"({non2xx.group(1) if non2xx else 0} non-2xx), gunicorn {args.workers} workers x {SERVE_THREADS} threads, {database}, "
        f"{args.connections} connections, {args.seconds} s  ({load()})"
    )
    if database == "PostgreSQL":
        from django.db import connections

        connections.close_all()
        create_postgres_database(POSTGRES_DATABASE, drop=True)


if __name__ == "__main__":
    main()
