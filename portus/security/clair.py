"""Clair v4: ``POST /indexer/api/v1/index_report`` (the manifest's hash and its layers' URIs, each
with an ``Authorization`` header the registry accepts: a pull-only token our token service signs),
then ``GET /matcher/api/v1/vulnerability_report/{digest}``. With ``security.clair.psk`` set every call
carries a PSK JWT (HS256, ``iss``, ``iat``, ``exp``) as Clair's ``auth.psk`` expects. The database
version is the indexer's ``index_state``: when it changes, every image is indexed again."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import jwt
import requests
from django.conf import settings

from portus.security.backends import (
    BackendError,
    BackendHealth,
    DatabaseInfo,
    FoundVulnerability,
    ScanOutcome,
    ScanTarget,
    pull_token,
    read_images,
    severity_of,
)

TOKEN_LIFETIME = 300  # seconds


class ClairBackend:
    name = "clair"

    def __init__(self, session: requests.Session | None = None):
        config = settings.PORTUS.security.clair
        self.base = config.server.rstrip("/")
        self.psk = config.psk
        self.issuer = config.issuer
        self.timeout = config.timeout
        self.session = session or requests.Session()
        self.session.trust_env = False

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.psk:
            try:
                key = base64.b64decode(self.psk, validate=True)
            except binascii.Error as exc:
                raise BackendError("security.clair.psk is not base64 (Clair's auth.psk.key format)") from exc
            now = int(time.time())
            claims = {"iss": self.issuer, "iat": now, "nbf": now - 5, "exp": now + TOKEN_LIFETIME}
            headers["Authorization"] = "Bearer " + jwt.encode(claims, key, algorithm="HS256")
        return headers

    def _call(self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(
                method, self.base + path, headers=self._headers(), timeout=(5, self.timeout), **kwargs
            )
        except requests.RequestException as exc:
            raise BackendError(f"cannot reach Clair at {self.base}: {exc}") from exc
        if response.status_code not in ok:
            raise BackendError(f"{method} {path}: Clair answered {response.status_code} {response.text[:200]!r}")
        return response

    def index_state(self) -> str:
        return str(self._call("GET", "/indexer/api/v1/index_state", (200,)).json().get("state", ""))

    def database(self) -> DatabaseInfo:
        return DatabaseInfo(f"index_state {self.index_state()}")

    def health(self) -> BackendHealth:
        try:
            state = self.index_state()
        except (BackendError, ValueError) as exc:
            return BackendHealth(False, str(exc))
        return BackendHealth(True, f"Clair answers (index_state {state}).")

    def index(self, target: ScanTarget, digest: str, manifest: dict[str, Any]) -> None:
        authorization = pull_token(target)
        base = target.registry.base_url.rstrip("/")
        body = {
            "hash": digest,
            "layers": [
                {
                    "hash": layer["digest"],
                    "uri": f"{base}/v2/{target.repository}/blobs/{layer['digest']}",
                    "headers": {"Authorization": [authorization]},
                }
                for layer in manifest.get("layers") or []
            ],
        }
        report = self._call("POST", "/indexer/api/v1/index_report", (200, 201), json=body).json()
        if report.get("success") is False or report.get("err"):
            raise BackendError(f"Clair could not index {digest}: {report.get('err') or report.get('state')}")

    def scan(self, target: ScanTarget) -> ScanOutcome:
        state = self.index_state()
        images = read_images(target)
        findings: list[FoundVulnerability] = []
        several = len(images) > 1
        for platform, digest, _, manifest in images:
            self.index(target, digest, manifest)
            report = self._call("GET", f"/matcher/api/v1/vulnerability_report/{digest}", (200,)).json()
            packages = report.get("packages") or {}
            vulnerabilities = report.get("vulnerabilities") or {}
            for package_id, vulnerability_ids in sorted((report.get("package_vulnerabilities") or {}).items()):
                package = packages.get(package_id) or {}
                for vulnerability_id in vulnerability_ids:
                    found = vulnerabilities.get(vulnerability_id) or {}
                    links = str(found.get("links") or "").split()
                    findings.append(
                        FoundVulnerability(
                            vulnerability_id=str(found.get("name") or vulnerability_id),
                            severity=severity_of(str(found.get("normalized_severity", ""))),
                            package=str(package.get("name", "")),
                            installed_version=str(package.get("version", "")),
                            fixed_version=str(found.get("fixed_in_version") or ""),
                            summary=str(found.get("description") or ""),
                            link=links[0] if links else "",
                            platform=platform if several else "",
                        )
                    )
        return ScanOutcome(findings, DatabaseInfo(f"index_state {state}"))
