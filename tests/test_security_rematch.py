"""Matching stored inventories again after an advisory import, without any registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portus.security.advisories import import_advisories
from portus.security.builtin import rematch, rematch_many
from portus.security.inventory import Package
from portus.security.models import Inventory
from portus.security.severity import Severity

pytestmark = pytest.mark.django_db


def stored(digest: str, *packages: Package, release: str = "12") -> Inventory:
    return Inventory.objects.create(
        manifest_digest=digest, distro="debian", release=release, packages=[p.to_json() for p in packages]
    )


def advisory(osv_id: str, name: str, fixed: str, modified: str = "2024-05-01T00:00:00Z", **extra: object) -> dict:
    return {
        "id": osv_id,
        "modified": modified,
        "summary": f"{osv_id} summary",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                "ecosystem_specific": {"urgency": "low"},
            }
        ],
        **extra,
    }


def test_rematch_many_gives_each_inventory_its_own_findings_and_follows_a_withdrawal(tmp_path: Path) -> None:
    openssl = Package("debian", "libssl3", "3.0.11-1", "openssl", "", "var/lib/dpkg/status", "pkg:deb/debian/libssl3")
    patched = Package("debian", "libssl3", "3.0.14-1", "openssl", "", "var/lib/dpkg/status", "pkg:deb/debian/libssl3")
    zlib = Package("debian", "zlib1g", "1:1.2.13-1", "zlib", "", "var/lib/dpkg/status")
    old = stored("sha256:" + "1" * 64, openssl, zlib)
    new = stored("sha256:" + "2" * 64, patched, zlib)
    other_release = stored("sha256:" + "3" * 64, openssl, release="11")
    (tmp_path / "a.json").write_text(json.dumps([advisory("DSA-1", "openssl", "3.0.13-1")]))
    import_advisories(tmp_path / "a.json")

    results = {
        inventory.pk: findings for inventory, findings in rematch_many(Inventory.objects.order_by("pk"), chunk=2)
    }
    assert [(f.advisory_id, f.package, f.fixed_version, f.severity) for f in results[old.pk]] == [
        ("DSA-1", "libssl3", "3.0.13-1", Severity.LOW)
    ]
    assert results[new.pk] == []
    assert results[other_release.pk] == []

    withdrawn = advisory(
        "DSA-1", "openssl", "3.0.13-1", modified="2024-06-01T00:00:00Z", withdrawn="2024-06-01T00:00:00Z"
    )
    (tmp_path / "b.json").write_text(json.dumps(withdrawn))
    import_advisories(tmp_path / "b.json")
    assert rematch(old) == []
