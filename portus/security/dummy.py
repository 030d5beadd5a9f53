"""The dummy backend: fixed findings derived from the digest, for demos and tests of the pages.

It never calls anything. ``scan`` reports, for each digest, one finding of each severity whose
position in the digest's first hex digit says so (so different images show different counts)."""

from __future__ import annotations

import datetime as dt

from portus.security.backends import BackendHealth, DatabaseInfo, FoundVulnerability, ScanOutcome, ScanTarget
from portus.security.severity import Severity

DATABASE = DatabaseInfo("dummy 1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


class DummyBackend:
    name = "dummy"

    def scan(self, target: ScanTarget) -> ScanOutcome:
        seed = int(target.digest.split(":", 1)[-1][:2] or "0", 16)
        findings = [
            FoundVulnerability(
                vulnerability_id=f"DUMMY-{seed:03d}-{index}",
                severity=severity,
                package=f"package-{index}",
                installed_version="1.0.0",
                fixed_version="1.0.1" if index % 2 == 0 else "",
                summary=f"A made-up {severity.value.lower()} vulnerability, for demonstrations.",
                link=f"https://example.invalid/advisories/DUMMY-{seed:03d}-{index}",
            )
            for index, severity in enumerate(Severity)
            if seed >> index & 1
        ]
        return ScanOutcome(findings, DATABASE)

    def database(self) -> DatabaseInfo:
        return DATABASE

    def health(self) -> BackendHealth:
        return BackendHealth(True, "The dummy backend always answers.", DATABASE.updated_at)
