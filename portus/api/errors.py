"""Every API failure as JSON ``{"message": ...}`` with the status that says what went wrong."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import codes_4xx

from portus.api.auth import SIGN_IN, RateLimited
from portus.errors import ActionError
from portus.registry.names import InvalidName

if TYPE_CHECKING:
    from ninja import NinjaAPI

log = logging.getLogger(__name__)


# What any endpoint may answer besides success: every 4xx (django-ninja's set lacks 422, which
# validation errors use).
ERRORS = frozenset(codes_4xx | {422})


CRASHED = "Portus failed to answer this request; the error is in its log."


class ApiError(HttpError):
    """Raised by endpoints; the handler turns it into its status and message."""


def not_found(what: str) -> ApiError:
    # The same answer for "does not exist" and "you may not see it", so nothing leaks.
    return ApiError(404, f"No {what} with that id or name is visible to you.")


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "payload"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return "Invalid request: " + "; ".join(parts) + "."


def install(api: NinjaAPI) -> None:
    def reply(request: HttpRequest, status: int, message: str, **extra: object) -> HttpResponse:
        return api.create_response(request, {"message": message, **extra}, status=status)

    @api.exception_handler(ValidationError)
    def validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return reply(request, 422, _describe_validation(exc), errors=exc.errors)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = exc.message
        if message == "Unauthorized":  # django-ninja's word when a SIGNED_IN route got no credentials
            message = SIGN_IN
        response = reply(request, exc.status_code, message)
        if exc.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="Portus API"'
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return reply(request, exc.status_code, exc.message)

    @api.exception_handler(ActionError)
    def refused(request: HttpRequest, exc: ActionError) -> HttpResponse:
        return reply(request, 400, str(exc))

    @api.exception_handler(InvalidName)
    def invalid_name(request: HttpRequest, exc: InvalidName) -> HttpResponse:
        return reply(request, 400, str(exc))

    @api.exception_handler(Http404)
    def missing(request: HttpRequest, exc: Http404) -> HttpResponse:
        return reply(request, 404, str(exc) or "Not found.")

    @api.exception_handler(PermissionDenied)
    def denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return reply(request, 403, str(exc) or "You may not do this.")

    @api.exception_handler(SuspiciousOperation)
    def malformed(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        # What Django refuses in the request itself, such as a body beyond DATA_UPLOAD_MAX_MEMORY_SIZE.
        return reply(request, 400, f"Portus refuses this request: {exc}")

    @api.exception_handler(Exception)
    def crashed(request: HttpRequest, exc: Exception) -> HttpResponse:
        # JSON, never the site's HTML error page (nor, with DEBUG on, django-ninja's traceback).
        log.error("API error on %s %s", request.method, request.path, exc_info=exc)
        return reply(request, 500, CRASHED)


def answering_in_json(api: NinjaAPI, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wraps one of API's URL views: an exception that escapes django-ninja's own handling (a view
    decorator, the routing of methods, the documentation views) gets the answer the handlers above
    give inside an operation, rather than Django's HTML error page."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            return api.on_exception(request, exc)

    return guarded
