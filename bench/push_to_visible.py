"""Time from the end of a `skopeo copy` to the tag being in Portus (p50/p95), with the real worker.

Runs gunicorn (`portusctl serve`), a real docker-registry wired to it, and `portusctl background`,
then pushes N distinct images one after another and measures, for each, how long after skopeo
returned the tag row appeared (the pages and API read that row). Usage:
    python3 bench/push_to_visible.py [--pushes 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import (
    free_port,
    load,
    portusctl,
    prepare_environment,
    registry_binary,
    start,
    stop,
    wait_http,
)  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=30)
    args = parser.parse_args()
    data_dir = prepare_environment("portus-bench-visible-")
    portus_port, registry_port = free_port(), free_port()
    portus_url = f"http://127.0.0.1:{portus_port}"
    registry_host = f"127.0.0.1:{registry_port}"

    import django

    django.setup()
    from portus.registry.models import Tag
    from tests.support.images import make_image

    portusctl("migrate", "-v", "0")
    portusctl("registry", "add", "--name", "bench", "--hostname", registry_host)
    portusctl("user", "create", "pusher", "--password", "bench-password-1", "--email", "p@example.com")
    config = data_dir / "registry.yml"
    portusctl(
        "registry",
        "config",
        "--portus-url",
        portus_url,
        "--storage",
        str(data_dir / "storage"),
        "-o",
        str(config),
    )
    logs = data_dir
    web = start(
        [
            sys.executable,
            "-m",
            "portus.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{portus_port}",
            "--workers",
            "2",
        ],
        logs / "web.log",
    )
    registry = start([registry_binary(), "serve", str(config)], logs / "registry.log")
    worker = start([sys.executable, "-m", "portus.cli", "background"], logs / "worker.log")
    try:
        wait_http(f"{portus_url}/_ping")
        wait_http(f"http://{registry_host}/v2/")
        delays = []
        for n in range(args.pushes):
            image = make_image(data_dir / f"img{n}", tag=f"v{n}", files={"n.txt": f"{n} {time.time()}\n".encode()})
            subprocess.run(
                [
                    "skopeo",
                    "--insecure-policy",
                    "copy",
                    "--dest-tls-verify=false",
                    "--dest-creds",
                    "pusher:bench-password-1",
                    image.reference,
                    f"docker://{registry_host}/pusher/app:v{n}",
                ],
                check=True,
                capture_output=True,
            )
            copied = time.monotonic()
            deadline = copied + 30
            while not Tag.objects.filter(name=f"v{n}", digest=image.manifest_digest).exists():
                if time.monotonic() > deadline:
                    raise SystemExit(f"v{n} did not appear within 30 s; see {logs}/worker.log")
                time.sleep(0.002)
            delays.append(time.monotonic() - copied)
        delays.sort()
        p95 = delays[max(0, round(0.95 * len(delays)) - 1)]
        print(
            f"push -> visible over {len(delays)} pushes: p50 {statistics.median(delays) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms  ({load()})"
        )
    finally:
        stop(worker, web, registry)


if __name__ == "__main__":
    main()
