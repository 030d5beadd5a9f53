"""What every scanning backend offers the scan flow: scan one image, tell its database's version,
answer a health probe. The flow (``portus.security.scans``) claims, retries and stores; a backend only
talks to its scanner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from portus.accounts.models import INTERNAL_ACCOUNT
from portus.registry.client import IMAGE_MANIFESTS, INDEXES, RegistryClient, RegistryError, platform_name
from portus.registry.models import Registry, Tag
from portus.registry.signing import registry_token
from portus.security.severity import Severity


class BackendError(Exception):
    """The scanner could not scan now (unreachable, refused, broken answer): retried with backoff."""


class ReportNotReady(Exception):
    """The scanner took the request but has no report yet. The scan does not hold a worker while it
    waits: the flow stores IN_FLIGHT (the scanner's request ids) on the scan row, gives the claim back
    and leaves the scan alone for WAIT seconds; whichever worker claims it then asks for the same
    report (``ScanTarget.in_flight``)."""

    def __init__(self, wait: float, in_flight: dict[str, str]):
        super().__init__(f"report not ready: poll again in {wait:g} s")
        self.wait = wait
        self.in_flight = in_flight


@dataclass(frozen=True)
class ScanTarget:
    """One image manifest digest and where the scanner can read it."""

    registry: Registry
    repository: str
    digest: str
    # The backend's requests in flight from an earlier claim (Harbor: scan request id per manifest digest).
    in_flight: dict[str, str] = field(default_factory=dict, compare=False)
    # Since when the scan has been waiting for its scanner's report (None: not waiting): the deadline.
    waiting_since: dt.datetime | None = field(default=None, compare=False)
    # The manifest's media type as a tag already knows it ("": look it up).
    media_type: str = field(default="", compare=False)


@dataclass(frozen=True)
class FoundVulnerability:
    vulnerability_id: str
    severity: Severity
    package: str
    installed_version: str = ""
    fixed_version: str = ""
    summary: str = ""
    link: str = ""
    platform: str = ""


@dataclass(frozen=True)
class DatabaseInfo:
    """A backend's vulnerability database: VERSION changes whenever its findings may change."""

    version: str
    updated_at: dt.datetime | None = None


@dataclass
class ScanOutcome:
    findings: list[FoundVulnerability]
    database: DatabaseInfo
    notes: list[str] = field(default_factory=list)
    # The backend had no vulnerability database to match against: no finding means "not known".
    no_advisories: bool = False


@dataclass(frozen=True)
class BackendHealth:
    reachable: bool
    message: str
    database_updated_at: dt.datetime | None = None


class ScanBackend(Protocol):
    name: str

    def scan(self, target: ScanTarget) -> ScanOutcome:
        """Scan TARGET and return every finding; raise BackendError to be retried later."""
        ...

    def database(self) -> DatabaseInfo:
        """The database version findings made now would carry (may call the scanner)."""
        ...

    def health(self) -> BackendHealth: ...


def severity_of(word: str) -> Severity:
    """A severity word as the Harbor spec and Clair spell it (any case); anything else is Unknown."""
    for severity in Severity:
        if severity.value.lower() == word.strip().lower():
            return severity
    return Severity.UNKNOWN


def pull_token(target: ScanTarget) -> str:
    """A Bearer token our own token service signs: pull only, for TARGET's repository only, as short-lived
    as registry.jwt_expiration_time makes every token."""
    token, _, _ = registry_token(
        INTERNAL_ACCOUNT,
        target.registry.hostname,
        [{"type": "repository", "name": target.repository, "actions": ["pull"]}],
    )
    return f"Bearer {token}"


def image_manifests(client: RegistryClient, target: ScanTarget) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(platform, digest, media type, manifest) of every image TARGET holds: itself for a plain image,
    each runnable platform for an index (scanners read image manifests, not indexes)."""
    digest, media_type, manifest = client.manifest(target.repository, target.digest)
    if media_type not in INDEXES and "manifests" not in manifest:
        return [("", digest, media_type, manifest)]
    images = []
    for entry in manifest.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == "unknown":
            continue
        child, child_type, child_manifest = client.manifest(target.repository, str(entry["digest"]))
        images.append((platform_name(platform) if platform else "", child, child_type, child_manifest))
    return images


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time as scanners write it (``Z`` or an offset, any fraction); None if unreadable."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_images(target: ScanTarget) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``image_manifests`` through a client of its own; an unreadable image is a BackendError (retried)."""
    client = RegistryClient(target.registry)
    try:
        return image_manifests(client, target)
    except RegistryError as exc:
        raise BackendError(f"cannot read the image: {exc}") from exc
    finally:
        client.close()


def images_to_scan(target: ScanTarget) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Like ``read_images``, but a digest a tag already knows as a plain image is not read again
    (scanners that pull the image themselves need only its media type)."""
    known = target.media_type or Tag.objects.filter(digest=target.digest).values_list("media_type", flat=True).first()
    if known in IMAGE_MANIFESTS:
        return [("", target.digest, str(known), {})]
    return read_images(target)
