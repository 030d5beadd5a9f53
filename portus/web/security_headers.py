"""Headers every answer carries (Content-Security-Policy, no caching of private pages), and JSON, never an
HTML page, for whatever fails under /api/ and /v2/."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from portus.accounts.providers import authorize_origins

GRAVATAR = "https://www.gravatar.com"
API_PREFIX = "/api/"
REGISTRY_PREFIX = "/v2/"
API_DOCS = "/api/docs"


@lru_cache(maxsize=32)  # a few possible answers, set on every response: built once
def content_security_policy(*, gravatar: bool, inline_styles: bool = False, form_targets: tuple[str, ...] = ()) -> str:
    """Our own scripts, styles and images only: no inline script, no other site (Gravatar when it is on).
    FORM_TARGETS: the sign-in providers a button's form is redirected to (browsers hold redirects to it too)."""
    images = "'self' data:" + (f" {GRAVATAR}" if gravatar else "")
    styles = "'self'" + (" 'unsafe-inline'" if inline_styles else "")
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {styles}",
            f"img-src {images}",
            "object-src 'none'",
            "base-uri 'none'",
            " ".join(("form-action 'self'", *form_targets)),
            "frame-ancestors 'none'",
        )
    )


def _error_body(path: str, status: int) -> dict[str, object]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if path.startswith(REGISTRY_PREFIX):
        message = f"{phrase}: the registry endpoints are /v2/token and /v2/webhooks/events."
        return {"errors": [{"code": "UNKNOWN" if status >= 500 else "DENIED", "message": message}]}
    if status == 404:
        return {"message": "No API operation answers this path; see /api/docs."}
    if status >= 500:
        return {"message": "Portus failed to answer this request; the error is in its log."}
    return {"message": f"{phrase}."}


def _answers_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.startswith("application/") and "json" in content_type


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        path = request.path
        machine = path.startswith((API_PREFIX, REGISTRY_PREFIX))
        if machine and response.status_code >= 400 and not _answers_json(response):
            # Django's own refusals (unknown path, bad Host, CSRF, a debug page) are HTML; clients read JSON.
            replacement = JsonResponse(_error_body(path, response.status_code), status=response.status_code)
            for name, value in response.items():  # Allow, WWW-Authenticate, the security headers
                if name.lower() not in ("content-type", "content-length"):
                    replacement[name] = value
            replacement.cookies = response.cookies
            response = replacement
        response.setdefault(
            "Content-Security-Policy",
            content_security_policy(
                gravatar=settings.PORTUS.gravatar.enabled,
                # Swagger UI (django-ninja's API docs page) styles its elements inline.
                inline_styles=path.startswith(API_DOCS),
                form_targets=tuple(authorize_origins(settings.PORTUS.oauth)),
            ),
        )
        if not path.startswith(settings.STATIC_URL):
            # Pages and answers are per user (a new token's secret among them): no cache may keep them.
            response.setdefault("Cache-Control", "no-store")
        return response
