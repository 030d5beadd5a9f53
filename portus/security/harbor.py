"""Harbor's pluggable scanner adapter API (v1.2; v1.1 and v1.0 answers accepted): Trivy, Grype/Anchore,
Aqua and Sysdig adapters plug in unchanged.

``GET /api/v1/metadata`` (capabilities, ``vulnerability-database-updated-at``), ``POST /api/v1/scan``
with the registry URL and a pull-only Bearer token our token service signs for that one repository,
then ``GET /api/v1/scan/{id}/report``: 200 is the report, a 404 says the adapter forgot the request
(resubmit), a 302 says ask again in ``Refresh-After`` seconds (``Retry-After`` when absent, else 5 s).
No worker waits for a 302: the scan is given back with its request ids stored on the row and a time
to poll (``ReportNotReady``), and whichever worker claims it when due polls those same requests."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from django.conf import settings
from django.utils import timezone

from portus.security.backends import (
    BackendError,
    BackendHealth,
    DatabaseInfo,
    FoundVulnerability,
    ReportNotReady,
    ScanOutcome,
    ScanTarget,
    images_to_scan,
    parse_time,
    pull_token,
    severity_of,
)

METADATA = "application/vnd.scanner.adapter.metadata+json"
METADATA_ACCEPT = f"{METADATA}; version=1.1, {METADATA}; version=1.0"
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
REPORT_1_1 = "application/vnd.security.vulnerability.report; version=1.1"
REPORT_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
DATABASE_UPDATED_AT = "harbor.scanner-adapter/vulnerability-database-updated-at"
DEFAULT_WAIT = 5.0
RESUBMITS = 3
METADATA_SECONDS = 60.0


@dataclass(frozen=True)
class Metadata:
    scanner: str  # "Trivy 0.50.1 (Aqua Security)"
    version: str  # the metadata's own version: "1.1" or "1.0"
    consumes: frozenset[str]
    report_type: str  # the report MIME type we ask for
    database_updated_at: str  # as the adapter wrote it; "" when it does not say


class Answer:
    """An adapter's answer: the status, the headers (any case) and the body. The calls go through
    urllib3's keep-alive pool directly: a third of requests' CPU per call, which a scan-all feels."""

    def __init__(self, status_code: int, headers: Mapping[str, str], body: bytes):
        self.status_code = status_code
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def wait_seconds(response: Answer) -> float:
    """How long a 302 asks us to wait: Refresh-After, else Retry-After, else 5 s."""
    for header in ("Refresh-After", "Retry-After"):
        value = response.headers.get(header, "").strip()
        try:
            return max(float(value), 0.0)
        except ValueError:
            continue
    return DEFAULT_WAIT


def error_text(response: Answer) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return f"the adapter answered {response.status_code}: {message}"


class HarborBackend:
    name = "harbor"

    def __init__(self) -> None:
        config = settings.PORTUS.security.harbor
        self.base = config.server.rstrip("/") + "/api/v1"
        self.registry_url = config.registry_url.rstrip("/")
        self.authorization = config.authorization
        self.report_timeout = config.timeout
        # One keep-alive connection pool per backend (one per worker); no proxy variables, no retries.
        self.pool = urllib3.PoolManager(maxsize=4, retries=False, timeout=urllib3.Timeout(connect=5, read=60))
        self._metadata: tuple[float, Metadata] | None = None
        # Pull tokens by (registry, repository): signed once and handed to the adapter while more than
        # half of their lifetime is left (the same scope each time; a scan-all signs one per repository).
        self._tokens: dict[tuple[int, str], tuple[float, str]] = {}

    def _headers(self, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if self.authorization:
            headers["Authorization"] = self.authorization
        return headers

    def _call(self, method: str, path: str, *, headers: dict[str, str], data: str | None = None) -> Answer:
        try:
            answer = self.pool.request(method, self.base + path, body=data, headers=headers, redirect=False)
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise BackendError(f"cannot reach the scanner adapter at {self.base}: {exc}") from exc
        return Answer(answer.status, answer.headers, answer.data)

    def metadata(self) -> Metadata:
        response = self._call("GET", "/metadata", headers=self._headers(Accept=METADATA_ACCEPT))
        content_type = response.headers.get("Content-Type", "")
        if response.status_code != 200 or not content_type.startswith(METADATA):
            raise BackendError(f"metadata: {error_text(response)} ({content_type or 'no Content-Type'})")
        version = "1.1" if "version=1.1" in content_type else "1.0"
        body = response.json()
        consumes: set[str] = set()
        produces: set[str] = set()
        for capability in body.get("capabilities") or []:
            if capability.get("type", "vulnerability") != "vulnerability":
                continue
            consumes.update(capability.get("consumes_mime_types") or [])
            produces.update(capability.get("produces_mime_types") or [])
        report_type = next((t for t in (REPORT_1_1, REPORT_1_0) if t in produces), "")
        if not report_type:
            raise BackendError(f"the adapter produces no vulnerability report Portus reads ({sorted(produces)})")
        scanner = body.get("scanner") or {}
        properties = body.get("properties") or {}
        return Metadata(
            scanner=f"{scanner.get('name', '?')} {scanner.get('version', '?')} ({scanner.get('vendor', '?')})",
            version=version,
            consumes=frozenset(consumes),
            report_type=report_type,
            database_updated_at=str(properties.get(DATABASE_UPDATED_AT, "")),
        )

    def database(self) -> DatabaseInfo:
        metadata = self.metadata()
        self._metadata = (time.monotonic(), metadata)  # scans from now on carry the new version
        text = metadata.database_updated_at or metadata.scanner
        return DatabaseInfo(text, parse_time(metadata.database_updated_at))

    def health(self) -> BackendHealth:
        try:
            metadata = self.metadata()
        except BackendError as exc:
            return BackendHealth(False, str(exc))
        return BackendHealth(True, f"{metadata.scanner} answers.", parse_time(metadata.database_updated_at))

    def token(self, target: ScanTarget) -> str:
        key = (target.registry.pk, target.repository)
        now = time.monotonic()
        known = self._tokens.get(key)
        if known is None or known[0] < now:
            lifetime = settings.PORTUS.registry.jwt_expiration_time * 60
            known = (now + lifetime / 2, pull_token(target))
            if len(self._tokens) > 1000:
                self._tokens.clear()
            self._tokens[key] = known
        return known[1]

    def submit(self, metadata: Metadata, target: ScanTarget, digest: str, media_type: str) -> str:
        request: dict[str, Any] = {
            "registry": {"url": self.registry_url or target.registry.base_url, "authorization": self.token(target)},
            "artifact": {"repository": target.repository, "digest": digest, "mime_type": media_type},
        }
        if metadata.version == "1.1":
            request["enabled_capabilities"] = [{"type": "vulnerability", "produces_mime_types": [metadata.report_type]}]
        response = self._call(
            "POST",
            "/scan",
            data=json.dumps(request),
            headers=self._headers(
                **{"Content-Type": f"{SCAN_REQUEST}; version={metadata.version}", "Accept": SCAN_RESPONSE}
            ),
        )
        if response.status_code != 202:
            raise BackendError(f"scan request: {error_text(response)}")
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"scan request: the answer holds no id: {response.text[:200]!r}") from exc

    def poll(self, metadata: Metadata, target: ScanTarget, digest: str, media_type: str) -> tuple[str, Answer]:
        """One look at DIGEST's report: the request an earlier claim left in flight if there is one
        (submitted only when there is none, or the adapter answers 404). Returns the request id and
        the adapter's answer: 200 (the report) or 302 (not ready yet)."""
        request_id = target.in_flight.get(digest) or self.submit(metadata, target, digest, media_type)
        resubmits = 0
        while True:
            response = self._call(
                "GET", f"/scan/{request_id}/report", headers=self._headers(Accept=metadata.report_type)
            )
            if response.status_code == 404 and resubmits < RESUBMITS:
                resubmits += 1
                request_id = self.submit(metadata, target, digest, media_type)
                continue
            if response.status_code not in (200, 302):
                raise BackendError(f"report {request_id}: {error_text(response)}")
            return request_id, response

    def cached_metadata(self) -> Metadata:
        """The metadata, asked again at most every METADATA_SECONDS while scanning (not per scan)."""
        if self._metadata is None or time.monotonic() - self._metadata[0] > METADATA_SECONDS:
            self._metadata = (time.monotonic(), self.metadata())
        return self._metadata[1]

    def scan(self, target: ScanTarget) -> ScanOutcome:
        """Submit (or poll) every image's request; when a report is not ready, raise ReportNotReady
        with every request id, so the worker is free while the adapter scans (all images of an index
        are submitted in the first claim)."""
        metadata = self.cached_metadata()
        images = images_to_scan(target)
        findings: list[FoundVulnerability] = []
        notes: list[str] = []
        in_flight: dict[str, str] = {}
        waits: list[float] = []
        several = len(images) > 1
        for platform, digest, media_type, _ in images:
            if metadata.consumes and media_type not in metadata.consumes:
                notes.append(f"{metadata.scanner} does not read {media_type} ({digest}).")
                continue
            request_id, response = self.poll(metadata, target, digest, media_type)
            if response.status_code == 302:
                in_flight[digest] = request_id
                waits.append(wait_seconds(response))
                continue
            for item in response.json().get("vulnerabilities") or []:
                links = item.get("links") or []
                findings.append(
                    FoundVulnerability(
                        vulnerability_id=str(item.get("id", "")),
                        severity=severity_of(str(item.get("severity", ""))),
                        package=str(item.get("package", "")),
                        installed_version=str(item.get("version", "")),
                        fixed_version=str(item.get("fix_version") or ""),
                        summary=str(item.get("description") or ""),
                        link=str(links[0]) if links else "",
                        platform=platform if several else "",
                    )
                )
        if waits:
            self.check_deadline(target, in_flight, min(waits))
            raise ReportNotReady(min(waits), in_flight)
        database = DatabaseInfo(
            metadata.database_updated_at or metadata.scanner, parse_time(metadata.database_updated_at)
        )
        return ScanOutcome(findings, database, notes)

    def check_deadline(self, target: ScanTarget, in_flight: dict[str, str], wait: float) -> None:
        """A report not ready security.harbor.timeout seconds after the first wait fails the attempt (the
        retry polls the same requests with a new deadline)."""
        waited = (timezone.now() - target.waiting_since).total_seconds() if target.waiting_since else 0.0
        if waited + wait > self.report_timeout:
            raise BackendError(f"report {', '.join(in_flight.values())} not ready after {self.report_timeout} s")
