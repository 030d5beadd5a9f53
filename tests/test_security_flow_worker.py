"""Scans in real worker processes: a scan waiting for the adapter's report holds no worker; a worker
SIGKILLed between submit and report loses nothing and doubles nothing: the scan completes once, in
another worker, polling the request id the killed worker stored."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

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


def test_a_worker_killed_while_its_scan_waits_for_the_report_loses_nothing_and_another_completes_it_once(
    stack: Stack,
) -> None:
    # The report is not ready for a long time: the scan waits with its request id on the row, polled
    # every second by whichever worker is free.
    adapter = AdapterState(
        vulnerabilities=VULNERABILITIES, not_ready_polls=10**6, refresh_header=("Refresh-After", "1")
    )
    with harbor_adapter(adapter) as running:
        env = harbor_worker_env(running.url, PORTUS_BACKGROUND_LEASE_VALUE="3")
        image = push_image(stack)
        first = start_worker(stack.tmp / "first.log", **env)
        workers = [first]
        try:
            wait_for(lambda: Tag.objects.filter(digest=image.manifest_digest).exists(), what="the push applied")
            # Submitted, the adapter's 302 answered, the request id stored on the scan.
            wait_for(lambda: any(s.backend_requests for s in Scan.objects.all()), what="the request id stored")
            [request_id] = adapter.reports
            os.kill(first.pid, signal.SIGKILL)  # between submit and report (maybe mid-poll, holding a claim)
            first.wait(timeout=10)
            assert Scan.objects.get().backend_requests == {image.manifest_digest: request_id}
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
    assert (scan.state, scan.claim, scan.backend_requests, scan.waiting_since) == (ScanState.DONE, "", {}, None)
    # The request id the killed worker stored was polled by the others: nobody submitted a second one.
    assert len(adapter.requests) == 1 and list(adapter.reports) == [request_id]
    assert ScanFinding.objects.filter(scan=scan).count() == len(VULNERABILITIES)
    row = ScanSummary.objects.get(manifest_digest=image.manifest_digest)
    assert (row.state, row.critical, row.high, row.medium) == (ScanState.DONE, 1, 2, 1)


def test_a_worker_does_not_sit_out_a_slow_adapter_it_stops_at_once_and_the_scan_completes_once_after_restart(
    stack: Stack,
) -> None:
    # The adapter asks for a minute's patience: the worker must not hold the scan (or itself) for it.
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
            scan = Scan.objects.get()
            # Waiting without a worker: free of claims, the attempt not counted, due in a minute.
            assert (scan.state, scan.claim, scan.attempts) == (ScanState.PENDING, "", 0)
            assert scan.backend_requests == {image.manifest_digest: request_id}
            assert scan.lease_until is not None and scan.lease_until > timezone.now() + dt.timedelta(seconds=50)
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=15)  # well before the adapter's 60 s
            assert first.returncode == 0
            assert Scan.objects.get().backend_requests == {image.manifest_digest: request_id}
            with adapter.lock:
                adapter.reports = {rid: (0, request) for rid, (_, request) in adapter.reports.items()}
            # The minute passes (the worker is another process: its clock cannot be moved).
            Scan.objects.update(lease_until=timezone.now())
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
