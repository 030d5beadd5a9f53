"""Security scanning in a real browser (Debian's Chromium through Playwright), on a live Portus, a real
docker-registry, skopeo and the background worker as its own process, with the built-in backend.

The journey: an owner pushes an image holding a Debian package database; its tag shows up unscanned;
the owner asks for a scan and sees it pending; a worker with scanning on reads the image from the
registry and matches it against the imported fixture OSV advisories; the owner sees the counts on
the repository page, opens the findings, allowlists one, and sees the counts change.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.security.advisories import import_advisories
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import start_worker
from tests.support.browser import launched_chromium, poll_page
from tests.support.images import make_image
from tests.support.registry import skopeo

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
DPKG_STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
"""


def advisory(osv_id: str, package: str, fixed: str, severity: str) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": osv_id,
        "modified": "2026-01-01T00:00:00Z",
        "summary": f"{package}: a fixture flaw",
        "database_specific": {"severity": severity},
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


@pytest.fixture
def stack(live_server: Any, transactional_db: None, tmp_path: Path, portus_config: Any) -> Iterator[Stack]:
    # Everything that writes through the ORM happens here, before Playwright takes over the thread.
    portus_config("background.security_scanning.enabled", True)  # the pages' process queues the rescan
    portus_config("gravatar.enabled", False)
    folder = tmp_path / "osv"
    folder.mkdir()
    for item in (
        advisory("DSA-9001-1", "openssl", "3.0.13-1~deb12u1", "CRITICAL"),
        advisory("DSA-9002-1", "zlib", "1:1.3.dfsg-1", "HIGH"),
    ):
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    import_advisories(str(folder))
    yield from start_stack(live_server, tmp_path)


@pytest.fixture
def browser(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with launched_chromium(monkeypatch) as chromium:
        yield chromium


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def test_push_scan_read_the_findings_and_allowlist_one(stack: Stack, browser: Any, tmp_path: Path) -> None:
    image = make_image(
        tmp_path / "image",
        tag="v1",
        files={"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": DPKG_STATUS},
    )
    pushed = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"owner:{PASSWORD}",
        image.reference,
        stack.ref("acme/app", "v1"),
    )
    assert pushed.returncode == 0, pushed.stderr
    base = stack.portus_url
    log = tmp_path / "worker.log"
    # The first worker applies the push with scanning off: the tag arrives unscanned.
    worker = start_worker(
        log,
        PORTUS_BACKGROUND_SYNC_STRATEGY="disabled",
        PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="1",
        PORTUS_BACKGROUND_SECURITY_SCANNING_ENABLED="false",
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/login/")
        page.fill("#id_username", "owner")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]:has-text('Sign in')")
        page.wait_for_url(f"{base}/")

        # 1. The pushed tag shows up, not scanned yet.
        page.goto(f"{base}/namespaces/{stack.world.namespace.pk}/")
        poll_page(page, lambda p: p.get_by_role("link", name="acme/app").count() > 0, "the pushed repository")
        page.get_by_role("link", name="acme/app").first.click()
        page.wait_for_url(re.compile(r"/repositories/\d+/$"))
        repository_url = page.url
        poll_page(page, lambda p: p.locator('#tags [data-scan-state="unscanned"]').count() == 1, "an unscanned tag")

        # 2. The owner asks for a scan: it waits for a worker that scans.
        page.locator("#tags").get_by_role("link", name="v1", exact=True).click()
        page.wait_for_url(re.compile(r"/tags/v1/$"))
        tag_url = page.url
        assert "Not scanned yet" in page.inner_text("#vulnerabilities")
        page.click("button:has-text('Scan again')")
        page.wait_for_url(tag_url)
        assert page.locator('#vulnerabilities[data-scan-state="pending"]').count() == 1
        stop(worker)

        # 3. A worker with scanning on runs the built-in backend: pending turns to done.
        worker = start_worker(
            log,
            PORTUS_BACKGROUND_SYNC_STRATEGY="disabled",
            PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="1",
            PORTUS_BACKGROUND_SECURITY_SCANNING_ENABLED="true",
        )
        page.goto(repository_url)
        poll_page(page, lambda p: p.locator('#tags [data-scan-state="done"]').count() == 1, "the finished scan")
        counts = page.inner_text("#tags")
        assert "1 Critical" in counts and "1 High" in counts

        # 4. The findings, with their advisories, versions and the database they were matched against.
        page.goto(tag_url)
        findings = page.locator("#findings tbody tr")
        assert findings.count() == 2
        first = findings.nth(0).inner_text()
        assert "DSA-9001-1" in first and "Critical" in first and "openssl" in first and "3.0.13-1~deb12u1" in first
        assert "DSA-9002-1" in findings.nth(1).inner_text()
        scans = page.inner_text("#scans")
        assert "Built-in" in scans and "generation 1, 2 advisories" in scans

        # 5. The owner allowlists the critical one: it stays listed, marked, and leaves the counts.
        page.click("a[aria-label='Allowlist DSA-9001-1']")
        page.wait_for_url(re.compile(r"/allowlist/"))
        assert page.input_value("#id_vulnerability_id") == "DSA-9001-1"
        page.fill("#id_comment", "openssl is not reachable from the network in this image")
        page.click("button:has-text('Allowlist')")
        page.wait_for_url(tag_url)
        state = page.inner_text("#scan-state")
        assert "1 High" in state and "Critical" not in state and "1 allowlisted" in state
        assert "allowlisted" in page.locator("#findings tbody tr").nth(0).inner_text()
        page.goto(repository_url)
        counts = page.inner_text("#tags")
        assert "1 Critical" not in counts and "1 High" in counts and "1 allowlisted" in counts
    except BaseException:
        print(log.read_text(errors="replace")[-4000:])
        print(stack.registry.log()[-4000:])
        raise
    finally:
        context.close()
        stop(worker)
