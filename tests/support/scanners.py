"""Scanner doubles started as real HTTP servers: a Harbor pluggable scanner adapter (API v1.2, with
v1.0 answers on request) and Clair v4. They speak the published wire formats: MIME types, status
codes, headers. The adapter double really pulls the manifest it is asked to scan from the registry
with the Authorization it was given, so a test can prove the token works."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import requests

METADATA = "application/vnd.scanner.adapter.metadata+json"
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
REPORT_1_1 = "application/vnd.security.vulnerability.report; version=1.1"
REPORT_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
IMAGE_TYPES = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"]


@dataclass
class Pull:
    """What the adapter double got when it pulled the manifest it was asked to scan."""

    url: str
    status: int
    digest: str  # sha256 of the body it received ("" unless 200)
    authorization: str


@dataclass
class AdapterState:
    metadata_version: str = "1.1"  # "1.0": answer as a v1.0 adapter (no capability types, 1.0 report)
    database_updated_at: str = "2026-11-30T08:16:33.345Z"
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)
    not_ready_polls: int = 1  # 302 answers before the report
    refresh_header: tuple[str, str] | None = ("Refresh-After", "0")  # None: no header at all
    forget_once: bool = False  # answer 404 to the first report poll (the adapter lost the request)
    pull: bool = True  # pull the manifest from the registry (off for the throughput bench)
    max_per_second: float = 0.0  # the double's own limit on scan requests (0: none)
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_types: list[str] = field(default_factory=list)
    pulls: list[Pull] = field(default_factory=list)
    polls: int = 0
    reports: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # id -> (polls left, request)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_slot: float = 0.0


def _metadata_body(state: AdapterState) -> dict[str, Any]:
    capability: dict[str, Any] = {"consumes_mime_types": IMAGE_TYPES}
    if state.metadata_version == "1.1":
        capability.update(type="vulnerability", produces_mime_types=[REPORT_1_0, REPORT_1_1])
    else:
        capability.update(produces_mime_types=[REPORT_1_0])
    return {
        "scanner": {"name": "Double", "vendor": "Portus tests", "version": "1.2.3"},
        "capabilities": [capability],
        "properties": {
            "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
            "harbor.scanner-adapter/vulnerability-database-updated-at": state.database_updated_at,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: AdapterState

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the client's delayed ACK add
        # 40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: dict[str, Any] | None, content_type: str, **headers: str) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message}}, ERROR)


class AdapterHandler(_Handler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        state = self.state
        if self.path == "/api/v1/metadata":
            self._send(200, _metadata_body(state), f"{METADATA}; version={state.metadata_version}")
            return
        parts = self.path.split("/")
        if len(parts) == 6 and parts[1:4] == ["api", "v1", "scan"] and parts[5] == "report":
            self._report(parts[4])
            return
        self._error(404, f"no route {self.path}")

    def _report(self, request_id: str) -> None:
        state = self.state
        accept = self.headers.get("Accept", "")
        with state.lock:
            state.polls += 1
            known = state.reports.get(request_id)
            if state.forget_once and known is not None:
                state.forget_once = False
                del state.reports[request_id]
                known = None
            if known is not None and known[0] > 0:
                state.reports[request_id] = (known[0] - 1, known[1])
        if known is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        produced = [REPORT_1_0, REPORT_1_1] if state.metadata_version == "1.1" else [REPORT_1_0]
        if accept not in produced:
            self._error(400, f"unsupported report MIME type {accept!r}")
            return
        if known[0] > 0:
            headers = {state.refresh_header[0]: state.refresh_header[1]} if state.refresh_header else {}
            self.send_response(302)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = known[1]
        report = {
            "generated_at": "2026-12-01T08:00:00Z",
            "artifact": request["artifact"],
            "scanner": {"name": "Double", "vendor": "Portus tests", "version": "1.2.3"},
            "severity": "High",
            "vulnerabilities": state.vulnerabilities,
        }
        self._send(200, report, accept)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        state = self.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/api/v1/scan":
            self._error(404, f"no route {self.path}")
            return
        content_type = self.headers.get("Content-Type", "")
        if content_type not in (f"{SCAN_REQUEST}; version=1.0", f"{SCAN_REQUEST}; version=1.1"):
            self._error(400, f"unsupported Content-Type {content_type!r}")
            return
        try:
            request = json.loads(body)
            registry, artifact = request["registry"], request["artifact"]
            url = f"{registry['url']}/v2/{artifact['repository']}/manifests/{artifact['digest']}"
        except (ValueError, KeyError, TypeError):
            self._error(422, "registry and artifact are required")
            return
        if state.max_per_second:
            with state.lock:
                now = time.monotonic()
                slot = max(state.next_slot, now)
                state.next_slot = slot + 1 / state.max_per_second
            time.sleep(max(slot - now, 0))
        if state.pull:
            pulled = requests.get(
                url,
                headers={"Authorization": registry.get("authorization", ""), "Accept": artifact["mime_type"]},
                timeout=10,
            )
            digest = "sha256:" + hashlib.sha256(pulled.content).hexdigest() if pulled.status_code == 200 else ""
            with state.lock:
                state.pulls.append(Pull(url, pulled.status_code, digest, registry.get("authorization", "")))
        request_id = str(uuid.uuid4())
        with state.lock:
            state.requests.append(request)
            state.request_types.append(content_type)
            state.reports[request_id] = (state.not_ready_polls, request)
        self._send(202, {"id": request_id}, SCAN_RESPONSE)


@dataclass
class ClairState:
    index_state: str = "aaaa1111"
    psk: bytes = b""  # when set, every call must carry a valid HS256 token with iss "portus"
    vulnerabilities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # package name -> vulns
    indexed: dict[str, dict[str, Any]] = field(default_factory=dict)  # manifest hash -> index request
    layer_fetches: list[tuple[str, int]] = field(default_factory=list)  # (uri, status) of each layer fetched
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ClairHandler(_Handler):
    clair: ClairState

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        with self.clair.lock:
            self.clair.authorizations.append(header)
        if not self.clair.psk:
            return True
        try:
            claims = jwt.decode(
                header.removeprefix("Bearer "), self.clair.psk, algorithms=["HS256"], options={"require": ["exp"]}
            )
        except jwt.PyJWTError:
            claims = {}
        if claims.get("iss") == "portus":
            return True
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _json(self, status: int, body: dict[str, Any], **headers: str) -> None:
        self._send(status, body, "application/json", **headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._authorized():
            return
        clair = self.clair
        if self.path == "/indexer/api/v1/index_state":
            self._json(200, {"state": clair.index_state}, ETag=f'"{clair.index_state}"')
            return
        prefix = "/matcher/api/v1/vulnerability_report/"
        if self.path.startswith(prefix):
            digest = self.path[len(prefix) :]
            request = clair.indexed.get(digest)
            if request is None:
                self._json(404, {"code": "not-found", "message": f"{digest} not indexed"})
                return
            self._json(200, self._report(digest))
            return
        self._json(404, {"code": "not-found", "message": self.path})

    def _report(self, digest: str) -> dict[str, Any]:
        packages: dict[str, Any] = {}
        vulnerabilities: dict[str, Any] = {}
        package_vulnerabilities: dict[str, list[str]] = {}
        for number, (name, found) in enumerate(sorted(self.clair.vulnerabilities.items()), start=1):
            packages[str(number)] = {
                "id": str(number),
                "name": name,
                "version": found[0]["installed"],
                "kind": "binary",
            }
            ids = []
            for index, vulnerability in enumerate(found):
                key = f"{number}-{index}"
                vulnerabilities[key] = {
                    "id": key,
                    "updater": "debian",
                    "name": vulnerability["name"],
                    "description": vulnerability.get("description", ""),
                    "links": vulnerability.get("links", ""),
                    "severity": vulnerability.get("severity", ""),
                    "normalized_severity": vulnerability["normalized_severity"],
                    "fixed_in_version": vulnerability.get("fixed_in_version", ""),
                    "package": {"id": "", "name": name},
                }
                ids.append(key)
            package_vulnerabilities[str(number)] = ids
        return {
            "manifest_hash": digest,
            "packages": packages,
            "distributions": {},
            "environments": {},
            "vulnerabilities": vulnerabilities,
            "package_vulnerabilities": package_vulnerabilities,
            "enrichments": {},
        }

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorized():
            return
        clair = self.clair
        if self.path != "/indexer/api/v1/index_report":
            self._json(404, {"code": "not-found", "message": self.path})
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._json(415, {"code": "bad-request", "message": "application/json expected"})
            return
        request = json.loads(body)
        # Like Clair's indexer: fetch every layer with the headers it was given.
        for layer in request.get("layers") or []:
            headers = {name: values[0] for name, values in (layer.get("headers") or {}).items()}
            fetched = requests.get(layer["uri"], headers=headers, timeout=10)
            ok = fetched.status_code == 200 and "sha256:" + hashlib.sha256(fetched.content).hexdigest() == layer["hash"]
            with clair.lock:
                clair.layer_fetches.append((layer["uri"], fetched.status_code if ok else -fetched.status_code))
        with clair.lock:
            clair.indexed[request["hash"]] = request
        self._json(
            201,
            {"manifest_hash": request["hash"], "state": "IndexFinished", "packages": {}, "success": True, "err": ""},
        )


@dataclass
class Running:
    url: str
    server: ThreadingHTTPServer


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[Running]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def harbor_adapter(state: AdapterState) -> Iterator[Running]:
    handler = type("BoundAdapter", (AdapterHandler,), {"state": state})
    with _serve(handler) as running:
        yield running


@contextmanager
def clair_server(state: ClairState) -> Iterator[Running]:
    handler = type("BoundClair", (ClairHandler,), {"clair": state})
    with _serve(handler) as running:
        yield running
