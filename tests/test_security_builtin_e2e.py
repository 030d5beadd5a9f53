"""The built-in scanner end to end: an image with real package databases, pushed by skopeo to a real
registry, read back through the registry client and matched against fixture OSV advisories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import _GeneratorContextManager
from pathlib import Path
from typing import BinaryIO

import pytest

from portus.registry.client import RegistryClient
from portus.security.advisories import import_advisories
from portus.security.builtin import BuiltinReport, rematch, scan_image
from portus.security.models import Inventory
from portus.security.sbom import cyclonedx_json
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.images import make_image, make_layered_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e

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

Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.0~rc1-1)
Version: 1.0~rc1-1+b1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 0.1-1
"""

APK_INSTALLED = b"""C:Q1abc=
P:libcrypto3
V:3.1.4-r5
A:aarch64
o:openssl

P:busybox
V:1.36.1-r15
A:aarch64
o:busybox

P:musl
V:1.2.4-r2
A:aarch64
o:musl
"""

SITE = "usr/lib/python3/dist-packages"


def metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nA long description.\n".encode()


def npm(name: str, version: str) -> bytes:
    return json.dumps({"name": name, "version": version, "license": "MIT"}).encode()


DEBIAN_LAYERS = [
    {
        "etc/os-release": b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
        "var/lib/dpkg/status": DPKG_STATUS,
        f"{SITE}/requests-2.31.0.dist-info/METADATA": metadata("requests", "2.31.0"),
        f"{SITE}/urllib3-1.26.0.dist-info/METADATA": metadata("urllib3", "1.26.0"),
        f"{SITE}/Jinja2-3.1.0rc1.egg-info/PKG-INFO": metadata("Jinja2", "3.1.0rc1"),
        "app/node_modules/lodash/package.json": npm("lodash", "4.17.20"),
        "app/node_modules/lodash/node_modules/minimist/package.json": npm("minimist", "1.2.5"),
        "app/node_modules/@babel/core/package.json": npm("@babel/core", "7.22.0"),
    },
    {
        # The second layer deletes urllib3 (a whiteout) and empties @babel (an opaque directory).
        f"{SITE}/.wh.urllib3-1.26.0.dist-info": b"",
        "app/node_modules/@babel/.wh..wh..opq": b"",
        "var/lib/dpkg/status.d/tzdata": b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
    },
]

ALPINE_LAYERS = [
    {
        "etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n",
        "lib/apk/db/installed": APK_INSTALLED,
    }
]

CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def advisory(
    osv_id: str, ecosystem: str, name: str, *, events: list[dict[str, str]] | None = None, **extra: object
) -> dict:
    affected: dict[str, object] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": str(extra.pop("range_type", "ECOSYSTEM")), "events": events}]
    if "versions" in extra:
        affected["versions"] = extra.pop("versions")
    return {
        "schema_version": "1.6.0",
        "id": osv_id,
        "modified": "2024-05-01T00:00:00Z",
        "summary": f"{osv_id} summary",
        "affected": [affected],
        **extra,
    }


FIXTURE_ADVISORIES = [
    # openssl (the SOURCE of libssl3): fixed exactly at the installed version, so not affected...
    advisory("DSA-0001-1", "Debian:12", "openssl", events=[{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]),
    # ...and fixed later, so affected; CVSS 9.8 is Critical.
    advisory(
        "DSA-0002-1",
        "Debian:12",
        "openssl",
        events=[{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}],
        severity=[{"type": "CVSS_V3", "score": CRITICAL_VECTOR}],
    ),
    # The binary package name is not what Debian advisories name.
    advisory("DSA-0003-1", "Debian:12", "libssl3", events=[{"introduced": "0"}, {"fixed": "9.9-1"}]),
    # Epoch: 1:1.2.13 is above 1.2.14, so not affected; below 1:1.3-1, so affected.
    advisory("DSA-0004-1", "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1.2.14-1"}]),
    advisory("DSA-0005-1", "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1:1.3-1"}]),
    # `~`: 1.0~rc1-1 comes before 1.0-1; the source version is compared, not the binary +b1 one.
    advisory("DSA-0006-1", "Debian:12", "foo", events=[{"introduced": "0"}, {"fixed": "1.0-1"}]),
    # last_affected is inclusive.
    advisory("DSA-0007-1", "Debian:12", "foo", events=[{"introduced": "0"}, {"last_affected": "1.0~rc1-1"}]),
    # limit: 5.2.15 is beyond the limit 5.1, so not affected.
    advisory("DSA-0008-1", "Debian:12", "bash", events=[{"introduced": "5.0"}, {"limit": "5.1"}]),
    # Another release, and a withdrawn advisory: neither matches.
    advisory("DSA-0009-1", "Debian:11", "bash", events=[{"introduced": "0"}]),
    advisory(
        "DSA-0010-1",
        "Debian:12",
        "bash",
        events=[{"introduced": "0"}],
        withdrawn="2024-04-01T00:00:00Z",
    ),
    # PyPI: a moderate advisory; PEP 440 pre-releases (3.1.0rc1 < 3.1.0); names compare normalized.
    advisory(
        "GHSA-aaaa-0001",
        "PyPI",
        "Requests",
        events=[{"introduced": "0"}, {"fixed": "2.32.0"}],
        database_specific={"severity": "MODERATE"},
    ),
    advisory("GHSA-aaaa-0002", "PyPI", "jinja2", events=[{"introduced": "0"}, {"fixed": "3.1.0"}]),
    advisory("GHSA-aaaa-0003", "PyPI", "jinja2", events=[{"introduced": "0"}, {"fixed": "3.1.0rc1"}]),
    # urllib3 was deleted by a whiteout, @babel/core by an opaque directory.
    advisory("GHSA-aaaa-0004", "PyPI", "urllib3", events=[{"introduced": "0"}]),
    advisory("GHSA-aaaa-0005", "npm", "@babel/core", events=[{"introduced": "0"}]),
    # npm: a SEMVER range and an exact versions list.
    advisory(
        "GHSA-bbbb-0001",
        "npm",
        "lodash",
        events=[{"introduced": "0"}, {"fixed": "4.17.21"}],
        range_type="SEMVER",
        database_specific={"severity": "HIGH"},
    ),
    advisory("GHSA-bbbb-0002", "npm", "minimist", versions=["1.2.5", "1.2.6"]),
    # Alpine matches the origin; -r5 is below -r10 by apk's order (a string comparison says otherwise).
    advisory("ALPINE-0001", "Alpine:v3.19", "openssl", events=[{"introduced": "0"}, {"fixed": "3.1.4-r10"}]),
    advisory("ALPINE-0002", "Alpine:v3.19", "busybox", events=[{"introduced": "0"}, {"fixed": "1.36.1-r15"}]),
    advisory("ALPINE-0003", "Alpine:v3.18", "musl", events=[{"introduced": "0"}]),
]

EXPECTED = {
    ("linux/amd64", "DSA-0002-1", "libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "Critical"),
    ("linux/amd64", "DSA-0005-1", "zlib1g", "1:1.2.13.dfsg-1", "1:1.3-1", "Unknown"),
    ("linux/amd64", "DSA-0006-1", "libfoo1", "1.0~rc1-1+b1", "1.0-1", "Unknown"),
    ("linux/amd64", "DSA-0007-1", "libfoo1", "1.0~rc1-1+b1", "", "Unknown"),
    ("linux/amd64", "GHSA-aaaa-0001", "requests", "2.31.0", "2.32.0", "Medium"),
    ("linux/amd64", "GHSA-aaaa-0002", "Jinja2", "3.1.0rc1", "3.1.0", "Unknown"),
    ("linux/amd64", "GHSA-bbbb-0001", "lodash", "4.17.20", "4.17.21", "High"),
    ("linux/amd64", "GHSA-bbbb-0002", "minimist", "1.2.5", "", "Unknown"),
    ("linux/arm64", "ALPINE-0001", "libcrypto3", "3.1.4-r5", "3.1.4-r10", "Unknown"),
}


def found(report: BuiltinReport) -> set[tuple[str, str, str, str, str, str]]:
    return {
        (p.platform, f.advisory_id, f.package, f.installed_version, f.fixed_version, f.severity.value)
        for p in report.platforms
        for f in p.findings
    }


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


@pytest.fixture
def pushed(stack: Stack) -> str:
    image = make_layered_image(stack.tmp / "layout", "v1", {"amd64": DEBIAN_LAYERS, "arm64": ALPINE_LAYERS})
    done = skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"contributor:{PASSWORD}",
        image.reference,
        stack.ref("acme/scanned", "v1"),
    )
    assert done.returncode == 0, done.stderr
    folder = stack.tmp / "osv"
    folder.mkdir()
    for item in FIXTURE_ADVISORIES:
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    import_advisories(folder)
    return image.manifest_digest


def test_builtin_scan_finds_exactly_the_expected_vulnerabilities(stack: Stack, pushed: str) -> None:
    report = scan_image(stack.world.registry, "acme/scanned", pushed)
    assert report.digest == pushed
    assert [p.platform for p in report.platforms] == ["linux/amd64", "linux/arm64"]
    assert found(report) == EXPECTED
    assert report.notes == []
    assert report.database.advisories == len(FIXTURE_ADVISORIES)


def test_inventory_holds_binary_and_source_names_and_leaves_out_what_was_deleted(stack: Stack, pushed: str) -> None:
    report = scan_image(stack.world.registry, "acme/scanned", pushed)
    debian, alpine = report.platforms
    assert (debian.inventory.distro, debian.inventory.release) == ("debian", "12")
    assert (alpine.inventory.distro, alpine.inventory.release) == ("alpine", "v3.19")
    names = {(p.ecosystem, p.name, p.version, p.source_name) for p in debian.packages}
    assert names == {
        ("debian", "libssl3", "3.0.11-1~deb12u2", "openssl"),
        ("debian", "zlib1g", "1:1.2.13.dfsg-1", "zlib"),
        ("debian", "libfoo1", "1.0~rc1-1+b1", "foo"),
        ("debian", "bash", "5.2.15-2+b2", ""),
        ("debian", "tzdata", "2024a-0+deb12u1", ""),
        ("pypi", "requests", "2.31.0", ""),
        ("pypi", "Jinja2", "3.1.0rc1", ""),
        ("npm", "lodash", "4.17.20", ""),
        ("npm", "minimist", "1.2.5", ""),
    }
    purls = {p.purl for p in alpine.packages}
    assert "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=aarch64&distro=alpine-3.19.1" in purls
    assert {p.source_name for p in alpine.packages} == {"openssl", ""}


def test_rematch_uses_the_stored_inventory_after_an_advisory_import(stack: Stack, pushed: str) -> None:
    scan_image(stack.world.registry, "acme/scanned", pushed)
    stack.registry.stop()  # no layer can be read any more
    stored = Inventory.objects.get(platform="linux/amd64")
    late = advisory("DSA-0011-1", "Debian:12", "bash", events=[{"introduced": "0"}, {"fixed": "5.2.21-1"}])
    path = stack.tmp / "late.json"
    path.write_text(json.dumps(late))
    result = import_advisories(path)
    assert ("debian", "bash") in result.changed_packages
    assert "DSA-0011-1" in {f.advisory_id for f in rematch(stored)}


def test_sbom_lists_every_package_of_every_platform_as_cyclonedx(stack: Stack, pushed: str) -> None:
    scan_image(stack.world.registry, "acme/scanned", pushed)
    document = json.loads(cyclonedx_json(f"acme/scanned@{pushed}", list(Inventory.objects.order_by("platform"))))
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["component"]["name"] == f"acme/scanned@{pushed}"
    purls = {component["purl"] for component in document["components"]}
    assert "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12" in purls
    assert "pkg:npm/lodash@4.17.20" in purls
    assert "pkg:pypi/jinja2@3.1.0rc1" in purls
    assert len(document["components"]) == 9 + 3


def test_single_platform_image_is_named_from_its_config_and_reuses_its_stored_inventory(stack: Stack) -> None:
    image = make_image(stack.tmp / "plain", "v1", files=DEBIAN_LAYERS[0])
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"contributor:{PASSWORD}",
        image.reference,
        stack.ref("acme/plain", "v1"),
    )
    assert done.returncode == 0, done.stderr
    path = stack.tmp / "osv.json"
    path.write_text(json.dumps(FIXTURE_ADVISORIES))
    import_advisories(path)
    report = scan_image(stack.world.registry, "acme/plain", image.manifest_digest)
    (platform,) = report.platforms
    assert (platform.platform, platform.manifest_digest) == ("linux/amd64", image.manifest_digest)
    # Without the second layer, urllib3 and @babel/core are still there.
    assert {f.advisory_id for f in platform.findings} == {e[1] for e in EXPECTED if e[0] == "linux/amd64"} | {
        "GHSA-aaaa-0004",
        "GHSA-aaaa-0005",
    }
    counting = CountingClient(stack.world.registry)
    again = scan_image(counting, "acme/plain", image.manifest_digest)
    assert counting.blobs == 0  # neither the config nor the layer was read again
    assert again.platforms[0].findings == platform.findings
    assert Inventory.objects.filter(manifest_digest=image.manifest_digest).count() == 1


class CountingClient(RegistryClient):
    """The real client, counting blob downloads."""

    blobs = 0

    def blob(self, repository: str, digest: str) -> _GeneratorContextManager[BinaryIO]:
        self.blobs += 1
        return super().blob(repository, digest)
