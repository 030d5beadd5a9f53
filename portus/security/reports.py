"""What the tag page, the API and portusctl show of one image's scans: every backend's state and its
findings, marked where the namespace's allowlist accepts them, filtered and sorted; and its SBOM."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from portus.registry.client import INDEXES, RegistryClient
from portus.registry.models import Namespace, Tag
from portus.security.models import (
    NO_ADVISORIES,
    NO_ADVISORIES_MESSAGE,
    AllowlistEntry,
    Backend,
    Inventory,
    Scan,
    ScanFinding,
    ScanState,
)
from portus.security.sbom import cyclonedx_json
from portus.security.severity import SEVERITY_ORDER, Severity
from portus.security.summary import overall_state, without_advisories

UNSCANNED = "unscanned"  # no backend was asked to scan the image (scanning off, or pushed before it was on)
# NO_ADVISORIES: every done scan was made against an empty advisory database; its counts mean nothing.
SORTS = ("severity", "-severity", "package", "-package", "vulnerability_id", "-vulnerability_id")
_RANK = {severity.value: rank for rank, severity in enumerate(SEVERITY_ORDER)}


def advisory_link(vulnerability_id: str, link: str) -> str:
    """The advisory's own page when the backend named one, else OSV's page for the id. Only http(s): a
    backend's answer is not trusted to be a harmless URL (``javascript:`` in a link would run on click)."""
    if link.lower().startswith(("https://", "http://")):
        return link
    return f"https://osv.dev/vulnerability/{quote(vulnerability_id, safe='')}"


@dataclass(frozen=True)
class ShownFinding:
    vulnerability_id: str
    severity: str
    package: str
    installed_version: str
    fixed_version: str
    description: str
    link: str
    backend: str
    platform: str
    allowlisted: bool

    @property
    def backend_name(self) -> str:
        return backend_label(self.backend)


@dataclass
class ImageReport:
    digest: str
    state: str  # a ScanState value, UNSCANNED, or NO_ADVISORIES
    scans: list[Scan]
    findings: list[ShownFinding]  # after the filter, sorted
    counts: dict[str, int] = field(default_factory=dict)  # by Severity value over all findings, allowlisted left out
    allowlisted: int = 0
    total: int = 0  # findings before the filter

    @property
    def scanned_at(self) -> datetime | None:
        return max((scan.scanned_at for scan in self.scans if scan.scanned_at), default=None)

    @property
    def message(self) -> str:
        """NO_ADVISORIES_MESSAGE when a done scan had no advisories to match against; else ""."""
        missing = any(scan.state == ScanState.DONE and scan.no_advisories for scan in self.scans)
        return NO_ADVISORIES_MESSAGE if missing else ""


def backend_label(backend: str) -> str:
    return Backend(backend).label if backend in Backend.values else backend


def _sorted(findings: Iterable[ShownFinding], sort: str) -> list[ShownFinding]:
    key = sort.removeprefix("-")
    reverse = sort.startswith("-")
    if key == "severity":
        # Most severe first; within one severity, by package and id.
        return sorted(
            findings, key=lambda f: (_RANK.get(f.severity, len(_RANK)), f.package, f.vulnerability_id), reverse=reverse
        )
    if key == "package":
        return sorted(findings, key=lambda f: (f.package, f.installed_version, f.vulnerability_id), reverse=reverse)
    return sorted(findings, key=lambda f: (f.vulnerability_id, f.package), reverse=reverse)


def image_report(
    digest: str,
    namespace: Namespace,
    *,
    severities: Iterable[str] = (),
    package: str = "",
    sort: str = "severity",
) -> ImageReport:
    """DIGEST's scans and findings as seen from NAMESPACE (its allowlist and the global one)."""
    scans = list(Scan.objects.filter(manifest_digest=digest).order_by("backend"))
    accepted = AllowlistEntry.active_ids(namespace)
    rows = (
        ScanFinding.objects.filter(scan__manifest_digest=digest, scan__state=ScanState.DONE)
        .select_related("scan")
        .order_by("pk")
    )
    every = [
        ShownFinding(
            vulnerability_id=row.vulnerability_id,
            severity=row.severity,
            package=row.package,
            installed_version=row.installed_version,
            fixed_version=row.fixed_version,
            description=row.summary,
            link=advisory_link(row.vulnerability_id, row.link),
            backend=row.scan.backend,
            platform=row.platform,
            allowlisted=row.vulnerability_id in accepted,
        )
        for row in rows
    ]
    counts = {severity.value: 0 for severity in Severity}
    for finding in every:
        if not finding.allowlisted:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
    wanted = set(severities)
    text = package.strip().lower()
    shown = [
        finding
        for finding in every
        if (not wanted or finding.severity in wanted) and (not text or text in finding.package.lower())
    ]
    state = overall_state({scan.state for scan in scans}) if scans else UNSCANNED
    if state == ScanState.DONE and without_advisories([(scan.state, scan.no_advisories) for scan in scans]):
        state = NO_ADVISORIES
    return ImageReport(
        digest=digest,
        state=state,
        scans=scans,
        findings=_sorted(shown, sort if sort in SORTS else "severity"),
        counts=counts,
        allowlisted=sum(1 for finding in every if finding.allowlisted),
        total=len(every),
    )


def image_inventories(tag: Tag) -> list[Inventory]:
    """The stored package inventories of TAG's image: its own, or for an index each platform's (the index is
    read from the registry to name them). Empty when the built-in backend has not read the image."""
    repository, digest = tag.repository, tag.digest
    own = list(Inventory.objects.filter(manifest_digest=digest))
    if own or tag.media_type not in INDEXES:
        return own
    client = RegistryClient(repository.namespace.registry)
    try:
        _, media_type, manifest = client.manifest(repository.full_name, digest)
    finally:
        client.close()
    if media_type not in INDEXES and "manifests" not in manifest:
        return []
    children = [entry.get("digest", "") for entry in manifest.get("manifests") or []]
    return list(Inventory.objects.filter(manifest_digest__in=children).order_by("platform"))


def image_sbom(tag: Tag) -> str | None:
    """CycloneDX JSON of the packages in TAG's image, or None when no inventory is stored for it."""
    inventories = image_inventories(tag)
    if not inventories:
        return None
    return cyclonedx_json(f"{tag.repository.full_name}@{tag.digest}", inventories)
