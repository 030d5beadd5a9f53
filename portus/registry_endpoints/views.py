"""GET /v2/token and POST /v2/webhooks/events: HTTP in and out; the work is in token_service and
notifications. Both answer in Distribution's JSON error envelope, an unexpected failure included."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from portus import metrics
from portus.accounts.throttle import client_address
from portus.registry.models import Registry
from portus.registry_endpoints.errors import json_errors
from portus.registry_endpoints.notifications import (
    EnvelopeError,
    authenticated_registry,
    parse_envelope,
    store,
    unsigned_registry,
)
from portus.registry_endpoints.token_service import MAX_QUERY_STRING, TokenRequestError, handle_token_request

log = logging.getLogger(__name__)


def query_parameters(query_string: str) -> dict[str, list[str]]:
    """What request.GET holds for QUERY_STRING (a WSGI string: bytes as Latin-1), read the same way
    (UTF-8, else Latin-1; blank values kept; undecodable escapes replaced; at most
    DATA_UPLOAD_MAX_NUMBER_FIELDS fields, else TooManyFieldsSent) without building a QueryDict,
    which costs as much again on every token request."""
    raw = query_string.encode("iso-8859-1")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, errors="replace", max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        )
    except ValueError:
        raise TooManyFieldsSent("too many query parameters") from None
    found: dict[str, list[str]] = {}
    for key, value in pairs:
        found.setdefault(key, []).append(value)
    return found


@dataclass
class TokenAnswer:
    """What GET /v2/token answers, before it is an HTTP response: the Django view and the WSGI-level
    path (portus/server/token_first.py) both send exactly this."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # why it was refused, for the metrics; "" for a token issued


def token_error(exc: TokenRequestError) -> TokenAnswer:
    """The refusal's answer, with its reason for the metrics."""
    body = {"message": exc.message, "errors": [{"code": exc.code, "message": exc.message}]}
    answer = TokenAnswer(exc.status, body, reason=exc.reason)
    if exc.status == 401:
        answer.headers["WWW-Authenticate"] = 'Basic realm="Portus"'
    if exc.retry_after is not None:
        answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


def answer_token_request(method: str, meta: Mapping[str, Any], address: str) -> TokenAnswer:
    """GET /v2/token, as Distribution's token authentication specification defines it, for a request
    whose WSGI environ (request.META) is META, from the client ADDRESS."""
    if method != "GET":
        answer = token_error(TokenRequestError(405, "UNSUPPORTED", "the token service answers GET only."))
        answer.headers["Allow"] = "GET"
        return answer
    # Measured before the query string is parsed: Django would answer a flood of parameters with an
    # HTML page (TooManyFieldsSent), and registry clients expect JSON errors.
    query_string = meta.get("QUERY_STRING", "")
    query_string_length = len(query_string)
    if query_string_length > MAX_QUERY_STRING:
        return token_error(
            TokenRequestError(400, "BAD_REQUEST", f"the query string is longer than {MAX_QUERY_STRING} bytes.")
        )
    try:
        query = query_parameters(query_string)
        body = handle_token_request(
            service=query.get("service", [None])[-1],
            scope_values=query.get("scope", []),
            account=query.get("account", [None])[-1],
            authorization=meta.get("HTTP_AUTHORIZATION"),
            query_string_length=query_string_length,
            address=address,
        )
    except TooManyFieldsSent:
        return token_error(TokenRequestError(400, "BAD_REQUEST", "too many query parameters."))
    except TokenRequestError as exc:
        return token_error(exc)
    return TokenAnswer(200, body, {"Cache-Control": "no-store"})


def count_token_answer(outcome: str, reason: str, seconds: float | None) -> None:
    """The token metrics: issued or refused (by reason), and how long the answer took."""
    metrics.child(metrics.TOKENS, outcome, reason).inc()
    if seconds is not None:
        metrics.child(metrics.TOKEN_SECONDS, outcome).observe(seconds)


@csrf_exempt
@json_errors
def token(request: HttpRequest) -> JsonResponse:
    """GET /v2/token, counted: issued or refused (by reason), and how long the answer took."""
    started = time.perf_counter()
    try:
        answer = answer_token_request(request.method or "", request.META, client_address(request))
    except Exception:
        count_token_answer("refused", "error", None)
        raise
    count_token_answer("refused" if answer.reason else "issued", answer.reason, time.perf_counter() - started)
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


def notification_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"errors": [{"message": message}]}, status=status)


@csrf_exempt
@json_errors
def events(request: HttpRequest) -> JsonResponse:
    """Store the registry's manifest events (idempotently, by event id); the worker applies them."""
    if request.method != "POST":
        response = notification_error(405, "POST the registry's notification envelope here.")
        response["Allow"] = "POST"
        return response
    authorization = request.META.get("HTTP_AUTHORIZATION")
    registry = authenticated_registry(authorization)
    # No header at all is the original Portus's registry configuration: accepted during the grace
    # period after an import (unsigned_registry); a wrong secret never is.
    grace = (
        registry is None and not authorization and Registry.objects.filter(legacy_unsigned_notifications=True).exists()
    )
    if registry is None and not grace:
        log.warning("refused a notification from %s: missing or wrong secret", request.META.get("REMOTE_ADDR"))
        return notification_error(
            401,
            "missing or wrong notification secret: regenerate the registry's config with "
            "`portusctl registry config` so its Authorization header matches.",
        )
    limit = settings.PORTUS.webhooks.max_body_bytes
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return notification_error(400, "the Content-Length header is not a number.")
    if declared > limit:
        return notification_error(413, f"the body is larger than webhooks.max_body_bytes ({limit} bytes).")
    body = request.read(limit + 1)
    if len(body) > limit:
        return notification_error(413, f"the body is larger than webhooks.max_body_bytes ({limit} bytes).")
    if registry is None:
        registry = unsigned_registry(body)
        if registry is None:
            return notification_error(
                401, "a notification without a secret names no registry in its grace period: add the secret."
            )
    try:
        stored, ignored = parse_envelope(body, registry)
    except EnvelopeError as exc:
        log.warning("refused a notification from registry %s: %s", registry.hostname, exc)
        return notification_error(400, f"invalid notification: {exc}")
    store(stored, registry)
    for event in stored:
        metrics.EVENTS_RECEIVED.labels(event.action).inc()
    return JsonResponse({"stored": len(stored), "ignored": ignored})
