"""Scan-all throughput against a fast Harbor scanner adapter double with a limit of its own.

In one run, in a throw-away SQLite database: --digests tags with distinct digests (their image details
stored, as after the pushes). For each limit in
--limits, the adapter double (tests/support/scanners.py, the wire format of the pluggable scanner spec,
not pulling images) runs in a process of its own, like a real adapter, serving at most LIMIT scan
requests per second. The run prints, per limit, in one line each:
- the double's own rate, measured by hammering it directly with --workers threads (request + report);
- `rescan_all()` (queueing every digest for the Harbor backend);
- the scan-all itself: --workers `portusctl background --until-idle` processes (how an installation
  runs several workers) until nothing is left, as scans/s between the first and the last stored
  result, and as a fraction of the double's measured rate;
- the workers' CPU per scan (the steadier figure on a loaded machine), with their start-up and
  without it (less the CPU of one worker started with nothing to do, per worker).
A fraction near 1 means the adapter, not Portus, bounds the throughput; at a limit Portus cannot
reach, the scans/s are Portus's own ceiling on this machine.

Usage, from the repository root:
    python3 bench/scan_all.py [--digests 10000] [--limits 100 400] [--workers 4]
Not a test: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import ROOT, load, prepare_environment  # noqa: E402


def serve_double(limit: float) -> None:
    """The adapter double in this process, until stdin closes (run by the bench as a subprocess)."""
    from tests.support.scanners import AdapterState, harbor_adapter

    vulnerabilities = [
        {"id": f"CVE-2024-{n:04d}", "package": "openssl", "version": "1", "severity": s}
        for n, s in enumerate(["Critical", "High", "Medium", "Low"])
    ]
    state = AdapterState(vulnerabilities=vulnerabilities, not_ready_polls=0, pull=False, max_per_second=limit)
    with harbor_adapter(state) as running:
        print(running.url, flush=True)
        sys.stdin.read()
        print(len(state.requests), flush=True)


def hammer(url: str, count: int, threads: int) -> float:
    """Scans/s the double sustains when called directly: POST /scan then GET its report."""
    import requests

    from tests.support.scanners import REPORT_1_1, SCAN_REQUEST

    def one_thread(n: int) -> None:
        session = requests.Session()
        for i in range(n):
            body = {
                "registry": {"url": "http://x"},
                "artifact": {"repository": "a/b", "digest": f"sha256:{i}", "mime_type": "x"},
            }
            answer = session.post(
                f"{url}/api/v1/scan", data=json.dumps(body), headers={"Content-Type": f"{SCAN_REQUEST}; version=1.1"}
            )
            session.get(f"{url}/api/v1/scan/{answer.json()['id']}/report", headers={"Accept": REPORT_1_1})

    started = time.perf_counter()
    workers = [threading.Thread(target=one_thread, args=(count // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (count // threads * threads) / (time.perf_counter() - started)


# A worker under cProfile timed by its own CPU time (not the wall clock): on a loaded machine, waiting
# for a CPU would otherwise show up in whatever line happened to be running.
CPU_PROFILE = """
import cProfile, runpy, sys, time
out = sys.argv.pop(1)
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    runpy.run_module("portus.cli", run_name="__main__", alter_sys=True)
finally:
    profile.disable()
    profile.dump_stats(out)
"""


def worker_command(args: argparse.Namespace, data_dir: Path, n: int) -> list[str]:
    """`portusctl background --until-idle`; with --profile under cProfile (CPU time), its statistics in
    the data directory."""
    command = ["background", "--until-idle"]
    if args.profile and n >= 0:  # (n -1: the idle worker, not profiled)
        return [sys.executable, "-c", CPU_PROFILE, str(data_dir / f"worker-{n}.prof"), *command]
    return [sys.executable, "-m", "portus.cli", *command]


def children_cpu() -> float:
    """CPU seconds (user and system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_limit(limit: float, args: argparse.Namespace, data_dir: Path) -> None:
    from django.conf import settings
    from django.db.models import Max, Min

    from portus.security import scans
    from portus.security.models import Scan, ScanFinding, ScanState

    double = subprocess.Popen(
        [sys.executable, __file__, "--serve-double", str(limit)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert double.stdout is not None and double.stdin is not None
    url = double.stdout.readline().strip()
    try:
        hammered = max(int(limit * 5), 200) // args.workers * args.workers
        direct = hammer(url, hammered, args.workers)
        settings.PORTUS = settings.PORTUS.replaced("security.harbor.server", url)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PORTUS_DATA_DIR": str(data_dir),
            "PORTUS_BACKGROUND_SYNC_STRATEGY": "disabled",
            "PORTUS_BACKGROUND_LEASE_VALUE": "300",
            "PORTUS_BACKGROUND_SECURITY_SCANNING_ENABLED": "true",
            "PORTUS_SECURITY_BUILTIN_ENABLED": "false",
            "PORTUS_SECURITY_HARBOR_SERVER": url,
            "PORTUS_DB_TIMEOUT": "30",
        }
        # One worker with nothing to do: its CPU is a worker's start-up and shut-down, taken out of the
        # steadier figure.
        cpu_before = children_cpu()
        subprocess.run(worker_command(args, data_dir, -1), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
        idle_cpu = children_cpu() - cpu_before
        started = time.perf_counter()
        queued = scans.rescan_all()
        queue_seconds = time.perf_counter() - started
        started = time.perf_counter()
        cpu_before = children_cpu()
        workers = [
            subprocess.Popen(
                worker_command(args, data_dir, n),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(data_dir / f"worker-{n}.log", "ab"),  # noqa: SIM115 - closed with the process
            )
            for n in range(args.workers)
        ]
        for worker in workers:
            worker.wait()
        wall = time.perf_counter() - started
        cpu = children_cpu() - cpu_before
    finally:
        double.stdin.close()
        asked = int(double.stdout.readline().strip() or 0)
        double.wait()
    done = Scan.objects.filter(state=ScanState.DONE)
    count = done.count()
    span = done.aggregate(first=Min("scanned_at"), last=Max("scanned_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if count > 1 else float("nan")
    rate = (count - 1) / seconds if count > 1 else 0.0
    print(
        f"limit {limit:.0f}/s: adapter double alone {direct:.0f} scans/s | Portus {rate:.0f} scans/s "
        f"({count} of {queued} done, {args.workers} worker processes, {seconds:.1f} s from first to last result, "
        f"{wall:.1f} s with start-up; rescan_all() {queue_seconds:.1f} s) | ratio {rate / direct:.2f} "
        f"| workers' CPU {cpu / max(count, 1) * 1000:.1f} ms per scan with start-up, "
        f"{(cpu - args.workers * idle_cpu) / max(count, 1) * 1000:.1f} ms without "
        f"({idle_cpu:.1f} s for an idle worker) "
        f"| {ScanFinding.objects.count()} findings stored, {asked - hammered} scan requests from Portus",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digests", type=int, default=10_000)
    parser.add_argument("--limits", type=float, nargs="+", default=[100.0, 400.0], help="the double's scans/s")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="run the workers under cProfile (CPU time)")
    parser.add_argument("--serve-double", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_double is not None:
        serve_double(args.serve_double)
        return
    print(f"bench/scan_all.py, {load()}", flush=True)
    data_dir = prepare_environment("portus-bench-scan-all-")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from portus.registry.client import OCI_MANIFEST
    from portus.registry.models import ImageDetails, Namespace, Registry, Repository, Tag
    from portus.registry.signing import signing_key

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
    settings.PORTUS = (
        settings.PORTUS.replaced("background.security_scanning.enabled", True)
        .replaced("security.builtin.enabled", False)
        .replaced("security.harbor.server", "http://127.0.0.1:9")
    )
    registry = Registry.objects.create(name="bench", hostname="registry.bench:5000")
    namespace = Namespace.objects.create(registry=registry, name="", kind="global", visibility="public")
    repository = Repository.objects.create(namespace=namespace, name="app")
    digests = ["sha256:" + hashlib.sha256(str(i).encode()).hexdigest() for i in range(args.digests)]
    Tag.objects.bulk_create(
        [Tag(repository=repository, name=f"t{i}", digest=d, media_type=OCI_MANIFEST) for i, d in enumerate(digests)],
        batch_size=1000,
    )
    # Their images' details already read (as after the pushes): the workers scan, they do not read images
    # from a registry that is not there.
    ImageDetails.objects.bulk_create(
        [ImageDetails(digest=d, media_type=OCI_MANIFEST) for d in digests], batch_size=1000
    )
    signing_key()  # written once here, not raced by the workers' first tokens
    for limit in args.limits:
        one_limit(limit, args, data_dir)
    if args.profile:
        print(f"worker profiles: {data_dir}/worker-*.prof", flush=True)


if __name__ == "__main__":
    main()
