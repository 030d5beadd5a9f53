"""The Harbor scanner adapter backend against a double that speaks API v1.2 (and v1.0) and really pulls
the image from the real registry with the Bearer token Portus gave it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import time_machine
from django.conf import settings
from django.utils import timezone

from portus.background.worker import Worker
from portus.registry.models import Tag
from portus.security.harbor import DEFAULT_WAIT, wait_seconds
from portus.security.models import Scan, ScanFinding, ScanState, ScanSummary
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import Image, make_image
from tests.support.registry import skopeo
from tests.support.scanners import REPORT_1_1, SCAN_REQUEST, AdapterState, harbor_adapter

pytestmark = pytest.mark.e2e

Configure = Callable[[str, Any], None]

VULNERABILITIES = [
    {
        "id": "CVE-2024-0001",
        "package": "openssl",
        "version": "3.0.11-1",
        "fix_version": "3.0.13-1",
        "severity": "Critical",
        "description": "A remote root.",
        "links": ["https://security-tracker.debian.org/tracker/CVE-2024-0001"],
    },
    {"id": "CVE-2024-0002", "package": "zlib", "version": "1.2.13", "severity": "Low", "links": []},
    {"id": "CVE-2024-0003", "package": "bash", "version": "5.2", "severity": "Whatever"},
]


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


@pytest.fixture
def adapter(portus_config: Configure) -> Iterator[AdapterState]:
    state = AdapterState(vulnerabilities=VULNERABILITIES)
    with harbor_adapter(state) as running:
        portus_config("background.security_scanning.enabled", True)
        portus_config("security.builtin.enabled", False)
        portus_config("security.harbor.server", running.url)
        yield state


def push(stack: Stack, repository: str) -> Image:
    """An image of its own (its digest differs from every other repository's) pushed by the owner."""
    image = make_image(stack.tmp / repository.replace("/", "_"), files={"name.txt": repository.encode()})
    done = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"owner:{PASSWORD}", image.reference, stack.ref(repository)
    )
    assert done.returncode == 0, done.stderr
    return image


def scan_until_idle(worker: Worker) -> int:
    """The worker's scan turns until nothing is free to claim (the adapter's Refresh-After is 0 here,
    so a scan waiting for its report is free again at once); returns how many turns ran."""
    turns = 0
    while worker.handle_one_scan():
        turns += 1
    return turns


def scanned(stack: Stack, repository: str) -> tuple[Image, Worker]:
    image = push(stack, repository)
    worker = Worker("harbor-test")
    settle(worker, lambda: Tag.objects.filter(digest=image.manifest_digest).exists())
    assert Scan.objects.get(manifest_digest=image.manifest_digest).state == ScanState.PENDING
    assert scan_until_idle(worker) >= 1
    return image, worker


def test_a_pushed_image_is_scanned_by_the_adapter_which_pulls_it_with_our_token(
    stack: Stack, adapter: AdapterState
) -> None:
    image, _ = scanned(stack, "acme/web")
    scan = Scan.objects.get(manifest_digest=image.manifest_digest)
    assert (scan.backend, scan.state, scan.reason) == ("harbor", ScanState.DONE, "")
    assert scan.database_version == "2026-11-30T08:16:33.345Z"
    assert scan.database_updated_at == dt.datetime(2026, 11, 30, 8, 16, 33, 345000, tzinfo=dt.UTC)
    assert sorted(
        ScanFinding.objects.values_list(
            "vulnerability_id", "severity", "package", "installed_version", "fixed_version", "link"
        )
    ) == [
        (
            "CVE-2024-0001",
            "Critical",
            "openssl",
            "3.0.11-1",
            "3.0.13-1",
            "https://security-tracker.debian.org/tracker/CVE-2024-0001",
        ),
        ("CVE-2024-0002", "Low", "zlib", "1.2.13", "", ""),
        ("CVE-2024-0003", "Unknown", "bash", "5.2", "", ""),
    ]
    # The request as the spec shapes it, in the v1.2 adapter's newest request type.
    assert adapter.request_types == [f"{SCAN_REQUEST}; version=1.1"]
    request = adapter.requests[0]
    assert request["registry"]["url"] == stack.world.registry.base_url
    assert request["artifact"] == {
        "repository": "acme/web",
        "digest": image.manifest_digest,
        "mime_type": image.media_type,
    }
    assert request["enabled_capabilities"] == [{"type": "vulnerability", "produces_mime_types": [REPORT_1_1]}]
    # The adapter pulled the very manifest with the token we gave it.
    [pull] = adapter.pulls
    assert (pull.status, pull.digest) == (200, image.manifest_digest)
    # The token: pull only, this repository only, short-lived.
    token = pull.authorization.removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "acme/web", "actions": ["pull"]}]
    assert claims["exp"] - claims["iat"] <= settings.PORTUS.registry.jwt_expiration_time * 60 <= 3600
    other = push(stack, "acme/other")
    refused = requests.get(
        f"{stack.world.registry.base_url}/v2/acme/other/manifests/{other.manifest_digest}",
        headers={"Authorization": pull.authorization, "Accept": other.media_type},
        timeout=10,
    )
    assert refused.status_code == 401


def test_a_v1_0_adapter_that_forgets_a_request_gets_it_again_and_retry_after_is_honoured(
    stack: Stack, adapter: AdapterState
) -> None:
    adapter.metadata_version = "1.0"
    adapter.forget_once = True
    adapter.not_ready_polls = 2
    adapter.refresh_header = ("Retry-After", "0")
    image, _ = scanned(stack, "acme/old")
    assert Scan.objects.get(manifest_digest=image.manifest_digest).state == ScanState.DONE
    assert adapter.request_types == [f"{SCAN_REQUEST}; version=1.0"] * 2  # resubmitted after the 404
    assert "enabled_capabilities" not in adapter.requests[0]
    assert adapter.polls == 1 + 3  # the 404, two 302s, the report
    assert ScanFinding.objects.count() == 3


def test_a_new_adapter_database_rescans_and_an_unchanged_one_does_not(stack: Stack, adapter: AdapterState) -> None:
    image, worker = scanned(stack, "acme/db")
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is False  # same database: nothing queued
    assert Scan.objects.get().state == ScanState.DONE
    adapter.database_updated_at = "2026-12-01T00:00:00Z"
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is True
    assert Scan.objects.get().state == ScanState.PENDING
    assert scan_until_idle(worker) == 2  # submitted (report not ready yet), then polled
    assert Scan.objects.get().database_version == "2026-12-01T00:00:00Z"
    assert len(adapter.requests) == 2


def test_an_unreachable_adapter_leaves_the_scan_pending_with_the_reason(
    stack: Stack, adapter: AdapterState, portus_config: Configure
) -> None:
    portus_config("security.harbor.server", "http://127.0.0.1:9")
    image, _ = scanned(stack, "acme/down")
    scan = Scan.objects.get(manifest_digest=image.manifest_digest)
    assert scan.state == ScanState.PENDING and scan.attempts == 1 and scan.lease_until is not None  # the backoff
    assert scan.reason.startswith("harbor: cannot reach the scanner adapter at http://127.0.0.1:9/api/v1")


def test_a_worker_scans_other_images_while_a_report_is_not_ready_and_polls_it_once_when_due(
    stack: Stack, adapter: AdapterState
) -> None:
    adapter.refresh_header = ("Refresh-After", "60")
    slow = push(stack, "acme/slow")
    worker = Worker("harbor-test")
    settle(worker, lambda: Tag.objects.filter(digest=slow.manifest_digest).exists())
    started = timezone.now()
    assert worker.handle_one_scan() is True  # submitted; the adapter answers 302, Refresh-After: 60
    [request_id] = adapter.reports
    waiting = Scan.objects.get(manifest_digest=slow.manifest_digest)
    # Given back while the adapter works: no claim held, the attempt not counted, the request id and
    # the time to poll stored on the row.
    assert (waiting.state, waiting.claim, waiting.attempts) == (ScanState.PENDING, "", 0)
    assert waiting.backend_requests == {slow.manifest_digest: request_id}
    assert waiting.lease_until is not None and waiting.lease_until >= started + dt.timedelta(seconds=60)
    assert waiting.waiting_since is not None
    assert ScanSummary.objects.get(manifest_digest=slow.manifest_digest).state == ScanState.RUNNING

    adapter.not_ready_polls = 0
    fast = push(stack, "acme/fast")
    settle(worker, lambda: Tag.objects.filter(digest=fast.manifest_digest).exists())
    assert worker.handle_one_scan() is True  # the other image, while the first one's report is not ready
    assert Scan.objects.get(manifest_digest=fast.manifest_digest).state == ScanState.DONE
    assert worker.handle_one_scan() is False  # the waiting scan is not due yet: nothing to claim

    with time_machine.travel(started + dt.timedelta(seconds=61)):
        assert scan_until_idle(worker) == 1  # polled once when due: the report
    done = Scan.objects.get(manifest_digest=slow.manifest_digest)
    assert (done.state, done.attempts, done.backend_requests, done.waiting_since) == (ScanState.DONE, 1, {}, None)
    assert ScanFinding.objects.filter(scan=done).count() == len(VULNERABILITIES)
    assert ScanSummary.objects.get(manifest_digest=slow.manifest_digest).state == ScanState.DONE
    # Completed once: one submission per image, the slow request polled twice (302, then the report).
    assert [r["artifact"]["digest"] for r in adapter.requests] == [slow.manifest_digest, fast.manifest_digest]
    assert adapter.polls == 3


def test_a_report_not_ready_within_the_timeout_fails_the_attempt_and_the_retry_polls_the_same_request(
    stack: Stack, adapter: AdapterState, portus_config: Configure
) -> None:
    portus_config("security.harbor.timeout", 30)
    adapter.not_ready_polls = 10**6
    adapter.refresh_header = ("Refresh-After", "20")
    image = push(stack, "acme/stuck")
    worker = Worker("harbor-test")
    settle(worker, lambda: Tag.objects.filter(digest=image.manifest_digest).exists())
    started = timezone.now()
    assert worker.handle_one_scan() is True  # waiting: poll again in 20 s
    with time_machine.travel(started + dt.timedelta(seconds=21)):
        assert worker.handle_one_scan() is True  # 21 s waited, 20 more would pass the 30 s timeout
        scan = Scan.objects.get()
        assert (scan.state, scan.attempts, scan.waiting_since) == (ScanState.PENDING, 1, None)
        assert scan.reason.startswith("harbor: report ") and "not ready after 30 s" in scan.reason
        assert scan.backend_requests == {image.manifest_digest: next(iter(adapter.reports))}
    assert len(adapter.requests) == 1


class _Answer:
    def __init__(self, headers: dict[str, str]):
        self.headers = requests.structures.CaseInsensitiveDict(headers)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Refresh-After": "7", "Retry-After": "3"}, 7.0),
        ({"Retry-After": "3"}, 3.0),
        ({}, 5.0),
        ({"Refresh-After": "soon"}, DEFAULT_WAIT),
    ],
)
def test_a_302_waits_refresh_after_then_retry_after_then_five_seconds(headers: dict[str, str], seconds: float) -> None:
    assert wait_seconds(_Answer(headers)) == seconds  # type: ignore[arg-type]
