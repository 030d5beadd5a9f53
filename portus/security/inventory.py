"""The packages an image holds, from the files layers.py collected: dpkg (status and status.d, with the
source package), apk (installed, with origin), Python dist-info/egg-info and npm package.json under
node_modules; each with its package URL.

dpkg files are parsed by python-debian, Python core metadata (RFC 822 headers) by the standard library;
apk's ``installed`` database is a plain ``KEY:value`` format no maintained library reads, so it is parsed
here. RPM databases are not read:
no maintained pure-Python reader of the rpmdb (SQLite header blobs or Berkeley DB) is on PyPI."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

from debian import deb822
from packageurl import PackageURL

from portus.security.versions import ALPINE, DEBIAN, NPM, PYPI, UBUNTU, package_key


@dataclass(frozen=True)
class Package:
    ecosystem: str
    name: str
    version: str
    source_name: str = ""  # dpkg Source / apk origin: what distribution advisories name
    source_version: str = ""
    path: str = ""  # the file it was found in
    purl: str = ""

    @property
    def match_name(self) -> str:
        return package_key(self.ecosystem, self.source_name or self.name)

    @property
    def match_version(self) -> str:
        return self.source_version or self.version

    def to_json(self) -> dict[str, str]:
        return {key: value for key, value in self.__dict__.items() if value}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Package:
        return cls(**data)


@dataclass(frozen=True)
class Distro:
    id: str = ""  # debian, ubuntu, alpine, or "" when not one of them
    release: str = ""  # as OSV names it: "12", "22.04", "v3.19"
    version: str = ""  # as the image says: "12.4", "3.19.1"


def _os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            try:
                parts = shlex.split(value)
            except ValueError:
                continue
            values[key.strip()] = parts[0] if parts else ""
    return values


def detect_distro(files: dict[str, bytes]) -> Distro:
    raw = files.get("etc/os-release") or files.get("usr/lib/os-release") or b""
    values = _os_release(raw.decode("utf-8", "replace"))
    distro_id, version = values.get("ID", ""), values.get("VERSION_ID", "")
    if not distro_id and "etc/alpine-release" in files:
        distro_id, version = ALPINE, files["etc/alpine-release"].decode("ascii", "replace").strip()
    if not distro_id and "etc/debian_version" in files:
        distro_id, version = DEBIAN, files["etc/debian_version"].decode("ascii", "replace").strip()
    if distro_id == ALPINE:
        major_minor = ".".join(version.split(".")[:2])
        return Distro(ALPINE, f"v{major_minor}" if major_minor else "", version)
    if distro_id == DEBIAN:
        major = version.split(".")[0]
        return Distro(DEBIAN, major if major.isdigit() else "", version)
    if distro_id == UBUNTU:
        return Distro(UBUNTU, version, version)
    return Distro("", "", version)


def _purl(type_: str, namespace: str | None, name: str, version: str, **qualifiers: str) -> str:
    kept = {key: value for key, value in qualifiers.items() if value}
    return PackageURL(type=type_, namespace=namespace, name=name, version=version, qualifiers=kept or None).to_string()


def dpkg_packages(path: str, data: bytes, distro: Distro) -> list[Package]:
    ecosystem = UBUNTU if distro.id == UBUNTU else DEBIAN
    packages = []
    for paragraph in deb822.Packages.iter_paragraphs(data.decode("utf-8", "replace"), use_apt_pkg=False):
        name, version = paragraph.get("Package"), paragraph.get("Version")
        status = paragraph.get("Status", "install ok installed").split()
        if not name or not version or status[-1:] != ["installed"]:
            continue  # removed packages leave "deinstall ok config-files" paragraphs behind
        source = str(paragraph.source or "")
        source_version = str(paragraph.source_version or "")
        packages.append(
            Package(
                ecosystem,
                name,
                version,
                source if source != name else "",
                source_version if source_version != version else "",
                path,
                _purl(
                    "deb",
                    ecosystem,
                    name,
                    version,
                    arch=paragraph.get("Architecture", ""),
                    distro=f"{ecosystem}-{distro.version}" if distro.version else "",
                ),
            )
        )
    return packages


def apk_packages(path: str, data: bytes, distro: Distro) -> list[Package]:
    packages = []
    for block in data.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and len(key) == 1:
                fields.setdefault(key, value)
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            continue
        origin = fields.get("o", "")
        packages.append(
            Package(
                ALPINE,
                name,
                version,
                origin if origin != name else "",
                "",
                path,
                _purl(
                    "apk",
                    "alpine",
                    name,
                    version,
                    arch=fields.get("A", ""),
                    distro=distro.version and f"alpine-{distro.version}",
                ),
            )
        )
    return packages


def python_package(path: str, data: bytes) -> Package | None:
    headers = BytesHeaderParser().parsebytes(data)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return Package(
        PYPI,
        str(name).strip(),
        str(version).strip(),
        path=path,
        purl=_purl("pypi", None, package_key(PYPI, str(name)), str(version).strip()),
    )


def npm_package(path: str, data: bytes) -> Package | None:
    try:
        manifest: Any = json.loads(data)
    except ValueError:
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    namespace, _, short = name.rpartition("/")
    return Package(NPM, name, version, path=path, purl=_purl("npm", namespace or None, short, version))


def inventory(files: dict[str, bytes], distro: Distro | None = None) -> list[Package]:
    """Every package FILES (path -> content, the merged file system) records, in a stable order."""
    distro = distro or detect_distro(files)
    packages: list[Package] = []
    for path in sorted(files):
        data = files[path]
        name = path.rpartition("/")[2]
        if path == "var/lib/dpkg/status" or path.startswith("var/lib/dpkg/status.d/"):
            packages.extend(dpkg_packages(path, data, distro))
        elif path == "lib/apk/db/installed":
            packages.extend(apk_packages(path, data, distro))
        elif name in ("METADATA", "PKG-INFO"):
            found = python_package(path, data)
            if found:
                packages.append(found)
        elif name == "package.json":
            found = npm_package(path, data)
            if found:
                packages.append(found)
    return packages
