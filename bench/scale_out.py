"""Token throughput and push-to-visible through nginx, with one web process and with two, in the same run.

Starts two `portusctl serve` processes (one gunicorn worker each), one worker, a real docker-registry and two
nginx instances on loopback: one in front of the first web process only, one in front of both. wrk asks for
tokens through each (password logins); skopeo pushes through each and the time until the tag is in Portus is
measured. Prints both figures and the ratio two/one. Usage:
    python3 bench/scale_out.py [--seconds 10] [--pushes 10] [--connections 16]
Set PORTUS_DB_ADAPTER=postgresql PORTUS_DB_DATABASE=NAME (an empty database) to run it on PostgreSQL.
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import free_port, load, portusctl, prepare_environment, registry_binary, start, stop, wait_http  # noqa: E402

PASSWORD = "bench-password-1"


def wrk_tokens(url: str, seconds: int, connections: int) -> float:
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    header = "Authorization: Basic " + base64.b64encode(f"pusher:{PASSWORD}".encode()).decode()
    done = subprocess.run(
        [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-H", header, url],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if not found or "Non-2xx" in done.stdout:
        raise SystemExit(f"wrk failed or saw errors:\n{done.stdout}")
    return float(found.group(1))


def push_to_visible(registry_host: str, layout_root: Path, prefix: str, pushes: int) -> list[float]:
    from portus.registry.models import Tag
    from tests.support.images import make_image

    delays = []
    for n in range(pushes):
        image = make_image(layout_root / f"{prefix}{n}", "v1", files={"n.txt": f"{prefix} {n}\n".encode()})
        subprocess.run(
            ["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds", f"pusher:{PASSWORD}",
             image.reference, f"docker://{registry_host}/pusher/{prefix}{n}:v1"],
            check=True, capture_output=True,
        )  # fmt: skip
        ended = time.monotonic()
        while not Tag.objects.filter(repository__name=f"{prefix}{n}", name="v1").exists():
            if time.monotonic() - ended > 30:
                raise SystemExit(f"{prefix}{n}:v1 never became visible")
            time.sleep(0.002)
        delays.append(time.monotonic() - ended)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    data_dir = prepare_environment("portus-bench-scale-")
    import django

    django.setup()
    from tests.support.scale_out import start_nginx, start_web, wait_for_ping

    registry_host = f"127.0.0.1:{free_port()}"
    web_ports = [free_port(), free_port()]
    one_port, two_port = free_port(), free_port()
    portusctl("migrate", "-v", "0")
    portusctl("registry", "add", "--name", "bench", "--hostname", registry_host)
    portusctl("user", "create", "pusher", "--password", PASSWORD, "--email", "p@example.com")
    import os

    env = dict(os.environ)
    webs = [start_web(port, env, data_dir / f"web{i}.log", data_dir / f"web{i}") for i, port in enumerate(web_ports)]
    worker = start([sys.executable, "-m", "portus.cli", "background"], data_dir / "worker.log")
    nginx_one = start_nginx(data_dir / "nginx-one", one_port, web_ports[:1])
    nginx_two = start_nginx(data_dir / "nginx-two", two_port, web_ports)
    registries = []
    try:
        for port in web_ports:
            wait_for_ping(f"http://127.0.0.1:{port}/api/v1/_ping", webs)
        token_query = urllib.parse.urlencode(
            {"service": registry_host, "scope": "repository:pusher/app:pull,push", "account": "pusher"}
        )
        rates: dict[str, float] = {}
        delays: dict[str, list[float]] = {}
        for label, port in (("one", one_port), ("two", two_port), ("one again", one_port)):
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/api/v1/_ping")
            rates[label] = wrk_tokens(f"{url}/v2/token?{token_query}", args.seconds, args.connections)
        for label, port in (("one", one_port), ("two", two_port)):
            url = f"http://127.0.0.1:{port}"
            config = data_dir / f"registry-{port}.yml"
            portusctl(
                "registry", "config", "--portus-url", url, "--storage", str(data_dir / "storage"), "-o", str(config)
            )
            registry = start([registry_binary(), "serve", str(config)], data_dir / f"registry-{port}.log")
            registries.append(registry)
            wait_http(f"http://{registry_host}/v2/")
            delays[label] = push_to_visible(registry_host, data_dir / "layouts", f"app{port}-", args.pushes)
            stop(registry)
        print(f"scale-out through nginx, {load()}")
        print(f"{'':>28} {'one web process':>16} {'two web processes':>18} {'two / one':>10}")
        one = statistics.mean([rates["one"], rates["one again"]])
        print(f"{'tokens per second':>28} {one:>16.0f} {rates['two']:>18.0f} {rates['two'] / one:>10.2f}")
        for name, pick in (("push->visible p50 (ms)", 0.5), ("push->visible max (ms)", 1.0)):
            values = {label: sorted(d)[min(len(d) - 1, int(pick * len(d)))] * 1000 for label, d in delays.items()}
            print(f"{name:>28} {values['one']:>16.1f} {values['two']:>18.1f} {values['two'] / values['one']:>10.2f}")
        print(
            f"(tokens with one process: {rates['one']:.0f}/s before, {rates['one again']:.0f}/s after the two-process run)"
        )
    finally:
        stop(nginx_one, nginx_two, worker, *registries, *webs)


if __name__ == "__main__":
    main()
