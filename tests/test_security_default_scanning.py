"""Scanning with the default configuration: a pushed image is scanned by the built-in backend; before
any advisory import the scan says "no advisory database" on the pages, the API, portusctl and health,
never "0 findings"; after an import the same scan becomes real findings without reading a layer again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from portus.background.worker import Worker
from portus.cli import main as portusctl
from portus.registry.models import Tag
from portus.security.advisories import import_advisories
from portus.security.models import NO_ADVISORIES_MESSAGE, Scan, ScanFinding, ScanState, ScanSummary
from tests.api import give_tokens
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import settle
from tests.support.images import make_layered_image
from tests.support.registry import skopeo
from tests.support.web import client_as
from tests.test_security_builtin_e2e import DEBIAN_LAYERS, FIXTURE_ADVISORIES

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


def blob_reads(stack: Stack) -> int:
    return stack.registry.log().count('"GET /v2/acme/default/blobs/sha256:')


def api_report(stack: Stack, tag: Tag, token: str) -> dict[str, object]:
    answer = requests.get(
        f"{stack.portus_url}/api/v1/tags/{tag.pk}/vulnerabilities",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def cli_report(stack: Stack, token: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PORTUSCTL_API_SERVER", stack.portus_url)
    monkeypatch.setenv("PORTUSCTL_API_USER", "viewer")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", token)
    capsys.readouterr()
    status = portusctl(["get", "vulnerabilities", "acme/default:v1"])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def test_the_default_configuration_scans_a_push_and_says_no_advisory_database_until_an_import(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing configured: scanning is on, with the built-in backend only.
    assert settings.PORTUS.background.security_scanning.enabled is True
    assert settings.PORTUS.security.builtin.enabled is True and not settings.PORTUS.security.builtin.advisories
    image = make_layered_image(stack.tmp / "layout", "v1", {"amd64": DEBIAN_LAYERS})
    done = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"contributor:{PASSWORD}",
        image.reference, stack.ref("acme/default", "v1"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    worker = Worker("default-test")
    settle(worker, lambda: Tag.objects.filter(name="v1", repository__name="default").exists())
    tag = Tag.objects.get(name="v1", repository__name="default")
    scan = Scan.objects.get(manifest_digest=tag.digest)
    assert (scan.backend, scan.state) == ("builtin", ScanState.PENDING)  # the push queued it
    assert worker.handle_one_scan() is True
    assert blob_reads(stack) > 0  # the layers were read once, and the inventory kept

    scan.refresh_from_db()
    assert (scan.state, scan.no_advisories, scan.shown_state) == (ScanState.DONE, True, "no_advisories")
    assert not ScanFinding.objects.filter(scan=scan).exists()
    summary = ScanSummary.objects.get(manifest_digest=tag.digest)
    assert summary.no_advisories is True

    # The repository page: "no advisory database", never "none found".
    viewer = client_as(stack.world, "viewer")
    page = viewer.get(f"/repositories/{tag.repository_id}/").content.decode()
    assert 'data-scan-state="no_advisories"' in page and "no advisory database" in page
    assert "none found" not in page
    # The tag page: the state and the message, never "No vulnerabilities found".
    page = viewer.get(f"/repositories/{tag.repository_id}/tags/v1/").content.decode()
    assert 'data-scan-state="no_advisories"' in page
    assert "No advisories imported: run `portusctl vulndb import PATH`" in page
    assert "No vulnerabilities found" not in page and "Done without an advisory database" in page
    # The API: its own state, the message, and no counts at all (not zeros).
    tokens = give_tokens(stack.world)
    body = api_report(stack, tag, tokens["viewer"])
    assert (body["state"], body["message"], body["counts"], body["findings"]) == (
        "no_advisories",
        NO_ADVISORIES_MESSAGE,
        None,
        [],
    )
    assert [(s["backend"], s["state"]) for s in body["scans"]] == [("builtin", "no_advisories")]  # type: ignore[union-attr,index]
    # portusctl.
    out = cli_report(stack, tokens["viewer"], capsys, monkeypatch)
    assert "scan: no_advisories" in out and f"note: {NO_ADVISORIES_MESSAGE}" in out
    assert "findings: unknown (no advisory database)" in out and "none counted" not in out
    # Health (API and the admin page) says the same.
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    health = requests.get(f"{stack.portus_url}/api/v1/health", headers=admin, timeout=30).json()
    assert NO_ADVISORIES_MESSAGE.lower() in health["scanners"]["builtin"]["message"].lower()
    tasks = client_as(stack.world, "admin").get("/admin/tasks/").content.decode()
    assert "No advisories imported: run `portusctl vulndb import PATH`" in tasks

    # An import: the database check re-matches the stored inventory (no layer read) into real findings.
    folder = stack.tmp / "osv"
    folder.mkdir()
    for item in FIXTURE_ADVISORIES:
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    import_advisories(folder)
    reads = blob_reads(stack)
    worker._databases_checked = float("-inf")
    assert worker.handle_database_check() is True
    assert worker.handle_one_scan() is True
    assert blob_reads(stack) == reads
    scan.refresh_from_db()
    assert (scan.state, scan.no_advisories) == (ScanState.DONE, False)
    found = set(ScanFinding.objects.filter(scan=scan).values_list("vulnerability_id", flat=True))
    assert found and ScanSummary.objects.get(manifest_digest=tag.digest).no_advisories is False
    body = api_report(stack, tag, tokens["viewer"])
    assert (body["state"], body["message"]) == ("done", "")
    assert {f["vulnerability_id"] for f in body["findings"]} == found  # type: ignore[union-attr]
    counts = body["counts"]
    assert isinstance(counts, dict) and sum(v for k, v in counts.items() if k != "allowlisted") == len(
        ScanFinding.objects.filter(scan=scan)
    )
    page = viewer.get(f"/repositories/{tag.repository_id}/").content.decode()
    assert 'data-scan-state="done"' in page and "no advisory database" not in page
    out = cli_report(stack, tokens["viewer"], capsys, monkeypatch)
    assert "scan: done" in out and "note:" not in out and "findings: unknown" not in out
