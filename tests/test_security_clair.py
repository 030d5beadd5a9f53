"""The Clair v4 backend against a double of the indexer and matcher that fetches every layer from the
real registry with the headers Portus gave it, and checks the PSK token when a key is set."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.background.worker import Worker
from portus.registry.models import Tag
from portus.security.models import Scan, ScanFinding, ScanState
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import Image, make_image
from tests.support.registry import skopeo
from tests.support.scanners import ClairState, clair_server

pytestmark = pytest.mark.e2e

Configure = Callable[[str, Any], None]
KEY = b"a pre-shared key of 32 bytes!!!!"

VULNERABILITIES = {
    "openssl": [
        {
            "name": "CVE-2024-0001",
            "installed": "3.0.11-1",
            "normalized_severity": "High",
            "fixed_in_version": "3.0.13-1",
            "description": "Bad.",
            "links": "https://security-tracker.debian.org/tracker/CVE-2024-0001 https://nvd.nist.gov/vuln/detail/CVE-2024-0001",
        },
        {"name": "CVE-2024-0002", "installed": "3.0.11-1", "normalized_severity": "Negligible"},
    ],
}


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


@pytest.fixture
def clair(portus_config: Configure) -> Iterator[ClairState]:
    state = ClairState(psk=KEY, vulnerabilities=VULNERABILITIES)
    with clair_server(state) as running:
        portus_config("background.security_scanning.enabled", True)
        portus_config("security.builtin.enabled", False)
        portus_config("security.clair.server", running.url)
        portus_config("security.clair.psk", base64.b64encode(KEY).decode())
        yield state


def scanned(stack: Stack, repository: str) -> tuple[Image, Worker]:
    image = make_image(stack.tmp / repository.replace("/", "_"))
    done = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"owner:{PASSWORD}", image.reference, stack.ref(repository)
    )
    assert done.returncode == 0, done.stderr
    worker = Worker("clair-test")
    settle(worker, lambda: Tag.objects.filter(digest=image.manifest_digest).exists())
    assert worker.handle_one_scan() is True
    return image, worker


def test_a_pushed_image_is_indexed_with_layers_the_registry_serves_and_matched(stack: Stack, clair: ClairState) -> None:
    image, _ = scanned(stack, "acme/web")
    scan = Scan.objects.get(manifest_digest=image.manifest_digest)
    assert (scan.backend, scan.state, scan.database_version) == ("clair", ScanState.DONE, "index_state aaaa1111")
    indexed = clair.indexed[image.manifest_digest]
    assert [layer["uri"].rsplit("/", 1)[-1] for layer in indexed["layers"]] == [
        layer["hash"] for layer in indexed["layers"]
    ]
    assert clair.layer_fetches and all(status == 200 for _, status in clair.layer_fetches)  # fetched and hash checked
    assert sorted(
        ScanFinding.objects.values_list(
            "vulnerability_id", "severity", "package", "installed_version", "fixed_version", "link"
        )
    ) == [
        (
            "CVE-2024-0001",
            "High",
            "openssl",
            "3.0.11-1",
            "3.0.13-1",
            "https://security-tracker.debian.org/tracker/CVE-2024-0001",
        ),
        ("CVE-2024-0002", "Negligible", "openssl", "3.0.11-1", "", ""),
    ]
    assert all(header.startswith("Bearer ") for header in clair.authorizations)


def test_a_wrong_pre_shared_key_is_refused_and_reported(
    stack: Stack, clair: ClairState, portus_config: Configure
) -> None:
    portus_config("security.clair.psk", base64.b64encode(b"another key, also 32 bytes long!").decode())
    image, _ = scanned(stack, "acme/nokey")
    scan = Scan.objects.get(manifest_digest=image.manifest_digest)
    assert scan.state == ScanState.PENDING
    assert scan.reason.startswith("clair: GET /indexer/api/v1/index_state: Clair answered 401")


def test_a_new_index_state_indexes_again_and_an_unchanged_one_does_not(stack: Stack, clair: ClairState) -> None:
    image, worker = scanned(stack, "acme/again")
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is False
    clair.index_state = "bbbb2222"
    clair.indexed.clear()
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is True
    assert worker.handle_one_scan() is True
    assert Scan.objects.get().database_version == "index_state bbbb2222"
    assert image.manifest_digest in clair.indexed  # indexed again
