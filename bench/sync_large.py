"""A full synchronization of a real docker-registry holding many repositories (3 tags each).

The registry's storage is written directly in Distribution's on-disk layout (blobs/sha256/<2>/<hex>/
data, repositories/<name>/_manifests/{revisions,tags}/..., _layers/...) and then served by the real
`docker-registry`; `portusctl sync --delete` runs as its own process, so its wall time and peak RSS
are its own. The first run adds everything, the second finds nothing to change. Usage:
    python3 bench/sync_large.py [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

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

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def link(path: Path, digest: str) -> None:
    write(path / "link", digest.encode())


def blob(root: Path, data: bytes) -> str:
    hexdigest = hashlib.sha256(data).hexdigest()
    write(root / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data", data)
    return "sha256:" + hexdigest


def generate_storage(storage: Path, repositories: int, tags: int) -> None:
    root = storage / "docker" / "registry" / "v2"
    layer = blob(root, b"layer bytes, never read by a sync\n" * 10)
    config = blob(
        root,
        json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode(),
    )
    for r in range(repositories):
        name = f"bench/r{r:05d}"
        repo = root / "repositories" / name
        for shared in (layer, config):
            link(repo / "_layers" / "sha256" / shared.split(":")[1], shared)
        for t in range(tags):
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": config,
                        "size": 90,
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": layer,
                            "size": 350,
                        }
                    ],
                    "annotations": {"bench": f"{name}:{t}"},
                }
            ).encode()
            digest = blob(root, manifest)
            hexdigest = digest.split(":")[1]
            link(repo / "_manifests" / "revisions" / "sha256" / hexdigest, digest)
            tag_dir = repo / "_manifests" / "tags" / f"v{t}"
            link(tag_dir / "current", digest)
            link(tag_dir / "index" / "sha256" / hexdigest, digest)


def timed_sync(env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in MiB, summary line) of one `portusctl sync --delete` process."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "portus.cli", "sync", "--delete"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"sync failed:\n{output[-3000:]}")
    summary = [line.strip() for line in output.splitlines() if line.strip().startswith("read ")]
    cpu = usage.ru_utime + usage.ru_stime
    line = summary[-1] if summary else output[-500:]
    return elapsed, usage.ru_maxrss // 1024, f"{line} (CPU {cpu:.1f} s)"


def run(size: int, tags: int) -> None:
    data_dir = prepare_environment(f"portus-bench-sync-{size}-")
    import django

    django.setup()
    from portus.registry.distribution_config import distribution_config
    from portus.registry.models import Registry

    host = f"127.0.0.1:{free_port()}"
    portusctl("migrate", "-v", "0")
    portusctl("registry", "add", "--name", "bench", "--hostname", host)
    portusctl("user", "create", "owner", "--password", "bench-password-1", "--email", "o@example.com")
    portusctl("team", "create", "bench", "--owner", "owner")
    portusctl("namespace", "create", "bench", "--team", "bench")
    storage = data_dir / "storage"
    began = time.monotonic()
    generate_storage(storage, size, tags)
    print(f"[{size} repositories x {tags} tags] storage written in {time.monotonic() - began:.1f} s")
    config = distribution_config(Registry.objects.get(), portus_url="http://127.0.0.1:9", storage_dir=storage)
    config.pop("notifications")  # nobody listens; the sync's own reads would only queue events
    config["log"]["level"] = "warn"
    config_path = data_dir / "registry.yml"
    config_path.write_text(yaml.safe_dump(config))
    registry = start([registry_binary(), "serve", str(config_path)], data_dir / "registry.log")
    env = {**os.environ, "PORTUS_DATA_DIR": str(data_dir), "PORTUS_LOG_LEVEL": "WARNING"}
    try:
        wait_http(f"http://{host}/v2/")
        for label in ("first run (adds everything)", "second run (nothing changed)"):
            seconds, rss, summary = timed_sync(env)
            print(f"[{size} repositories x {tags} tags] {label}: {seconds:.1f} s, peak RSS {rss} MiB -- {summary}")
    finally:
        stop(registry)
    print(f"  ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated repository counts")
    parser.add_argument("--tags", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) == 1:
        run(sizes[0], args.tags)
        return
    # One process per size: settings and the signing key belong to one data directory.
    for size in sizes:
        subprocess.run([sys.executable, __file__, "--sizes", str(size), "--tags", str(args.tags)], check=True)


if __name__ == "__main__":
    main()
