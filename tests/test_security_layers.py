"""Applying layers the way a container sees them, reading only the package databases, and the inventory."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import pytest

from portus.security.inventory import Distro, apk_packages, detect_distro, dpkg_packages, inventory
from portus.security.layers import ImageFiles, LayerError, apply_layer, wanted_file

STATUS = b"Package: bash\nStatus: install ok installed\nVersion: 5.2-1\n"


def tar_bytes(files: dict[str, bytes | None]) -> bytes:
    """A tar with FILES; a None content makes a symbolic link instead of a file."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.linkname = tarfile.SYMTYPE, "elsewhere"
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def apply(state: ImageFiles, blob: bytes, media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip") -> None:
    apply_layer(state, io.BytesIO(blob), "sha256:" + hashlib.sha256(blob).hexdigest(), media_type, 1 << 20)


def test_only_the_package_databases_are_kept() -> None:
    state = ImageFiles()
    apply(state, gzip.compress(tar_bytes({"./var/lib/dpkg/status": STATUS, "usr/bin/bash": b"\x7fELF" * 1000})))
    assert state.files == {"var/lib/dpkg/status": STATUS}


def test_whiteout_and_opaque_directory_remove_lower_layers_files_only() -> None:
    state = ImageFiles()
    meta = b"Name: a\nVersion: 1\n"
    apply(
        state,
        gzip.compress(
            tar_bytes(
                {
                    "site/a-1.dist-info/METADATA": meta,
                    "site/b-1.dist-info/METADATA": meta,
                    "app/node_modules/x/package.json": b"{}",
                }
            )
        ),
    )
    apply(
        state,
        tar_bytes(  # an uncompressed layer
            {
                "site/.wh.a-1.dist-info": b"",
                "app/node_modules/.wh..wh..opq": b"",
                "app/node_modules/y/package.json": b"{}",  # added by this same layer: stays
            }
        ),
        "application/vnd.oci.image.layer.v1.tar",
    )
    assert sorted(state.files) == ["app/node_modules/y/package.json", "site/b-1.dist-info/METADATA"]


def test_a_later_symbolic_link_replaces_a_file() -> None:
    state = ImageFiles()
    apply(state, gzip.compress(tar_bytes({"etc/os-release": b"ID=debian\n"})))
    apply(state, gzip.compress(tar_bytes({"etc/os-release": None})))
    assert state.files == {}


def test_zstd_layer_is_skipped_with_a_note() -> None:
    state = ImageFiles()
    apply(state, b"\x28\xb5\x2f\xfd" + b"\0" * 16, "application/vnd.oci.image.layer.v1.tar+zstd")
    assert state.files == {}
    assert "zstd" in state.notes[0]


def test_a_layer_whose_digest_does_not_match_is_refused() -> None:
    state = ImageFiles()
    with pytest.raises(LayerError, match="digest"):
        apply_layer(state, io.BytesIO(gzip.compress(tar_bytes({}))), "sha256:" + "0" * 64, "", 1 << 20)


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("var/lib/dpkg/status.d/base", True),
        ("var/lib/dpkg/status.d/base.md5sums", False),
        ("usr/lib/python3.11/site-packages/pip-23.dist-info/METADATA", True),
        ("x/node_modules/@scope/pkg/package.json", True),
        ("x/node_modules/pkg/package.json", True),
        ("x/node_modules/pkg/lib/package.json", False),
        ("x/package.json", False),
    ],
)
def test_wanted_files_are_recognized_by_their_place(path: str, wanted: bool) -> None:
    assert wanted_file(path) is wanted


def test_dpkg_records_source_name_and_version_and_skips_removed_packages() -> None:
    status = (
        b"Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.13-1)\nVersion: 3.0.13-1+b1\n"
        b"Architecture: amd64\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
    )
    (package,) = dpkg_packages("var/lib/dpkg/status", status, Distro("debian", "12", "12.5"))
    assert (package.name, package.source_name, package.source_version) == ("libssl3", "openssl", "3.0.13-1")
    assert (package.match_name, package.match_version) == ("openssl", "3.0.13-1")
    assert package.purl == "pkg:deb/debian/libssl3@3.0.13-1%2Bb1?arch=amd64&distro=debian-12.5"


def test_apk_records_the_origin() -> None:
    (package,) = apk_packages("lib/apk/db/installed", b"P:libcrypto3\nV:3.1.4-r5\no:openssl\n", Distro())
    assert (package.match_name, package.version) == ("openssl", "3.1.4-r5")


def test_distro_release_is_named_as_osv_names_it() -> None:
    assert detect_distro({"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"}) == Distro("alpine", "v3.19", "3.19.1")
    assert detect_distro({"usr/lib/os-release": b'ID=ubuntu\nVERSION_ID="22.04"\n'}).release == "22.04"
    assert detect_distro({"etc/debian_version": b"12.5\n"}) == Distro("debian", "12", "12.5")


def test_ubuntu_dpkg_packages_are_in_the_ubuntu_ecosystem() -> None:
    files = {"etc/os-release": b"ID=ubuntu\nVERSION_ID=22.04\n", "var/lib/dpkg/status": STATUS}
    assert [(p.ecosystem, p.name) for p in inventory(files)] == [("ubuntu", "bash")]
