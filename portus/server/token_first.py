"""GET /v2/token answered at the WSGI level, ahead of Django's request handling.

Every ``docker pull`` and ``docker push`` asks for a token first, often several times. Through
Django's handler a token request also paid for the handler itself, five middleware, the view's
request and response objects and their conversion back to WSGI: about as much CPU again as the
token work (docs/performance.md). This path does for ``GET /v2/token`` what that route does, and
nothing else:

- the same answer: ``views.answer_token_request``, with the same metrics (``count_token_answer``);
- the same host check (``request.get_host()``), the same security headers (asked of
  SecurityHeadersMiddleware and Django's SecurityMiddleware themselves, once per process and
  setting: see ``security_headers``), the same log line and request metrics (``record_answer``);
- the same database connection handling: ``request_started`` and ``request_finished`` are sent as
  Django's handler sends them (closing connections past CONN_MAX_AGE or broken).

Whatever else reaches /v2/token goes the usual way, through Django: another method, a Host not in
ALLOWED_HOSTS (Django answers 400 in JSON), a plain-HTTP request that SECURE_SSL_REDIRECT sends to
HTTPS. tests/test_server_token_first.py checks that both ways answer alike.
"""

from __future__ import annotations

import functools
import io
import json
import time
from collections.abc import Callable, Iterable
from http.client import responses
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware

from portus.accounts.throttle import address_of
from portus.registry_endpoints.errors import internal_error_body
from portus.registry_endpoints.views import TokenAnswer, answer_token_request, count_token_answer
from portus.server.request_log import record_answer
from portus.web.security_headers import SecurityHeadersMiddleware

TOKEN_PATH = "/v2/token"
ROUTE = "v2/token"

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def token_first(django: WSGIApplication) -> WSGIApplication:
    """DJANGO (Django's WSGI handler), with GET /v2/token answered before it."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == TOKEN_PATH and environ.get("REQUEST_METHOD") == "GET":
            answered = answer(environ, start_response)
            if answered is not None:
                return answered
        return django(environ, start_response)

    return application


def answer(environ: dict[str, Any], start_response: StartResponse) -> list[bytes] | None:
    """The token request ENVIRON answered; None for one that Django should answer (see the module)."""
    request = WSGIRequest(environ)  # Django's own reading of the host, the scheme and the path
    try:
        request.get_host()
    except DisallowedHost:
        return None
    secure = request.is_secure()
    if settings.SECURE_SSL_REDIRECT and not secure:
        return None
    started = time.perf_counter()
    signals.request_started.send(sender=WSGIHandler, environ=environ)
    try:
        try:
            token = answer_token_request("GET", environ, address_of(environ.get("REMOTE_ADDR")))
        except Exception:  # noqa: BLE001 - logged with its traceback by internal_error_body
            count_token_answer("refused", "error", None)
            token = TokenAnswer(500, internal_error_body("GET", request.path))
        else:
            outcome = "refused" if token.reason else "issued"
            count_token_answer(outcome, token.reason, time.perf_counter() - started)
        body = json.dumps(token.body).encode()
        headers = {"Content-Type": "application/json", **token.headers}
        for name, value in security_headers(secure):
            headers.setdefault(name, value)
        headers["Content-Length"] = str(len(body))
        start_response(f"{token.status} {responses.get(token.status, 'Unknown Status Code')}", list(headers.items()))
        record_answer(
            "GET",
            request.path[:500],
            ROUTE,
            token.status,
            time.perf_counter() - started,
            environ.get("REMOTE_ADDR"),
        )
        return [body]
    finally:
        signals.request_finished.send(sender=WSGIHandler)


@functools.cache
def security_headers(secure: bool) -> tuple[tuple[str, str], ...]:
    """The headers SecurityHeadersMiddleware and SecurityMiddleware give a token answer, over HTTPS
    or not: asked of them once per process, with a response of the token's kind (JSON, status 200).
    Neither looks at the answer's body or status for /v2/token; both only add headers missing."""
    request = WSGIRequest(
        {"REQUEST_METHOD": "GET", "PATH_INFO": TOKEN_PATH, "SERVER_NAME": "localhost", "wsgi.input": io.BytesIO()}
    )
    request.is_secure = lambda: secure  # type: ignore[method-assign]
    response = HttpResponse(content_type="application/json")
    response = SecurityHeadersMiddleware(lambda _: response)(request)
    response = SecurityMiddleware(lambda _: response).process_response(request, response)
    return tuple((name, value) for name, value in response.items() if name.lower() != "content-type")


def forget_security_headers(**_: Any) -> None:
    security_headers.cache_clear()


signals.setting_changed.connect(forget_security_headers)
