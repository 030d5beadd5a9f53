"""The request log: one line a request (method, path without query, route, status, latency), plain or JSON, and
never a password, token or secret in any line, whoever wrote it."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from portus.server.logs import HideSecrets, JsonFormatter, hide_secrets
from tests.conftest import PASSWORD, World

WRONG_PASSWORD = "wrong-password-31b7"
QUERY_SECRET = "query-secret-8c2d"
BEARER_SECRET = "bearer-secret-90aa"


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


def capture(formatter: logging.Formatter) -> Iterator[Captured]:
    """The console handler as settings.LOGGING builds it, on the root logger, for one test."""
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(formatter)
    handler.addFilter(HideSecrets())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield captured
    finally:
        root.removeHandler(handler)


@pytest.fixture
def json_log() -> Iterator[Captured]:
    yield from capture(JsonFormatter())


@pytest.fixture
def plain_log() -> Iterator[Captured]:
    yield from capture(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_each_request_is_one_plain_line_with_method_path_status_and_latency(world: World, plain_log: Captured) -> None:
    Client().get("/api/v1/_ping?x=1")
    lines = [line for line in plain_log.lines if "portus.request" in line]
    assert len(lines) == 1
    assert lines[0].split("portus.request: ")[1].startswith("GET /api/v1/_ping 200 ")
    assert lines[0].endswith(" ms") and "x=1" not in lines[0]


def test_json_lines_carry_the_request_fields(world: World, json_log: Captured) -> None:
    Client().get("/api/v1/teams/acme")
    entries = [json.loads(line) for line in json_log.lines]
    request = next(entry for entry in entries if entry["logger"] == "portus.request")
    assert request["method"] == "GET" and request["path"] == "/api/v1/teams/acme"
    assert request["route"].startswith("api/v1/teams/") and "acme" not in request["route"]
    assert request["status"] in (200, 401, 404) and isinstance(request["duration_ms"], float)
    assert request["level"] == "INFO" and request["time"].endswith("+00:00")


def test_token_requests_and_failed_logins_leave_no_credential_in_the_log(world: World, json_log: Captured) -> None:
    client = Client()
    scope = {"service": "registry.test", "scope": "repository:acme/app:pull"}
    assert client.get("/v2/token", scope, HTTP_AUTHORIZATION=basic("owner", PASSWORD)).status_code == 200
    assert client.get("/v2/token", scope, HTTP_AUTHORIZATION=basic("owner", WRONG_PASSWORD)).status_code == 401
    client.post("/login/", {"username": "owner", "password": WRONG_PASSWORD})
    client.get(
        f"/api/v1/users?password={QUERY_SECRET}&token={QUERY_SECRET}", HTTP_AUTHORIZATION=f"Bearer {BEARER_SECRET}"
    )
    client.get(f"/v2/token?service=registry.test&password={QUERY_SECRET}")
    logged = json_log.stream.getvalue()
    assert logged.count('"portus.request"') >= 5
    for secret in (
        PASSWORD,
        WRONG_PASSWORD,
        QUERY_SECRET,
        BEARER_SECRET,
        basic("owner", PASSWORD).split()[1],
        basic("owner", WRONG_PASSWORD).split()[1],
    ):
        assert secret not in logged


def test_a_password_reset_links_token_is_not_logged(world: World, plain_log: Captured) -> None:
    Client().get("/password-reset/MQ/c0ffee-5ecret-reset-token/")
    line = next(line for line in plain_log.lines if "portus.request" in line)
    assert "c0ffee-5ecret-reset-token" not in line and "[redacted]" in line


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("headers=map[Authorization:[Bearer eyJhbGciOi.payload.sig]]", "eyJhbGciOi.payload.sig"),
        ("calling with Authorization: Basic YWxpY2U6aHVudGVyMg==", "YWxpY2U6aHVudGVyMg=="),
        ("GET /v2/token?service=x&password=hunter2&scope=y", "hunter2"),
        ("form data: user=alice password=hunter2", "hunter2"),
        ("connect to postgresql://portus:s3cret@db:5432/portus failed", "s3cret"),
        ("retry with access_token=abc123def456", "abc123def456"),
    ],
)
def test_any_logger_writing_a_credential_gets_it_redacted(message: str, secret: str) -> None:
    hidden = hide_secrets(message)
    assert secret not in hidden and "[redacted]" in hidden


def test_the_filter_rewrites_a_record_and_its_traceback(json_log: Captured) -> None:
    log = logging.getLogger("some.library")
    try:
        raise ValueError("bad Authorization: Bearer tok-123456789")
    except ValueError:
        log.exception("failed with password=%s", "hunter2-hunter2")
    text = json_log.stream.getvalue()
    assert "hunter2-hunter2" not in text and "tok-123456789" not in text
    assert "[redacted]" in json.loads(json_log.lines[0])["exception"]
