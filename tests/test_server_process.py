"""`portusctl serve` as operators run it: a real gunicorn with two workers, HTTPS from a generated certificate,
migrations refused or applied, probes, /metrics added up over the workers, and a request log without secrets."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.registry import free_port

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-battery"
METRICS_TOKEN = "metrics-token-for-the-test-0123456789"
SERVICE = "registry.test:5000"
TOKEN_REQUESTS = 24


def clean_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This suite's PORTUS_* variables left out: the server gets its own data directory and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_", "PROMETHEUS_"))}
    env.update({"PORTUS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


def portusctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portus.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Server:
    url: str
    cert: Path
    log: Path
    process: subprocess.Popen[bytes]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        # Connection: close on each request, so that gunicorn's workers take turns.
        headers = {"Connection": "close", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return requests.get(self.url + path, verify=str(self.cert), timeout=30, headers=headers, **kwargs)  # type: ignore[arg-type]

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


def wait_until_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log.read_text()
        try:
            if server.get("/health/ready").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server never became ready:\n" + server.log.read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    cert, key = self_signed(tmp)
    env = clean_environment(
        tmp / "data",
        PORTUS_TLS_CERT=str(cert),
        PORTUS_PUMA_TLS_KEY=str(key),  # the original's name, an alias
        PORTUS_WORKERS="2",
        PORTUS_LOG_FORMAT="json",
        PORTUS_METRICS_ENABLED="true",
        PORTUS_METRICS_TOKEN=METRICS_TOKEN,
        PORTUS_ALLOWED_HOSTS="localhost",
        # Rate limits out of the way of the many token requests below.
        PORTUS_RATE_LIMIT_FAILURES="0",
        PORTUS_LOCKOUT_ATTEMPTS="0",
    )
    port = free_port()
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "portus.cli", "serve", "--migrate", "--bind", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Server(f"https://localhost:{port}", cert, log, process)
    try:
        wait_until_ready(running, time.monotonic() + 120)
        for args in (
            ("user", "create", "alice", "--password", PASSWORD),
            ("registry", "add", "--name", "main", "--hostname", SERVICE),
        ):
            done = portusctl(env, *args)
            assert done.returncode == 0, done.stderr
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_refuses_to_start_while_migrations_are_pending_and_names_the_command(tmp_path: Path) -> None:
    done = portusctl(clean_environment(tmp_path / "data"), "serve", "--bind", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "migrations are pending" in done.stderr
    assert "portusctl migrate" in done.stderr and "--migrate" in done.stderr


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    done = portusctl(clean_environment(tmp_path / "data", PORTUS_TLS_CERT=str(cert)), "serve")
    assert done.returncode == 1
    assert "PORTUS_TLS_KEY" in done.stderr


def test_serve_with_migrate_answers_https_verified_against_the_certificate(server: Server) -> None:
    response = server.get("/api/v1/_ping")
    assert response.status_code == 200 and response.json() == {"ok": True}
    with pytest.raises(requests.exceptions.SSLError):  # a certificate nobody trusts is refused: it is real TLS
        requests.get(server.url + "/api/v1/_ping", timeout=30)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url.replace("https:", "http:") + "/api/v1/_ping", timeout=30)


def test_each_worker_warms_up_before_it_accepts_a_request(server: Server) -> None:
    warmed = [json.loads(line) for line in server.log_lines() if line.startswith("{") and "ready in" in line]
    assert len(warmed) == 2, server.log_lines()  # the gunicorn hook ran in both workers, logged in JSON
    assert {entry["logger"] for entry in warmed} == {"gunicorn.error"}


def test_probes_answer_without_credentials_and_whatever_the_host_header(server: Server) -> None:
    live = server.get("/health/live", headers={"Host": "10.1.2.3:3000"})
    assert live.status_code == 200 and live.json() == {"live": True}
    assert server.get("/api/v1/_ping", headers={"Host": "10.1.2.3:3000"}).status_code == 400  # not for the rest
    ready = server.get("/health/ready", headers={"Host": "10.1.2.3:3000"})
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"database": True, "migrations": True, "signing_key": True}}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def samples(text: str, name: str) -> dict[str, float]:
    """NAME's samples in Prometheus's text format: {'{labels}': value}."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_metrics_add_up_the_workers_and_ask_for_the_bearer_token(server: Server) -> None:
    before = server.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    issued_before = samples(before, "portus_token_requests_total").get('{outcome="issued",reason=""}', 0.0)
    refused_before = samples(before, "portus_token_requests_total").get(
        '{outcome="refused",reason="bad_credentials"}', 0.0
    )
    scope = {"service": SERVICE, "scope": "repository:alice/app:pull,push"}
    for _ in range(TOKEN_REQUESTS):
        assert server.get("/v2/token", params=scope, headers=basic("alice", PASSWORD)).status_code == 200
    assert server.get("/v2/token", params=scope, headers=basic("alice", "wrong-password")).status_code == 401

    assert server.get("/metrics").status_code == 401
    assert server.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = server.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    text = response.text
    tokens = samples(text, "portus_token_requests_total")
    assert tokens['{outcome="issued",reason=""}'] - issued_before == TOKEN_REQUESTS
    assert tokens['{outcome="refused",reason="bad_credentials"}'] - refused_before == 1
    assert samples(text, "portus_token_request_duration_seconds_count")['{outcome="issued"}'] >= TOKEN_REQUESTS
    routes = samples(text, "portus_http_requests_total")
    assert routes['{method="GET",route="v2/token",status="200"}'] >= TOKEN_REQUESTS
    assert samples(text, "portus_users")['{state="enabled"}'] == 1
    assert samples(text, "portus_registries")[""] == 1
    assert set(samples(text, "portus_scans")) == {
        '{state="pending"}',
        '{state="running"}',
        '{state="done"}',
        '{state="failed"}',
    }
    assert "portus_registry_events_backlog 0.0" in text
    # Both workers answered some of them: each wrote its own file, and the scrape added them up.
    metrics_dir = next(
        Path(line.split("=", 1)[1])
        for line in Path(f"/proc/{server.process.pid}/environ").read_bytes().decode().split("\0")
        if line.startswith("PROMETHEUS_MULTIPROC_DIR=")
    )
    pids = {re.sub(r"\D", "", f.stem) for f in metrics_dir.glob("counter_*.db")}
    assert len(pids) == 2, pids


def test_every_request_is_one_json_line_and_no_secret_reaches_the_log(server: Server) -> None:
    secret_query = "query-password-4d1c"
    secret_token = "query-token-77ab"
    server.get("/v2/token", params={"service": SERVICE}, headers=basic("alice", PASSWORD))
    server.get("/v2/token", params={"service": SERVICE}, headers=basic("alice", "wrong-password-9f3e"))
    server.get(
        f"/api/v1/users?password={secret_query}&token={secret_token}",
        headers={"Authorization": "Bearer app-token-5e5e"},
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("/api/v1/users" in line for line in server.log_lines()):
        time.sleep(0.1)
    lines = server.log_lines()
    requests_logged = [json.loads(line) for line in lines if line.startswith("{") and '"portus.request"' in line]
    users = [entry for entry in requests_logged if entry["path"] == "/api/v1/users"]
    assert users, lines
    assert set(users[-1]) >= {"time", "level", "message", "method", "path", "route", "status", "duration_ms"}
    assert users[-1]["route"] == "api/v1/users" and users[-1]["status"] in (401, 403)
    tokens = [entry for entry in requests_logged if entry["route"] == "v2/token"]
    assert {entry["status"] for entry in tokens} >= {200, 401}
    everything = "\n".join(lines)
    basic_values = [basic("alice", p)["Authorization"].split()[1] for p in (PASSWORD, "wrong-password-9f3e")]
    for secret in (PASSWORD, "wrong-password-9f3e", secret_query, secret_token, "app-token-5e5e", *basic_values):
        assert secret not in everything
