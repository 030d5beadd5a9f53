"""Distribution's JSON error envelope for the registry's endpoints, also when Portus itself fails.

The registry and the Docker clients read ``{"errors": [{"code", "message", "detail"}]}``; the pages'
HTML error would reach them as an unreadable body, whatever DEBUG says.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

View = Callable[[HttpRequest], HttpResponse]


def internal_error(request: HttpRequest) -> JsonResponse:
    """Log the exception being handled with its traceback, and answer 500 in the envelope; the
    incident number in both lets an administrator find the traceback behind a client's error."""
    return JsonResponse(internal_error_body(request.method or "", request.path), status=500)


def internal_error_body(method: str, path: str) -> dict[str, object]:
    """internal_error's logging and its answer's body, for any way of answering."""
    incident = secrets.token_hex(6)
    log.exception("%s %s failed (incident %s)", method, path, incident)
    message = f"Portus failed to answer this request (incident {incident}); its log has the details."
    return {"errors": [{"code": "UNKNOWN", "message": message, "detail": {"incident": incident}}]}


def json_errors(view: View) -> View:
    """Answer an uncaught exception of VIEW in Distribution's envelope instead of Django's HTML 500."""

    @functools.wraps(view)
    def guarded(request: HttpRequest) -> HttpResponse:
        try:
            return view(request)
        except Exception:  # noqa: BLE001 - logged with its traceback by internal_error
            return internal_error(request)

    return guarded
