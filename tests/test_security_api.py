"""/api/v1: a tag's scan state, findings and SBOM, and the allowlist, as each persona sees them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portus.cli import main as portusctl
from portus.registry.models import Activity
from portus.security.models import AllowlistEntry, Inventory, Scan, ScanState, ScanSummary
from tests.api import Api, api_fixture, give_tokens  # noqa: F401  (the api fixture)
from tests.conftest import World, make_world
from tests.support.scan_records import DIGEST, scanned_tag


def test_a_viewer_reads_a_tags_scan_state_and_findings(api: Api) -> None:
    tag = scanned_tag(api.world.namespace)
    answer = api.get(f"tags/{tag.pk}/vulnerabilities", "viewer")
    assert answer.status == 200
    body = answer.body
    assert (body["state"], body["digest"], body["repository"], body["tag"]) == ("done", DIGEST, "acme/app", "latest")
    assert body["counts"] == {
        "critical": 1,
        "high": 1,
        "medium": 1,
        "low": 1,
        "negligible": 0,
        "unknown": 0,
        "allowlisted": 0,
    }
    assert [(s["backend"], s["state"], s["database_version"]) for s in body["scans"]] == [
        ("builtin", "done", "builtin generation 3")
    ]
    assert [f["vulnerability_id"] for f in body["findings"]] == [
        "CVE-2024-0001",
        "CVE-2024-0002",
        "GHSA-aaaa-bbbb-cccc",
        "CVE-2024-0003",
    ]
    first = body["findings"][0]
    assert first == {
        "vulnerability_id": "CVE-2024-0001",
        "severity": "Critical",
        "package": "openssl",
        "installed_version": "3.0.11-1",
        "fixed_version": "3.0.13-1",
        "description": "CVE-2024-0001 in openssl",
        "link": "https://osv.dev/vulnerability/CVE-2024-0001",
        "backend": "builtin",
        "platform": "",
        "allowlisted": False,
    }


def test_findings_filter_by_severity_and_package_and_sort(api: Api) -> None:
    tag = scanned_tag(api.world.namespace)
    path = f"/api/v1/tags/{tag.pk}/vulnerabilities"
    by_severity = api.call("get", path + "?severity=High&severity=Low", "viewer").body["findings"]
    assert [f["vulnerability_id"] for f in by_severity] == ["CVE-2024-0002", "CVE-2024-0003"]
    by_package = api.get(path, "viewer", package="SSL").body["findings"]
    assert [f["vulnerability_id"] for f in by_package] == ["CVE-2024-0001", "CVE-2024-0003"]
    by_id = api.get(path, "viewer", sort="-vulnerability_id").body["findings"]
    assert [f["vulnerability_id"] for f in by_id][0] == "GHSA-aaaa-bbbb-cccc"
    assert api.get(path, "viewer", sort="bogus").status == 422


def test_an_unscanned_tag_says_so(api: Api) -> None:
    tag = scanned_tag(api.world.namespace)
    tag.digest = "sha256:" + "cd" * 32
    tag.save()
    body = api.get(f"tags/{tag.pk}/vulnerabilities", "viewer").body
    assert (body["state"], body["findings"], body["scans"]) == ("unscanned", [], [])


def test_findings_of_a_private_image_are_hidden_from_outsiders_and_anonymous(api: Api) -> None:
    tag = scanned_tag(api.world.namespace)
    for persona in ("outsider", "anonymous"):
        assert api.get(f"tags/{tag.pk}/vulnerabilities", persona).status in (401, 404)
        assert api.get(f"tags/{tag.pk}/sbom", persona).status in (401, 404)


def test_the_sbom_is_cyclonedx_json_of_the_stored_inventory(api: Api) -> None:
    tag = scanned_tag(api.world.namespace)
    assert api.get(f"tags/{tag.pk}/sbom", "viewer").status == 404  # not read yet
    Inventory.objects.create(
        manifest_digest=DIGEST,
        platform="linux/amd64",
        packages=[
            {
                "name": "zlib",
                "version": "1:1.2.13-1",
                "ecosystem": "Debian",
                "purl": "pkg:deb/debian/zlib1g@1:1.2.13-1",
                "path": "",
            }
        ],
    )
    answer = api.get(f"tags/{tag.pk}/sbom", "viewer")
    assert answer.status == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/vnd.cyclonedx+json")
    assert "attachment" in answer.headers["Content-Disposition"]
    bom = json.loads(answer.text)
    assert bom["bomFormat"] == "CycloneDX"
    assert [c["purl"] for c in bom["components"]] == ["pkg:deb/debian/zlib1g@1:1.2.13-1"]


def test_an_owner_allowlists_for_the_namespace_and_the_counts_change(api: Api) -> None:
    tag = scanned_tag(api.world.namespace)
    created = api.post(
        "allowlist",
        {"vulnerability_id": "CVE-2024-0001", "comment": "not reachable", "namespace": "acme"},
        "owner",
    )
    assert created.status == 201, created.text
    assert (created.body["namespace"], created.body["created_by"], created.body["active"]) == ("acme", "owner", True)
    body = api.get(f"tags/{tag.pk}/vulnerabilities", "viewer").body
    assert (body["counts"]["critical"], body["counts"]["allowlisted"]) == (0, 1)
    assert [f["allowlisted"] for f in body["findings"]] == [True, False, False, False]
    assert ScanSummary.objects.get(manifest_digest=DIGEST).critical == 0
    assert api.get("allowlist", "viewer").body[0]["vulnerability_id"] == "CVE-2024-0001"
    assert api.get(f"allowlist/{created.body['id']}", "viewer").status == 200
    assert api.delete(f"allowlist/{created.body['id']}", "contributor").status == 403
    assert api.delete(f"allowlist/{created.body['id']}", "owner").status == 204
    assert ScanSummary.objects.get(manifest_digest=DIGEST).critical == 1
    assert Activity.objects.filter(action__startswith="security.allowlist").count() == 2


def test_only_an_admin_adds_a_global_entry(api: Api) -> None:
    entry = {"vulnerability_id": "CVE-2024-0002", "comment": "disputed"}
    assert api.post("allowlist", entry, "owner").status == 403
    assert api.post("allowlist", {**entry, "namespace": "acme"}, "contributor").status == 403
    assert api.post("allowlist", entry, "anonymous").status == 401
    created = api.post("allowlist", {**entry, "expires_at": "2999-01-01T00:00:00Z"}, "admin")
    assert created.status == 201
    assert created.body["namespace"] is None
    assert api.post("allowlist", entry, "admin").status == 400  # already there
    assert api.get("allowlist", "outsider", namespace="-").body[0]["id"] == created.body["id"]


def test_a_namespaces_entries_are_hidden_from_those_who_cannot_pull_there(api: Api) -> None:
    created = api.post("allowlist", {"vulnerability_id": "CVE-1", "comment": "x", "namespace": "acme"}, "owner")
    assert api.get("allowlist", "outsider").body == []
    assert api.get(f"allowlist/{created.body['id']}", "outsider").status == 404
    assert api.delete(f"allowlist/{created.body['id']}", "outsider").status == 404
    assert AllowlistEntry.objects.count() == 1


# -- portusctl -------------------------------------------------------------------------------------


@pytest.fixture
def server(live_server: Any, transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> World:
    world = make_world()
    tokens = give_tokens(world)
    monkeypatch.setenv("PORTUSCTL_API_SERVER", live_server.url)
    monkeypatch.setenv("PORTUSCTL_API_USER", "owner")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", tokens["owner"])
    return world


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = portusctl(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_portusctl_gets_the_vulnerabilities_of_repo_colon_tag(
    server: World, capsys: pytest.CaptureFixture[str]
) -> None:
    scanned_tag(server.namespace)
    status, out, _ = run(capsys, "get", "vulnerabilities", "acme/app:latest")
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0] == f"acme/app:latest  {DIGEST}"
    assert lines[1].startswith("scan: done")
    assert "findings: 1 Critical, 1 High, 1 Medium, 1 Low" in out
    rows = [
        line.split()[:2] for line in lines[lines.index(next(x for x in lines if x.startswith("VULNERABILITY"))) + 1 :]
    ]
    assert rows == [
        ["CVE-2024-0001", "Critical"],
        ["CVE-2024-0002", "High"],
        ["GHSA-aaaa-bbbb-cccc", "Medium"],
        ["CVE-2024-0003", "Low"],
    ]
    status, out, _ = run(capsys, "get", "vulnerabilities", "acme/app:latest", "--severity", "High", "-o", "json")
    assert [f["vulnerability_id"] for f in json.loads(out)["findings"]] == ["CVE-2024-0002"]


def test_portusctl_says_what_to_name_when_the_image_is_unknown(
    server: World, capsys: pytest.CaptureFixture[str]
) -> None:
    scanned_tag(server.namespace)
    status, _, err = run(capsys, "get", "vulnerabilities", "acme/app:nope")
    assert status != 0 and "no tag 'nope' in acme/app" in err
    status, _, err = run(capsys, "get", "vulnerabilities", "acme/app")
    assert status != 0 and "REPOSITORY:TAG" in err


def test_portusctl_manages_the_allowlist(server: World, capsys: pytest.CaptureFixture[str]) -> None:
    scanned_tag(server.namespace)
    status, out, err = run(
        capsys, "create", "allowlist", "--vulnerability-id", "CVE-2024-0001", "--comment", "ok", "--namespace", "acme"
    )
    assert status == 0, err
    entry = AllowlistEntry.objects.get()
    status, out, _ = run(capsys, "get", "vulnerabilities", "acme/app:latest")
    assert "findings: 1 High, 1 Medium, 1 Low (1 allowlisted)" in out
    status, out, _ = run(capsys, "delete", "allowlist", str(entry.pk))
    assert status == 0 and not AllowlistEntry.objects.exists()


def test_a_contributor_rescans_a_tag_and_a_repository_and_an_admin_everything(api: Api, portus_config: Any) -> None:
    portus_config("background.security_scanning.enabled", True)
    tag = scanned_tag(api.world.namespace)
    assert api.post(f"tags/{tag.pk}/scan", persona="viewer").status == 403
    queued = api.post(f"tags/{tag.pk}/scan", persona="contributor")
    assert (queued.status, queued.body) == (202, {"scans": 1})  # the built-in backend, on by default
    assert Scan.objects.get(manifest_digest=DIGEST).state == ScanState.PENDING
    assert api.get(f"tags/{tag.pk}/vulnerabilities", "viewer").body["state"] == "pending"
    assert api.post(f"repositories/{tag.repository_id}/scan", persona="contributor").status == 202
    assert api.post("scans", persona="owner").status == 403
    assert api.post("scans", persona="anonymous").status == 401
    assert api.post("scans", persona="admin").body == {"scans": 1}
    assert api.post(f"tags/{tag.pk}/scan", persona="outsider").status == 404


def test_portusctl_scan_queues_a_tag_a_repository_or_everything(
    server: World, capsys: pytest.CaptureFixture[str], portus_config: Any
) -> None:
    scanned_tag(server.namespace)
    portus_config("background.security_scanning.enabled", False)
    nothing = "nothing queued: security scanning is off or no scanner is enabled\n"
    assert run(capsys, "scan", "acme/app:latest")[:2] == (0, nothing)
    portus_config("background.security_scanning.enabled", True)
    status, out, _ = run(capsys, "scan", "acme/app:latest")
    assert (status, out) == (0, "1 scan queued\n")
    assert Scan.objects.get(manifest_digest=DIGEST).state == ScanState.PENDING
    status, out, _ = run(capsys, "scan", "acme/app")
    assert (status, out) == (0, "1 scan queued\n")
    status, _, err = run(capsys, "scan", "--all")  # the owner is no administrator
    assert status != 0 and "Only administrators" in err
    status, _, err = run(capsys, "scan")
    assert status != 0 and "say what to scan again" in err
