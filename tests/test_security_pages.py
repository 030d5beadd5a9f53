"""The pages of security scanning: counts on the repository page, findings on the tag page, the allowlist."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from portus.registry.actions import TagDeletion
from portus.registry.models import Activity, Tag
from portus.security.models import AllowlistEntry, Inventory, Scan, ScanFinding, ScanState, ScanSummary
from portus.security.summary import refresh
from portus.web.views import tags as tags_view
from tests.conftest import World
from tests.support.scan_records import DIGEST, scanned_tag
from tests.support.web import client_as, is_sign_in_redirect


def findings_column(body: str) -> list[str]:
    table = body[body.index('id="findings"') :]
    return re.findall(r'target="_blank">([^<]+)</a>', table)


def test_the_repository_page_shows_each_images_counts_and_scan_state(world: World) -> None:
    tag = scanned_tag(world.namespace)
    body = client_as(world, "viewer").get(f"/repositories/{tag.repository_id}/").content.decode()
    assert 'data-scan-state="done"' in body
    for text in ("1 Critical", "1 High", "1 Medium", "1 Low"):
        assert text in body
    assert "Negligible</span>" not in body


def test_the_repository_page_shows_a_running_scan_and_an_unscanned_image(world: World) -> None:
    tag = scanned_tag(world.namespace)
    scanned_tag(world.namespace, tag="new", digest="sha256:" + "ef" * 32)
    Scan.objects.filter(manifest_digest=DIGEST).update(state=ScanState.RUNNING)
    refresh(DIGEST)
    ScanSummary.objects.filter(manifest_digest="sha256:" + "ef" * 32).delete()
    body = client_as(world, "viewer").get(f"/repositories/{tag.repository_id}/").content.decode()
    assert 'data-scan-state="running"' in body and "running</span>" in body
    assert 'data-scan-state="unscanned"' in body and "not scanned" in body


def test_the_tag_page_lists_findings_with_their_advisory_links(world: World) -> None:
    tag = scanned_tag(world.namespace)
    body = client_as(world, "viewer").get(f"/repositories/{tag.repository_id}/tags/latest/").content.decode()
    assert findings_column(body) == ["CVE-2024-0001", "CVE-2024-0002", "GHSA-aaaa-bbbb-cccc", "CVE-2024-0003"]
    assert 'href="https://osv.dev/vulnerability/CVE-2024-0001"' in body
    assert "3.0.13-1" in body and "Built-in" in body and "builtin generation 3" in body
    assert "Download SBOM" not in body  # no inventory stored
    assert "Allowlist CVE" not in body  # a viewer may not allowlist


def test_the_tag_page_filters_and_sorts_findings(world: World) -> None:
    tag = scanned_tag(world.namespace)
    url = f"/repositories/{tag.repository_id}/tags/latest/"
    viewer = client_as(world, "viewer")
    assert findings_column(viewer.get(url, {"severity": ["High", "Low"]}).content.decode()) == [
        "CVE-2024-0002",
        "CVE-2024-0003",
    ]
    assert findings_column(viewer.get(url, {"package": "openssl"}).content.decode()) == [
        "CVE-2024-0001",
        "CVE-2024-0003",
    ]
    assert findings_column(viewer.get(url, {"sort": "package"}).content.decode())[0] == "CVE-2024-0001"
    assert findings_column(viewer.get(url, {"sort": "-vulnerability_id"}).content.decode())[0] == "GHSA-aaaa-bbbb-cccc"
    assert "No finding matches" in viewer.get(url, {"package": "nothing"}).content.decode()


def test_the_tag_page_offers_the_sbom_once_the_inventory_is_stored(world: World) -> None:
    tag = scanned_tag(world.namespace)
    Inventory.objects.create(
        manifest_digest=DIGEST,
        packages=[{"name": "zlib", "version": "1.3", "ecosystem": "Debian", "purl": "pkg:deb/debian/zlib@1.3"}],
    )
    viewer = client_as(world, "viewer")
    base = f"/repositories/{tag.repository_id}/tags/latest/"
    assert "Download SBOM" in viewer.get(base).content.decode()
    sbom = viewer.get(base + "sbom/")
    assert sbom.status_code == 200
    assert json.loads(sbom.content)["components"][0]["purl"] == "pkg:deb/debian/zlib@1.3"
    assert client_as(world, "outsider").get(base + "sbom/").status_code == 404


def test_an_owner_allowlists_a_finding_from_the_tag_page_and_the_counts_change(world: World) -> None:
    tag = scanned_tag(world.namespace)
    owner = client_as(world, "owner")
    tag_url = f"/repositories/{tag.repository_id}/tags/latest/"
    assert "Allowlist CVE-2024-0001" in owner.get(tag_url).content.decode()
    form = owner.get("/allowlist/", {"vulnerability_id": "CVE-2024-0001", "namespace": world.namespace.pk})
    assert form.status_code == 200 and 'value="CVE-2024-0001"' in form.content.decode()
    added = owner.post(
        "/allowlist/",
        {
            "vulnerability_id": "CVE-2024-0001",
            "scope": str(world.namespace.pk),
            "comment": "not reachable",
            "next": tag_url,
        },
    )
    assert added.status_code == 302 and added["Location"] == tag_url
    body = owner.get(tag_url).content.decode()
    assert "allowlisted</span>" in body and "1 allowlisted" in body
    assert "1 Critical" not in body
    repository_page = owner.get(f"/repositories/{tag.repository_id}/").content.decode()
    assert "1 Critical" not in repository_page and "1 allowlisted" in repository_page
    assert Activity.objects.filter(action="security.allowlist_add", actor=world.owner).exists()


def test_a_contributor_cannot_add_and_an_outsider_cannot_see_a_namespaces_entries(world: World) -> None:
    entry = AllowlistEntry.objects.create(namespace=world.namespace, vulnerability_id="CVE-9", comment="x")
    refused = client_as(world, "contributor").post(
        "/allowlist/", {"vulnerability_id": "CVE-1", "scope": str(world.namespace.pk), "comment": "x"}
    )
    # The contributor owns only a personal namespace: the team's is not among the scopes offered.
    assert refused.status_code == 400 and "Pick where the entry holds" in refused.content.decode()
    assert AllowlistEntry.objects.count() == 1
    assert "CVE-9" in client_as(world, "viewer").get("/allowlist/").content.decode()
    assert "CVE-9" not in client_as(world, "outsider").get("/allowlist/").content.decode()
    assert client_as(world, "contributor").post(f"/allowlist/{entry.pk}/remove/").status_code == 403
    assert client_as(world, "outsider").post(f"/allowlist/{entry.pk}/remove/").status_code == 404
    assert is_sign_in_redirect(client_as(world, "anonymous").get("/allowlist/"))


def test_only_an_admin_is_offered_the_global_scope(world: World) -> None:
    assert "Every namespace" in client_as(world, "admin").get("/allowlist/").content.decode()
    assert "Every namespace" not in client_as(world, "owner").get("/allowlist/").content.decode()
    forged = client_as(world, "owner").post(
        "/allowlist/", {"vulnerability_id": "CVE-1", "scope": "global", "comment": "x"}
    )
    assert forged.status_code == 400
    assert not AllowlistEntry.objects.exists()


def test_removing_an_entry_counts_the_findings_again(world: World) -> None:
    scanned_tag(world.namespace)
    admin = client_as(world, "admin")
    admin.post("/allowlist/", {"vulnerability_id": "CVE-2024-0002", "scope": "global", "comment": "disputed"})
    assert ScanSummary.objects.get(manifest_digest=DIGEST).high == 0
    entry = AllowlistEntry.objects.get()
    assert admin.post(f"/allowlist/{entry.pk}/remove/").status_code == 302
    assert ScanSummary.objects.get(manifest_digest=DIGEST).high == 1
    assert [a.action for a in Activity.objects.filter(action__startswith="security.").order_by("pk")] == [
        "security.allowlist_add",
        "security.allowlist_remove",
    ]


def test_a_contributor_asks_for_a_rescan_from_the_tag_and_repository_pages(world: World, portus_config: Any) -> None:
    portus_config("background.security_scanning.enabled", True)
    tag = scanned_tag(world.namespace)
    tag_url = f"/repositories/{tag.repository_id}/tags/latest/"
    assert "Scan again" not in client_as(world, "viewer").get(tag_url).content.decode()
    assert client_as(world, "viewer").post(tag_url + "scan/").status_code == 403
    contributor = client_as(world, "contributor")
    assert "Scan again" in contributor.get(tag_url).content.decode()
    assert contributor.post(tag_url + "scan/")["Location"] == tag_url
    assert ScanSummary.objects.get(manifest_digest=DIGEST).state == "pending"
    assert 'data-scan-state="pending"' in contributor.get(tag_url).content.decode()
    repository_url = f"/repositories/{tag.repository_id}/"
    assert contributor.post(repository_url + "scan/")["Location"] == repository_url


def test_a_backends_link_or_text_cannot_run_script_in_the_page(world: World) -> None:
    tag = scanned_tag(world.namespace)
    ScanFinding.objects.filter(vulnerability_id="CVE-2024-0001").update(
        link="javascript:alert(1)", summary="<script>alert(1)</script>", package="<b>pkg</b>"
    )
    body = client_as(world, "viewer").get(f"/repositories/{tag.repository_id}/tags/latest/").content.decode()
    assert "javascript:" not in body
    assert 'href="https://osv.dev/vulnerability/CVE-2024-0001"' in body
    assert "<script>alert(1)" not in body and "&lt;script&gt;" in body
    assert "<b>pkg</b>" not in body


def test_deleting_a_tag_names_it_even_when_the_worker_forgot_it_first(
    world: World, portus_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registry's delete notification can reach the worker before the page's own request forgets
    # the tags; the message still names what the user deleted (seen in the browser journey).
    portus_config("delete.enabled", True)
    tag = scanned_tag(world.namespace)
    scanned_tag(world.namespace, tag="keep", digest="sha256:" + "ef" * 32)

    def worker_first(*, tag: Tag, actor: object) -> TagDeletion:
        Tag.objects.filter(pk=tag.pk).delete()
        return TagDeletion([], False)

    monkeypatch.setattr(tags_view, "delete_tag", worker_first)
    owner = client_as(world, "owner")
    done = owner.post(f"/repositories/{tag.repository_id}/tags/latest/delete/", follow=True)
    assert "Deleted acme/app:latest." in done.content.decode()
