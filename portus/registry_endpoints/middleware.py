"""Serves the registry's endpoints ahead of the middleware that only pages need."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portus.registry_endpoints import views

Handler = Callable[[HttpRequest], HttpResponse]

# Exact paths only: a registry client never adds a slash, and anything else goes the usual way.
REGISTRY_ENDPOINTS: dict[str, Handler] = {
    "/v2/token": views.token,
    "/v2/webhooks/events": views.events,
}


def registry_endpoints_first(get_response: Handler) -> Handler:
    """Answer /v2/token and /v2/webhooks/events here, before static files, sessions, CSRF,
    authentication and messages.

    Registry clients and the registry send credentials with every request and never a cookie, so
    that middleware would only cost time on the busiest endpoints (bench/token_profile.py measured
    about 100 µs of a token request's CPU time in it). Listed right after SecurityHeadersMiddleware
    and SecurityMiddleware, so the security headers and the HTTPS redirect still apply; the Host
    check that CommonMiddleware would make is made here.

    Served by gunicorn, a GET /v2/token with an allowed Host does not even come this far: the WSGI
    entry point answers it before Django's handler (portus/server/token_first.py), the same way."""

    def middleware(request: HttpRequest) -> HttpResponse:
        endpoint = REGISTRY_ENDPOINTS.get(request.path_info)
        if endpoint is None:
            return get_response(request)
        request.get_host()  # raises DisallowedHost (answered 400) for a host not in ALLOWED_HOSTS
        response = endpoint(request)
        # What CommonMiddleware does for every other answer. Without a Content-Length gunicorn frames the
        # body as chunks and sends the closing chunk on its own: one more send per token (docs/performance.md).
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response

    return middleware
