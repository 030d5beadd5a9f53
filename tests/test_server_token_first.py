"""GET /v2/token answered at the WSGI level (portus/server/token_first.py) exactly as through Django.

Every request here goes both ways with the same WSGI environ: a Django WSGI handler built afresh (Django's
handler and the middleware, the reference) and portus.wsgi.application (what gunicorn serves). The
status, every header and the body must match; of an issued token, the claims other than its times
and id. The short way sends request_started and request_finished as a server's request does, and
close_old_connections would end a test's transaction: hence transactional tests."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portus import metrics
from portus.accounts.actions import create_token
from portus.registry_endpoints import token_service
from portus.server import token_first
from portus.wsgi import application
from tests.conftest import PASSWORD, World, make_world

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = "registry.test"
TIMES = ("iat", "nbf", "exp", "jti")


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class Answer:
    status: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def environ(query: str = "", authorization: str | None = None, **extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/v2/token",
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "portus.test",
        "REMOTE_ADDR": "192.0.2.7",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if authorization is not None:
        env["HTTP_AUTHORIZATION"] = authorization
    env.update(extra)
    return env


def call(app: Any, env: dict[str, Any]) -> Answer:
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = app(dict(env, **{"wsgi.input": io.BytesIO(b"")}), lambda s, h, exc_info=None: started.append((s, h)))
    try:
        content = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    status, headers = started[0]
    named = {name.lower(): value for name, value in headers}
    assert len(named) == len(headers), f"a header twice: {headers}"
    return Answer(status, named, content)


def both(env: dict[str, Any]) -> tuple[Answer, Answer]:
    """The answer of Django's stack, then the short way's; the throttles' counts forgotten in between.
    Django's handler is built afresh, as a worker builds it at start: its middleware read some settings
    (HSTS among them) only then, and a test may have changed them."""
    cache.clear()
    reference = call(WSGIHandler(), env)
    cache.clear()
    return reference, call(application, env)


def assert_alike(reference: Answer, short: Answer) -> None:
    assert short.status == reference.status
    assert short.headers.keys() == reference.headers.keys()
    for name, value in reference.headers.items():
        if name != "content-length":  # an issued token's length may differ by its times' digits
            assert short.headers[name] == value, name
    if "content-length" in short.headers:  # Django leaves it out of the answers it makes itself
        assert short.headers["content-length"] == str(len(short.body))
    assert reference.headers["content-type"] == "application/json"
    if not reference.status.startswith("200"):
        assert short.json() == reference.json()
        return
    mine, theirs = short.json(), reference.json()
    assert mine.keys() == theirs.keys() == {"token", "access_token", "expires_in", "issued_at"}
    assert mine["expires_in"] == theirs["expires_in"]
    claims = [jwt.decode(body["token"], options={"verify_signature": False}) for body in (mine, theirs)]
    assert {k: v for k, v in claims[0].items() if k not in TIMES} == {
        k: v for k, v in claims[1].items() if k not in TIMES
    }
    assert jwt.get_unverified_header(mine["token"]) == jwt.get_unverified_header(theirs["token"])


@pytest.fixture
def world(transactional_db: None) -> World:
    return make_world(SERVICE)


@pytest.fixture
def app_token(world: World) -> str:
    return create_token(user=world.contributor, name="ci", actor=world.contributor)[1]


def query(*scopes: str, service: str | None = SERVICE, account: str | None = None) -> str:
    from urllib.parse import urlencode

    pairs = [("scope", scope) for scope in scopes]
    if service is not None:
        pairs.append(("service", service))
    if account is not None:
        pairs.append(("account", account))
    return urlencode(pairs)


CASES = {
    "password, push and pull": (query("repository:acme/app:pull,push"), basic("contributor", PASSWORD)),
    "password, account named": (query("repository:acme/app:pull", account="owner"), basic("owner", PASSWORD)),
    "anonymous": (query("repository:acme/app:pull"), None),
    "catalog": (query("registry:catalog:*"), basic("admin", PASSWORD)),
    "ten scopes": (query(*(f"repository:acme/app{n}:pull,push" for n in range(10))), basic("viewer", PASSWORD)),
    "wrong password": (query("repository:acme/app:pull"), basic("owner", "wrong-password")),
    "unknown user": (query("repository:acme/app:pull"), basic("nobody", PASSWORD)),
    "account mismatch": (query("repository:acme/app:pull", account="admin"), basic("owner", PASSWORD)),
    "not basic": (query("repository:acme/app:pull"), "Bearer abc"),
    "bad base64": (query("repository:acme/app:pull"), "Basic %%%"),
    "malformed scope": (query("repository:acme/app"), None),
    "no service": (query("repository:acme/app:pull", service=None), None),
    "unknown service": (query("repository:acme/app:pull", service="elsewhere.test"), None),
    "query too long": ("scope=" + "a" * 9000 + "&service=" + SERVICE, None),
    "too many fields": ("&".join(f"x{n}=1" for n in range(1200)) + "&service=" + SERVICE, None),
    "undecodable": ("service=%ff%fe&scope=repository:%c3%28:pull", None),
}


@pytest.mark.parametrize("case", CASES)
def test_the_short_way_answers_as_django_does(world: World, case: str) -> None:
    text, authorization = CASES[case]
    assert_alike(*both(environ(text, authorization)))


def test_an_application_token_is_answered_alike(world: World, app_token: str) -> None:
    reference, short = both(environ(query("repository:acme/app:push,pull"), basic("contributor", app_token)))
    assert reference.status.startswith("200")
    assert_alike(reference, short)


def test_over_https_the_strict_transport_header_is_the_same(world: World) -> None:
    with override_settings(SECURE_HSTS_SECONDS=3600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True):
        reference, short = both(environ(query("repository:acme/app:pull"), **{"wsgi.url_scheme": "https"}))
        assert "max-age=3600; includeSubDomains" == short.headers["strict-transport-security"]
        assert_alike(reference, short)
        # Over plain HTTP neither sends it.
        plain = both(environ(query("repository:acme/app:pull")))
        assert "strict-transport-security" not in plain[1].headers
        assert_alike(*plain)


def test_the_security_headers_follow_a_changed_setting(world: World, portus_config: Any) -> None:
    before = call(application, environ(query("repository:acme/app:pull")))
    portus_config("gravatar.enabled", not before.headers["content-security-policy"].count("gravatar"))
    token_first.security_headers.cache_clear()  # settings.PORTUS replaced in place sends no setting_changed
    reference, short = both(environ(query("repository:acme/app:pull")))
    assert short.headers["content-security-policy"] != before.headers["content-security-policy"]
    assert_alike(reference, short)
    with override_settings(SECURE_REFERRER_POLICY="no-referrer"):  # sends setting_changed
        reference, short = both(environ(query("repository:acme/app:pull")))
        assert short.headers["referrer-policy"] == "no-referrer"
        assert_alike(reference, short)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scopes=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds(
                "repository:{}:{}".format,
                st.sampled_from(["acme/app", "acme", "owner/x", "ACME/app", "a//b", "", "acme/app:latest"]),
                st.sampled_from(["pull", "push,pull", "*", "delete", "", "pull,,push"]),
            ),
        ),
        max_size=4,
    ),
    service=st.sampled_from([SERVICE, "", "other", None]),
    authorization=st.sampled_from(
        [None, basic("viewer", PASSWORD), basic("viewer", "nope"), "Basic", "basic dmlld2Vy", "Digest x"]
    ),
)
def test_any_query_is_answered_alike(
    world: World, scopes: list[str], service: str | None, authorization: str | None
) -> None:
    assert_alike(*both(environ(query(*scopes, service=service), authorization)))


# -- what the short way leaves to Django ----------------------------------------------------------------


def test_a_host_not_allowed_is_refused_by_django_in_json(world: World) -> None:
    with override_settings(ALLOWED_HOSTS=["portus.example.com"]):
        reference, short = both(environ(query("repository:acme/app:pull")))
    assert short.status.startswith("400")
    assert short.json()["errors"][0]["code"] == "DENIED"
    assert_alike(reference, short)


def test_other_methods_are_answered_by_django(world: World) -> None:
    reference, short = both(environ(query("repository:acme/app:pull"), REQUEST_METHOD="POST"))
    assert short.status.startswith("405") and short.headers["allow"] == "GET"
    assert_alike(reference, short)


def test_a_plain_request_is_sent_to_https_when_told_to(world: World) -> None:
    with override_settings(SECURE_SSL_REDIRECT=True):  # read by the middleware when a worker builds them
        answer = call(token_first.token_first(WSGIHandler()), environ(query("repository:acme/app:pull")))
    assert answer.status.startswith("301")
    assert answer.headers["location"].startswith("https://portus.test/v2/token?")


# -- what happens around the answer ------------------------------------------------------------------------


@pytest.fixture
def request_signals() -> Iterator[list[str]]:
    seen: list[str] = []

    def started(**_: Any) -> None:
        seen.append("started")

    def finished(**_: Any) -> None:
        seen.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield seen
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


def test_the_request_signals_are_sent_once_each(world: World, request_signals: list[str]) -> None:
    call(application, environ(query("repository:acme/app:pull"), basic("owner", PASSWORD)))
    assert request_signals == ["started", "finished"]


def test_one_log_line_and_the_metrics_as_for_any_request(world: World, caplog: pytest.LogCaptureFixture) -> None:
    def counted() -> tuple[float, float]:
        issued = metrics.TOKENS.labels("issued", "")._value.get()
        answered = metrics.HTTP_REQUESTS.labels("v2/token", "GET", "200")._value.get()
        return issued, answered

    before = counted()
    with caplog.at_level(logging.INFO, logger="portus.request"):
        answer = call(application, environ(query("repository:acme/app:pull"), basic("owner", PASSWORD)))
    assert answer.status.startswith("200")
    assert counted() == (before[0] + 1, before[1] + 1)
    lines = [r for r in caplog.records if r.name == "portus.request"]
    assert len(lines) == 1
    line = lines[0]
    assert (line.method, line.path, line.route, line.status, line.client) == (  # type: ignore[attr-defined]
        "GET",
        "/v2/token",
        "v2/token",
        200,
        "192.0.2.7",
    )
    assert "password" not in line.getMessage() and PASSWORD not in line.getMessage()


def test_a_failure_is_answered_in_the_envelope_with_an_incident(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr("portus.registry_endpoints.views.handle_token_request", broken)
    reference, short = both(environ(query("repository:acme/app:pull")))
    assert short.status.startswith("500")
    incidents = [answer.json()["errors"][0]["detail"]["incident"] for answer in (reference, short)]
    assert incidents[0] != incidents[1]
    assert all(incident in caplog.text for incident in incidents)
    assert short.headers == reference.headers  # the same length too: only the incident differs


def test_every_answer_reads_the_user_afresh(world: World) -> None:
    """No state kept between requests beyond the headers: a disabled user is refused at once."""
    from portus.accounts.actions import set_enabled

    env = environ(query("repository:acme/app:pull"), basic("owner", PASSWORD))
    assert call(application, env).status.startswith("200")
    set_enabled(user=world.owner, enabled=False, actor=world.admin)
    assert call(application, env).status.startswith("401")
    assert token_service.MAX_QUERY_STRING == 8192  # the limit the "query too long" case crosses
