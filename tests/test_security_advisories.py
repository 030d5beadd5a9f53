"""Importing OSV advisories: files, folders, OSV's zip exports, updates in place, withdrawals, severities."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from portus.cli import main as portusctl
from portus.security.advisories import advisory_database_version, import_advisories
from portus.security.models import Advisory, AffectedPackage
from portus.security.severity import Severity, advisory_severity, cvss3_base_score

pytestmark = pytest.mark.django_db


def osv(osv_id: str, name: str = "openssl", modified: str = "2024-05-01T00:00:00Z", **extra: object) -> dict:
    return {
        "id": osv_id,
        "modified": modified,
        "summary": f"{osv_id} in {name}",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-1"}]}],
            }
        ],
        "references": [{"type": "ADVISORY", "url": f"https://security-tracker.debian.org/tracker/{osv_id}"}],
        **extra,
    }


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_import_reads_a_file_a_folder_and_an_osv_zip_export(tmp_path: Path) -> None:
    write(tmp_path / "one.json", osv("DSA-1"))
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder / "two.json", osv("DSA-2"))
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as archive:
        archive.writestr("DSA-3.json", json.dumps(osv("DSA-3")))
        archive.writestr("DSA-4.json", json.dumps(osv("DSA-4", name="zlib")))
    assert import_advisories(tmp_path / "one.json").added == 1
    assert import_advisories(folder).added == 1
    result = import_advisories(tmp_path / "all.zip")
    assert (result.added, result.read) == (2, 2)
    assert result.changed_packages == {("debian", "openssl"), ("debian", "zlib")}
    assert sorted(Advisory.objects.values_list("osv_id", flat=True)) == ["DSA-1", "DSA-2", "DSA-3", "DSA-4"]
    row = AffectedPackage.objects.get(advisory__osv_id="DSA-4")
    assert (row.ecosystem, row.release, row.name) == ("debian", "12", "zlib")
    assert Advisory.objects.get(osv_id="DSA-1").link == "https://security-tracker.debian.org/tracker/DSA-1"


def test_reimport_updates_in_place_and_skips_what_did_not_change(tmp_path: Path) -> None:
    import_advisories(write(tmp_path / "a.json", [osv("DSA-1"), osv("DSA-2")]))
    first = advisory_database_version()
    again = import_advisories(tmp_path / "a.json")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert again.changed_packages == set()
    assert advisory_database_version().generation == first.generation
    changed = osv("DSA-1", name="zlib", modified="2024-06-01T00:00:00Z")
    result = import_advisories(write(tmp_path / "b.json", changed))
    assert (result.added, result.updated) == (0, 1)
    assert result.changed_packages == {("debian", "openssl"), ("debian", "zlib")}  # the old name and the new
    assert list(AffectedPackage.objects.filter(advisory__osv_id="DSA-1").values_list("name", flat=True)) == ["zlib"]
    assert Advisory.objects.count() == 2
    version = advisory_database_version()
    assert version.generation == first.generation + 1
    assert version.updated_at is not None and version.updated_at.isoformat() == "2024-06-01T00:00:00+00:00"


def test_withdrawn_advisory_is_kept_but_out_of_matching(tmp_path: Path) -> None:
    import_advisories(write(tmp_path / "a.json", osv("DSA-1")))
    withdrawn = osv("DSA-1", modified="2024-07-01T00:00:00Z", withdrawn="2024-07-01T00:00:00Z")
    result = import_advisories(write(tmp_path / "b.json", withdrawn))
    assert result.withdrawn == 1
    assert Advisory.objects.get(osv_id="DSA-1").withdrawn is not None
    assert not AffectedPackage.objects.exists()


def test_advisories_for_ecosystems_without_an_inventory_are_skipped(tmp_path: Path) -> None:
    maven = {
        "id": "GHSA-m",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Maven", "name": "x"}, "versions": ["1"]}],
    }
    result = import_advisories(write(tmp_path / "a.json", [maven, {"no": "id"}]))
    assert (result.skipped, len(result.errors), Advisory.objects.count()) == (1, 1, 0)


def test_portusctl_vulndb_import_prints_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "a.json", osv("DSA-1"))
    assert portusctl(["vulndb", "import", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "1 read: 1 added" in out
    assert "advisory database: 1 advisories, updated at 2024-05-01T00:00:00+00:00" in out


def test_portusctl_vulndb_import_of_a_missing_path_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert portusctl(["vulndb", "import", str(tmp_path / "nope")]) == 1
    assert "give an OSV .json file, a folder or a .zip export" in capsys.readouterr().err


# -- severity --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L", 3.7),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", None),
    ],
)
def test_cvss3_base_score_follows_the_specification(vector: str, score: float | None) -> None:
    assert cvss3_base_score(vector) == score


def test_severity_prefers_the_packages_own_word_then_the_database_then_cvss() -> None:
    document = {
        "database_specific": {"severity": "MODERATE"},
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }
    assert advisory_severity(document, {"ecosystem_specific": {"severity": "unimportant"}}) == Severity.NEGLIGIBLE
    assert advisory_severity(document, {}) == Severity.MEDIUM
    assert advisory_severity({"severity": document["severity"]}) == Severity.CRITICAL
    assert advisory_severity({"severity": [{"type": "Ubuntu", "score": "high"}]}) == Severity.HIGH
    assert advisory_severity({}) == Severity.UNKNOWN
