"""Scan records written straight to the database, for the pages, the API and the allowlist tests."""

from __future__ import annotations

from django.utils import timezone

from portus.registry.models import Namespace, Repository, Tag
from portus.security import summary
from portus.security.models import Scan, ScanFinding, ScanState

DIGEST = "sha256:" + "ab" * 32

# (id, severity, package, installed, fixed)
FINDINGS = [
    ("CVE-2024-0001", "Critical", "openssl", "3.0.11-1", "3.0.13-1"),
    ("CVE-2024-0002", "High", "zlib", "1:1.2.13-1", ""),
    ("GHSA-aaaa-bbbb-cccc", "Medium", "requests", "2.30.0", "2.31.0"),
    ("CVE-2024-0003", "Low", "openssl", "3.0.11-1", ""),
]


def scanned_tag(namespace: Namespace, *, repository: str = "app", tag: str = "latest", digest: str = DIGEST) -> Tag:
    """A tag whose image the built-in backend scanned, with FINDINGS, and its summary refreshed."""
    repo, _ = Repository.objects.get_or_create(namespace=namespace, name=repository)
    made = Tag.objects.create(repository=repo, name=tag, digest=digest, size=1000, platforms=["linux/amd64"])
    scan, _ = Scan.objects.get_or_create(
        manifest_digest=digest,
        backend="builtin",
        defaults={
            "registry": namespace.registry,
            "repository": repo.full_name,
            "state": ScanState.DONE,
            "scanned_at": timezone.now(),
            "database_version": "builtin generation 3",
        },
    )
    if not scan.findings.exists():
        ScanFinding.objects.bulk_create(
            ScanFinding(
                scan=scan,
                vulnerability_id=vid,
                severity=severity,
                package=package,
                installed_version=installed,
                fixed_version=fixed,
                summary=f"{vid} in {package}",
                link="",
            )
            for vid, severity, package, installed, fixed in FINDINGS
        )
    summary.refresh(digest)
    return made
