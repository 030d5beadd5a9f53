"""Every API failure as JSON ``{"message": ...}`` with the status that says what went wrong."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import codes_4xx

from portus.errors import ActionError
from portus.registry.names import InvalidName

if TYPE_CHECKING:
    from ninja import NinjaAPI

log = logging.getLogger(__name__)


class Error(Schema):
    message: str


# What any endpoint may answer besides success: every 4xx (django-ninja's set lacks 422, which
# validation errors use).
ERRORS = frozenset(codes_4xx | {422})


SIGN_IN = "Sign in: send 'Authorization: Bearer APPLICATION_TOKEN' or 'Portus-Auth: USER:TOKEN'."


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
        if message == "Unauthorized":  # django-ninja's own word when no credentials were sent
            message = SIGN_IN
        response = reply(request, exc.status_code, message)
        if exc.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="Portus API"'
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

    @api.exception_handler(Exception)
    def crashed(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("API error on %s %s", request.method, request.path)
        return reply(request, 500, "Portus failed to answer this request; the error is in its log.")
