"""Serves the registry's token endpoint ahead of the middleware that only pages need."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portus.registry_endpoints import views

TOKEN_PATH = "/v2/token"


Handler = Callable[[HttpRequest], HttpResponse]


def token_endpoint_first(get_response: Handler) -> Handler:
    """Answer GET /v2/token here, before sessions, CSRF, authentication and messages.

    Registry clients send Basic credentials with every request and never a cookie, so that
    middleware would only cost time on the busiest endpoint. Listed after SecurityMiddleware and
    CommonMiddleware, so the host check and the security headers still apply."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path_info == TOKEN_PATH:
            return views.token(request)
        return get_response(request)

    return middleware
