"""Scans in real worker processes: a worker SIGKILLed while its scan waits on the adapter loses
nothing and doubles nothing; the scan completes once, in another worker, after the lease runs out,
polling the request the killed worker submitted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.registry.models import Tag
from portus.security.models import Scan, ScanFinding, ScanState, ScanSummary
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import start_worker, wait_for
from tests.support.images import make_image
from tests.support.registry import skopeo
from tests.support.scanners import AdapterState, harbor_adapter

pytestmark = pytest.mark.e2e

VULNERABILITIES = [
    {"id": f"CVE-2024-{n:04d}", "package": "openssl", "version": "3.0.11-1", "severity": severity}
    for n, severity in enumerate(["Critical", "High", "High", "Medium"])
]


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


def held_by(process: subprocess.Popen[bytes]) -> Scan | None:
    prefix = f"{socket.gethostname()}:{process.pid}:"
    return Scan.objects.filter(state=ScanState.RUNNING, claim__startswith=prefix).first()


def harbor_worker_env(adapter_url: str, **extra: str) -> dict[str, str]:
    """A worker that scans with the Harbor adapter at ADAPTER_URL alone, polling often, no sync."""
    return {
        "PORTUS_BACKGROUND_SYNC_STRATEGY": "disabled",
        "PORTUS_BACKGROUND_POLL_INTERVAL_VALUE": "0.5",
        "PORTUS_BACKGROUND_SECURITY_SCANNING_ENABLED": "true",
        "PORTUS_SECURITY_BUILTIN_ENABLED": "false",
        "PORTUS_SECURITY_HARBOR_SERVER": adapter_url,
        **extra,
    }


def push_image(stack: Stack) -> Any:
    """A test image pushed by the owner to acme/app with skopeo."""
    image = make_image(stack.tmp / "image")
    done = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"owner:{PASSWORD}", image.reference, stack.ref("acme/app")
    )
    assert done.returncode == 0, done.stderr
    return image


def test_a_worker_killed_mid_scan_leaves_the_scan_to_another_which_completes_it_once(stack: Stack) -> None:
    # The first report never comes (the adapter keeps answering 302), so the first worker is mid-scan.
    adapter = AdapterState(
        vulnerabilities=VULNERABILITIES, not_ready_polls=10**6, refresh_header=("Refresh-After", "0.2")
    )
    with harbor_adapter(adapter) as running:
        env = harbor_worker_env(running.url, PORTUS_BACKGROUND_LEASE_VALUE="3")
        image = push_image(stack)
        first = start_worker(stack.tmp / "first.log", **env)
        workers = [first]
        try:
            wait_for(lambda: Tag.objects.filter(digest=image.manifest_digest).exists(), what="the push applied")
            # Mid-scan: the request submitted, its id stored on the scan, the worker waiting for the report.
            wait_for(
                lambda: (held := held_by(first)) is not None and bool(held.backend_requests),
                what="first worker mid-scan",
            )
            orphan = held_by(first)
            assert orphan is not None
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            with adapter.lock:  # the request in flight is ready after one more 302
                adapter.reports = {rid: (1, request) for rid, (_, request) in adapter.reports.items()}
            workers += [start_worker(stack.tmp / "second.log", **env), start_worker(stack.tmp / "third.log", **env)]
            wait_for(lambda: Scan.objects.filter(state=ScanState.DONE).exists(), timeout=60, what="the scan completed")
        finally:
            for process in workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(timeout=30)
    scan = Scan.objects.get()
    assert scan.pk == orphan.pk and scan.state == ScanState.DONE and scan.claim == ""
    assert scan.attempts == 2  # the killed worker's claim, then the one that completed it
    # The request id the killed worker stored on the scan was polled again: nobody submitted a second one.
    assert len(adapter.requests) == 1 and scan.backend_requests == {}
    assert ScanFinding.objects.filter(scan=scan).count() == len(VULNERABILITIES)
    row = ScanSummary.objects.get(manifest_digest=image.manifest_digest)
    assert (row.state, row.critical, row.high, row.medium) == (ScanState.DONE, 1, 2, 1)


def test_a_worker_waiting_on_a_slow_adapter_stops_promptly_on_sigterm_and_the_scan_completes_once_after_restart(
    stack: Stack,
) -> None:
    # The adapter asks for a minute's patience per poll: the worker must not sit out the minute.
    adapter = AdapterState(
        vulnerabilities=VULNERABILITIES, not_ready_polls=10**6, refresh_header=("Refresh-After", "60")
    )
    with harbor_adapter(adapter) as running:
        env = harbor_worker_env(running.url)
        image = push_image(stack)
        first = start_worker(stack.tmp / "first.log", **env)
        workers = [first]
        try:
            wait_for(
                lambda: any(s.backend_requests for s in Scan.objects.all()), what="first worker waiting on the report"
            )
            [request_id] = adapter.reports
            assert Scan.objects.get().backend_requests == {image.manifest_digest: request_id}
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=15)  # well before the adapter's 60 s
            assert first.returncode == 0
            scan = Scan.objects.get()
            # Given back as it was: free at once, the attempt not counted, the request id kept.
            assert (scan.state, scan.claim, scan.lease_until, scan.attempts) == (ScanState.PENDING, "", None, 0)
            assert scan.backend_requests == {image.manifest_digest: request_id}
            with adapter.lock:
                adapter.reports = {rid: (0, request) for rid, (_, request) in adapter.reports.items()}
            workers.append(start_worker(stack.tmp / "second.log", **env))
            wait_for(lambda: Scan.objects.filter(state=ScanState.DONE).exists(), timeout=60, what="the scan completed")
        finally:
            for process in workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(timeout=30)
    scan = Scan.objects.get()
    assert (scan.attempts, scan.backend_requests) == (1, {})
    assert len(adapter.requests) == 1  # the restarted worker polled the same request: no second submission
    assert ScanFinding.objects.filter(scan=scan).count() == len(VULNERABILITIES)
