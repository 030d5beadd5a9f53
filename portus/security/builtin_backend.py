"""The built-in scanner as a scan-flow backend: ``builtin.scan_image`` behind the backend interface.

A rescan after an advisory import reuses the stored inventories (``scan_image`` reads only the
manifest again, never the layers), so it costs a match, not a download."""

from __future__ import annotations

from portus.registry.client import RegistryClient, RegistryError
from portus.security.advisories import DatabaseVersion, advisory_database_version
from portus.security.backends import (
    BackendError,
    BackendHealth,
    DatabaseInfo,
    FoundVulnerability,
    ScanOutcome,
    ScanTarget,
)
from portus.security.builtin import scan_image
from portus.security.models import NO_ADVISORIES_MESSAGE


def database_info(version: DatabaseVersion) -> DatabaseInfo:
    return DatabaseInfo(f"generation {version.generation}, {version.advisories} advisories", version.updated_at)


class BuiltinBackend:
    name = "builtin"

    def __init__(self, clients: dict[int, RegistryClient] | None = None):
        self.clients = clients if clients is not None else {}

    def client(self, target: ScanTarget) -> RegistryClient:
        if target.registry.pk not in self.clients:
            self.clients[target.registry.pk] = RegistryClient(target.registry)
        return self.clients[target.registry.pk]

    def scan(self, target: ScanTarget) -> ScanOutcome:
        try:
            report = scan_image(self.client(target), target.repository, target.digest)
        except RegistryError as exc:
            raise BackendError(f"cannot read the image: {exc}") from exc
        several = len(report.platforms) > 1
        findings = [
            FoundVulnerability(
                vulnerability_id=f.advisory_id,
                severity=f.severity,
                package=f.package,
                installed_version=f.installed_version,
                fixed_version=f.fixed_version,
                summary=f.summary,
                link=f.link,
                platform=platform.platform if several else "",
            )
            for platform in report.platforms
            for f in platform.findings
        ]
        return ScanOutcome(
            findings, database_info(report.database), list(report.notes), no_advisories=not report.database.advisories
        )

    def database(self) -> DatabaseInfo:
        return database_info(advisory_database_version())

    def health(self) -> BackendHealth:
        version = advisory_database_version()
        if not version.advisories:
            return BackendHealth(True, f"{NO_ADVISORIES_MESSAGE[0].upper()}{NO_ADVISORIES_MESSAGE[1:]}.")
        return BackendHealth(True, f"{version.advisories} advisories.", version.updated_at)
