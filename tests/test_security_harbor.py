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
from django.conf import settings

from portus.background.worker import Worker
from portus.registry.models import Tag
from portus.security.harbor import DEFAULT_WAIT, wait_seconds
from portus.security.models import Scan, ScanFinding, ScanState
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
    image = make_image(stack.tmp / repository.replace("/", "_"))
    done = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"owner:{PASSWORD}", image.reference, stack.ref(repository)
    )
    assert done.returncode == 0, done.stderr
    return image


def scanned(stack: Stack, repository: str) -> tuple[Image, Worker]:
    image = push(stack, repository)
    worker = Worker("harbor-test")
    settle(worker, lambda: Tag.objects.filter(digest=image.manifest_digest).exists())
    assert Scan.objects.get(manifest_digest=image.manifest_digest).state == ScanState.PENDING
    assert worker.handle_one_scan() is True
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
    assert worker.handle_one_scan() is True
    assert Scan.objects.get().database_version == "2026-12-01T00:00:00Z"
    assert len(adapter.requests) == 2


def test_an_unreachable_adapter_leaves_the_scan_pending_with_the_reason(
    stack: Stack, adapter: AdapterState, portus_config: Configure
) -> None:
    portus_config("security.harbor.server", "http://127.0.0.1:9")
    image, _ = scanned(stack, "acme/down")
    scan = Scan.objects.get(manifest_digest=image.manifest_digest)
    assert scan.state == ScanState.PENDING and scan.attempts == 1
    assert scan.reason.startswith("harbor: cannot reach the scanner adapter at http://127.0.0.1:9/api/v1")


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
