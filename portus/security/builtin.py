"""The built-in scanner's entry points for the scan flow: scan an image in the registry, match a stored
inventory again after an advisory import, and tell which advisory database the results were made with."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

from portus.registry.client import INDEXES, RegistryClient, platform_name
from portus.registry.models import Registry
from portus.security.advisories import DatabaseVersion, advisory_database_version
from portus.security.inventory import Distro, Package, detect_distro, inventory
from portus.security.layers import read_image_files
from portus.security.matching import AffectedVersions, compile_affected, ranges_from_osv
from portus.security.models import Advisory, AffectedPackage, Inventory
from portus.security.severity import Severity
from portus.security.versions import ALPINE, DEBIAN, UBUNTU

__all__ = [
    "BuiltinReport",
    "Finding",
    "PlatformReport",
    "advisory_database_version",
    "inventory_manifest",
    "rematch",
    "rematch_many",
    "scan_image",
]

DISTRIBUTIONS = (DEBIAN, UBUNTU, ALPINE)  # their advisories are per release
LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Finding:
    advisory_id: str
    severity: Severity
    package: str  # the installed (binary) package
    ecosystem: str
    installed_version: str
    fixed_version: str  # "" when no fix is known
    summary: str
    link: str
    source_package: str = ""  # the source package the advisory named, when it differs
    purl: str = ""


@dataclass
class PlatformReport:
    platform: str  # "linux/amd64"; "" for a single-platform image whose config does not say
    manifest_digest: str
    inventory: Inventory
    findings: list[Finding]

    @property
    def packages(self) -> list[Package]:
        return [Package.from_json(item) for item in self.inventory.packages]


@dataclass
class BuiltinReport:
    digest: str  # what was asked for: an image manifest or an index
    media_type: str
    platforms: list[PlatformReport]
    database: DatabaseVersion
    notes: list[str] = field(default_factory=list)


# -- matching --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    row_pk: int
    advisory_pk: int
    release: str
    severity: Severity | None  # the package's own rating, when the advisory gives one
    affected: AffectedVersions


class _AdvisoryIndex:
    """The affected rows for the packages being matched, compiled once and kept only while they are
    matched: memory follows what the images hold, not the size of the advisory database. Verdicts are
    remembered per (row, installed version), as images share most of their packages."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[_Candidate]] = {}
        self.by_release: dict[tuple[str, str, str], list[_Candidate]] = {}
        self.findings: dict[tuple[Package, str], list[Finding]] = {}  # per (package, release)
        self.verdicts: dict[tuple[int, str], str | None] = {}  # fixed version ("" unknown), None: not affected
        self.details: dict[
            int, tuple[str, str, Severity, str] | None
        ] = {}  # advisory pk -> id, summary, severity, link

    def load(self, keys: Iterable[tuple[str, str]]) -> None:
        missing: dict[str, set[str]] = {}
        for ecosystem, name in keys:
            if (ecosystem, name) not in self.rows:
                self.rows[(ecosystem, name)] = []
                missing.setdefault(ecosystem, set()).add(name)
        for ecosystem, names in missing.items():
            ordered = sorted(names)
            for start in range(0, len(ordered), LOOKUP_CHUNK):
                rows = AffectedPackage.objects.filter(
                    ecosystem=ecosystem, name__in=ordered[start : start + LOOKUP_CHUNK]
                ).values_list("pk", "name", "advisory_id", "release", "severity", "ranges", "versions")
                for pk, name, advisory_pk, release, severity, ranges, versions in rows.iterator(chunk_size=2000):
                    affected = compile_affected(ecosystem, ranges_from_osv(ranges), [str(v) for v in versions])
                    own = Severity(severity) if severity and severity != Severity.UNKNOWN else None
                    self.rows[(ecosystem, name)].append(_Candidate(pk, advisory_pk, release, own, affected))

    def candidates(self, package: Package, release: str) -> list[_Candidate]:
        key = (package.ecosystem, package.match_name, release)
        found = self.by_release.get(key)
        if found is None:
            found = self.rows.get(key[:2], [])
            if package.ecosystem in DISTRIBUTIONS:
                # A distribution advisory is for one release; one without a release is for all of them.
                found = [row for row in found if row.release in ("", release)]
            self.by_release[key] = found
        return found

    def verdict(self, candidate: _Candidate, version: str) -> str | None:
        key = (candidate.row_pk, version)
        try:
            return self.verdicts[key]
        except KeyError:
            found = self.verdicts[key] = candidate.affected.verdict(version)
            return found

    def load_details(self, advisory_pks: set[int]) -> None:
        wanted = advisory_pks - self.details.keys()
        if not wanted:
            return
        for pk in wanted:
            self.details[pk] = None  # withdrawn or removed since the rows were read, unless found below
        rows = Advisory.objects.filter(pk__in=wanted, withdrawn__isnull=True).values_list(
            "pk", "osv_id", "summary", "severity", "link"
        )
        for pk, osv_id, summary, severity, link in rows.iterator(chunk_size=2000):
            self.details[pk] = (osv_id, summary, Severity(severity), link)


def _match(packages: list[Package], release: str, index: _AdvisoryIndex) -> list[Finding]:
    """The findings for PACKAGES, ordered by package, installed version and advisory id. Each package's
    findings are remembered in INDEX: images share most packages, so most are a lookup."""
    fresh: dict[Package, list[tuple[_Candidate, str]]] = {}
    for package in packages:
        if (package, release) in index.findings or package in fresh:
            continue
        version = package.match_version
        hits: list[tuple[_Candidate, str]] = []
        seen: set[int] = set()  # an advisory may list the same package twice
        for candidate in index.candidates(package, release):
            fixed = index.verdict(candidate, version)
            if fixed is None or candidate.advisory_pk in seen:
                continue
            seen.add(candidate.advisory_pk)
            hits.append((candidate, fixed))
        fresh[package] = hits
    index.load_details({candidate.advisory_pk for hits in fresh.values() for candidate, _ in hits})
    for package, hits in fresh.items():
        built = []
        for candidate, fixed in hits:
            details = index.details[candidate.advisory_pk]
            if details is None:
                continue  # withdrawn (or removed) since the rows were read
            osv_id, summary, severity, link = details
            built.append(
                Finding(
                    advisory_id=osv_id,
                    severity=candidate.severity or severity,
                    package=package.name,
                    ecosystem=package.ecosystem,
                    installed_version=package.version,
                    fixed_version=fixed,
                    summary=summary,
                    link=link,
                    source_package=package.source_name,
                    purl=package.purl,
                )
            )
        built.sort(key=lambda finding: finding.advisory_id)
        index.findings[(package, release)] = built
    findings: list[Finding] = []
    for package in sorted(set(packages), key=lambda p: (p.name, p.version, p.path)):
        findings.extend(index.findings[(package, release)])
    return findings


def match_packages(packages: list[Package], release: str) -> list[Finding]:
    """The findings for PACKAGES of an image whose distribution release is RELEASE."""
    index = _AdvisoryIndex()
    index.load((package.ecosystem, package.match_name) for package in packages)
    return _match(packages, release, index)


def rematch(stored: Inventory) -> list[Finding]:
    """Match a stored inventory against the advisories as they are now, without reading any layer."""
    return match_packages([Package.from_json(item) for item in stored.packages], stored.release)


def rematch_many(inventories: Iterable[Inventory], chunk: int = 100) -> Iterator[tuple[Inventory, list[Finding]]]:
    """rematch() over many inventories (say, after an advisory import). They share one index, which holds
    the advisories of the packages seen so far: it grows with the distinct packages of the images, not
    with their number nor with the size of the database."""
    index = _AdvisoryIndex()
    batch: list[Inventory] = []

    def run(batch: list[Inventory]) -> Iterator[tuple[Inventory, list[Finding]]]:
        parsed = [(stored, [Package.from_json(item) for item in stored.packages]) for stored in batch]
        index.load((p.ecosystem, p.match_name) for _, packages in parsed for p in packages)
        for stored, packages in parsed:
            yield stored, _match(packages, stored.release, index)

    for stored in inventories:
        batch.append(stored)
        if len(batch) >= chunk:
            yield from run(batch)
            batch = []
    if batch:
        yield from run(batch)


# -- reading images ----------------------------------------------------------------------------------------------


def inventory_manifest(
    client: RegistryClient, repository: str, digest: str, manifest: dict[str, object], platform: str
) -> Inventory:
    """Read the layers of the image manifest DIGEST and store (or replace) its inventory."""
    files = read_image_files(
        client, repository, manifest, max_file_bytes=settings.PORTUS.security.builtin.max_file_bytes
    )
    distro: Distro = detect_distro(files.files)
    packages = inventory(files.files, distro)
    stored, _ = Inventory.objects.update_or_create(
        manifest_digest=digest,
        defaults={
            "platform": platform,
            "distro": distro.id,
            "release": distro.release,
            "distro_version": distro.version,
            "packages": [package.to_json() for package in packages],
            "notes": files.notes,
        },
    )
    return stored


def _platform_of_config(client: RegistryClient, repository: str, manifest: dict[str, object]) -> str:
    config = manifest.get("config")
    if not isinstance(config, dict) or not config.get("digest"):
        return ""
    with client.blob(repository, str(config["digest"])) as stream:
        body = stream.read(1 << 20)
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return platform_name(data) if isinstance(data, dict) and data.get("os") else ""


def scan_image(
    registry: Registry | RegistryClient, repository_name: str, digest: str, *, refresh: bool = False
) -> BuiltinReport:
    """Inventory (or reuse the stored inventory of) every platform of the image DIGEST in REPOSITORY_NAME
    and match it against the stored advisories. Reads the registry as Portus's internal account."""
    client = registry if isinstance(registry, RegistryClient) else RegistryClient(registry)
    # Read first: findings are then at least as new as the version they are labelled with.
    database = advisory_database_version()
    try:
        _, media_type, manifest = client.manifest(repository_name, digest)
        platforms: list[PlatformReport] = []
        notes: list[str] = []
        if media_type in INDEXES or "manifests" in manifest:
            for entry in manifest.get("manifests") or []:
                platform = entry.get("platform") or {}
                if platform.get("os") == "unknown":  # build attestations, not runnable images
                    continue
                child_digest = str(entry["digest"])
                stored = None if refresh else Inventory.objects.filter(manifest_digest=child_digest).first()
                if stored is None:
                    _, _, child = client.manifest(repository_name, child_digest)
                    name = platform_name(platform) if platform else ""
                    stored = inventory_manifest(client, repository_name, child_digest, child, name)
                platforms.append(PlatformReport(stored.platform, child_digest, stored, rematch(stored)))
        else:
            stored = None if refresh else Inventory.objects.filter(manifest_digest=digest).first()
            if stored is None:
                name = _platform_of_config(client, repository_name, manifest)
                stored = inventory_manifest(client, repository_name, digest, manifest, name)
            platforms.append(PlatformReport(stored.platform, digest, stored, rematch(stored)))
        for report in platforms:
            notes.extend(report.inventory.notes)
        return BuiltinReport(digest, media_type, platforms, database, notes)
    finally:
        if client is not registry:
            client.close()
