"""The registry-facing HTTP endpoints: the token service (and, in webhooks.py, notifications)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from portus.registry.token_service import TokenRequestError, handle_token_request


def token_error(exc: TokenRequestError) -> JsonResponse:
    body = {"message": exc.message, "errors": [{"code": exc.code, "message": exc.message}]}
    response = JsonResponse(body, status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="Portus"'
    return response


@csrf_exempt
@require_GET
def token(request: HttpRequest) -> JsonResponse:
    """GET /v2/token, as Distribution's token authentication specification defines it."""
    try:
        body = handle_token_request(
            service=request.GET.get("service"),
            scope_values=request.GET.getlist("scope"),
            account=request.GET.get("account"),
            authorization=request.META.get("HTTP_AUTHORIZATION"),
            query_string_length=len(request.META.get("QUERY_STRING", "")),
        )
    except TokenRequestError as exc:
        return token_error(exc)
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response
