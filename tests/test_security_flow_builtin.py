"""The built-in backend through the scan flow: a real push of a two-platform image is scanned by the
worker, and an advisory import rescans it from the stored inventories without reading a layer again."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.background.worker import Worker
from portus.registry.models import Tag
from portus.security.advisories import import_advisories
from portus.security.models import Scan, ScanFinding, ScanState, ScanSummary
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import make_layered_image
from tests.support.registry import skopeo
from tests.test_security_builtin_e2e import ALPINE_LAYERS, DEBIAN_LAYERS, EXPECTED, FIXTURE_ADVISORIES, advisory

pytestmark = pytest.mark.e2e

Configure = Callable[[str, Any], None]


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


def blob_reads(stack: Stack) -> int:
    return stack.registry.log().count('"GET /v2/acme/scanned/blobs/sha256:')


def test_a_push_is_scanned_by_the_built_in_backend_and_rescanned_after_an_import_without_layers(
    stack: Stack, portus_config: Configure
) -> None:
    portus_config("background.security_scanning.enabled", True)
    folder = stack.tmp / "osv"
    folder.mkdir()
    for item in FIXTURE_ADVISORIES:
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    import_advisories(folder)
    image = make_layered_image(stack.tmp / "layout", "v1", {"amd64": DEBIAN_LAYERS, "arm64": ALPINE_LAYERS})
    done = skopeo(
        "copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"contributor:{PASSWORD}",
        image.reference, stack.ref("acme/scanned", "v1"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    worker = Worker("builtin-test")
    settle(worker, lambda: Tag.objects.filter(digest=image.manifest_digest).exists())
    before = blob_reads(stack)
    assert worker.handle_one_scan() is True
    assert blob_reads(stack) > before  # the first scan read the layers (and the registry's log shows it)
    scan = Scan.objects.get(manifest_digest=image.manifest_digest, backend="builtin")
    assert scan.state == ScanState.DONE
    assert scan.database_version == f"generation 1, {len(FIXTURE_ADVISORIES)} advisories"
    stored = {
        (f.platform, f.vulnerability_id, f.package, f.installed_version, f.fixed_version, f.severity)
        for f in ScanFinding.objects.filter(scan=scan)
    }
    assert stored == EXPECTED
    summary = ScanSummary.objects.get(manifest_digest=image.manifest_digest)
    assert (summary.critical, summary.high, summary.medium, summary.unknown) == (1, 1, 1, 6)

    # Nothing moved: the check queues nothing.
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is False
    # A new advisory: the scan runs again on the stored inventories; no layer is read again.
    reads = blob_reads(stack)
    late = advisory("DSA-0011-1", "Debian:12", "bash", events=[{"introduced": "0"}, {"fixed": "5.2.21-1"}])
    (stack.tmp / "late.json").write_text(json.dumps(late))
    import_advisories(stack.tmp / "late.json")
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is True
    assert worker.handle_one_scan() is True
    assert blob_reads(stack) == reads
    scan.refresh_from_db()
    assert scan.database_version == f"generation 2, {len(FIXTURE_ADVISORIES) + 1} advisories"
    assert ScanFinding.objects.filter(scan=scan, vulnerability_id="DSA-0011-1", package="bash").exists()
    assert ScanFinding.objects.filter(scan=scan).count() == len(EXPECTED) + 1
