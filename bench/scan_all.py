"""Scan-all throughput against a fast Harbor scanner adapter double with a limit of its own.

In one run, in a throw-away SQLite database: 10,000 tags with distinct digests; the adapter double
(tests/support/scanners.py, the wire format of the pluggable scanner spec, not pulling images) serves
at most --limit scan requests per second. It prints:
- the double's own limit, measured by hammering it directly with --workers threads (request + report);
- `rescan_all()` (queueing every digest for the Harbor backend);
- the scan-all itself: --workers background workers (threads, each the worker's `handle_one_scan`
  step) until nothing is left, as scans/s and as a fraction of the double's measured limit.
A fraction near 1 means the adapter, not Portus, bounds the throughput.

Usage, from the repository root:
    python3 bench/scan_all.py [--digests 10000] [--limit 200] [--workers 4]
Not a test: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import load, prepare_environment  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digests", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=200.0, help="the adapter double's own scans per second")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"bench/scan_all.py, {load()}", flush=True)
    prepare_environment("portus-bench-scan-all-")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from portus.background.worker import Worker
    from portus.registry.client import OCI_MANIFEST
    from portus.registry.models import Namespace, Registry, Repository, Tag
    from portus.registry.signing import signing_key
    from portus.security import scans
    from portus.security.models import Scan, ScanFinding, ScanState
    from tests.support.scanners import AdapterState, harbor_adapter

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
    vulnerabilities = [
        {"id": f"CVE-2024-{n:04d}", "package": "openssl", "version": "1", "severity": s}
        for n, s in enumerate(["Critical", "High", "Medium", "Low"])
    ]
    state = AdapterState(vulnerabilities=vulnerabilities, not_ready_polls=0, pull=False, max_per_second=args.limit)
    with harbor_adapter(state) as running:
        settings.PORTUS = (
            settings.PORTUS.replaced("background.security_scanning.enabled", True)
            .replaced("security.builtin.enabled", False)
            .replaced("security.harbor.server", running.url)
            .replaced("background.lease", 300)
        )
        registry = Registry.objects.create(name="bench", hostname="registry.bench:5000")
        namespace = Namespace.objects.create(registry=registry, name="", kind="global", visibility="public")
        repository = Repository.objects.create(namespace=namespace, name="app")
        Tag.objects.bulk_create(
            [
                Tag(
                    repository=repository,
                    name=f"t{i}",
                    digest="sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
                    media_type=OCI_MANIFEST,
                )
                for i in range(args.digests)
            ],
            batch_size=1000,
        )
        signing_key()  # written once here, not raced by the worker threads' first tokens
        direct = hammer(running.url, min(args.digests, int(args.limit * 5)), args.workers)
        print(f"adapter double alone: {direct:.0f} scans/s (its configured limit {args.limit:.0f}/s)", flush=True)
        state.next_slot = 0.0
        asked_before = len(state.requests)
        started = time.perf_counter()
        queued = scans.rescan_all()
        print(f"rescan_all(): {queued} scans queued in {time.perf_counter() - started:.1f} s", flush=True)

        def work(name: str) -> None:
            from django.db import close_old_connections

            worker = Worker(name)
            while worker.handle_one_scan():
                pass
            close_old_connections()

        started = time.perf_counter()
        if args.workers == 1:
            work("bench-0")  # in this thread, so a profiler sees it
        else:
            threads = [threading.Thread(target=work, args=(f"bench-{n}",)) for n in range(args.workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        elapsed = time.perf_counter() - started
        done = Scan.objects.filter(state=ScanState.DONE).count()
        findings = ScanFinding.objects.count()
        rate = done / elapsed
        print(
            f"scan-all of {args.digests} digests with {args.workers} workers: {done} done in {elapsed:.1f} s = "
            f"{rate:.0f} scans/s, {rate / direct:.2f} of the adapter double's {direct:.0f}/s "
            f"({findings} findings stored; {len(state.requests) - asked_before} scan requests)",
            flush=True,
        )


if __name__ == "__main__":
    main()
