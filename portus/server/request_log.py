"""One log line and the request metrics for every answer: method, path without its query, route, status, latency."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from portus import metrics
from portus.server.endpoints import PROBE_PATHS, SERVER_ROUTES
from portus.server.logs import REDACTED

log = logging.getLogger("portus.request")

Handler = Callable[[HttpRequest], HttpResponseBase]

# Answered by a middleware, so no URL pattern names them.
MIDDLEWARE_ROUTES = {"/v2/token": "v2/token", **SERVER_ROUTES}
# URL parameters that are credentials (a password-reset link's token): logged as [redacted].
SECRET_PARAMETERS = ("token", "uidb64")


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (``api/v1/repositories/<int:repository_id>``): few values, unlike paths."""
    match = request.resolver_match
    if match is not None and match.route:
        return match.route
    if request.path_info in MIDDLEWARE_ROUTES:
        return MIDDLEWARE_ROUTES[request.path_info]
    if request.path_info.startswith(settings.STATIC_URL):
        return "static"
    return "(unmatched)"


def loggable_path(request: HttpRequest) -> str:
    """The path, never the query string (where clients put passwords and tokens), secret parameters hidden."""
    path = request.path
    match = request.resolver_match
    if match is not None:
        for name in SECRET_PARAMETERS:
            value = match.kwargs.get(name)
            if isinstance(value, str) and value:
                path = path.replace(value, REDACTED)
    return path[:500]


def record_answer(
    method: str, path: str, route: str, status: int, seconds: float, client: object, *, logged: bool = True
) -> None:
    """The request metrics and, if LOGGED, the log line of one answer (PATH already loggable: see loggable_path)."""
    metrics.child(metrics.HTTP_REQUESTS, route, method, str(status)).inc()
    metrics.child(metrics.HTTP_SECONDS, route).observe(seconds)
    if not logged or not log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 1)
    log.info(
        "%s %s %d %.1f ms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client": str(client or "")[:64],
        },
    )


def log_requests(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = get_response(request)
        seconds = time.perf_counter() - started
        status = response.status_code
        record_answer(
            request.method or "",
            loggable_path(request),
            route_of(request),
            status,
            seconds,
            request.META.get("REMOTE_ADDR"),
            # A probe every few seconds would drown the log; a failing one is logged.
            logged=not (request.path_info in PROBE_PATHS and status == 200),
        )
        return response

    return middleware
