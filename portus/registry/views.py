"""The registry-facing HTTP endpoints: the token service (and, in webhooks.py, notifications)."""

from __future__ import annotations

from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from portus.registry.token_service import MAX_QUERY_STRING, TokenRequestError, handle_token_request


def token_error(exc: TokenRequestError) -> JsonResponse:
    body = {"message": exc.message, "errors": [{"code": exc.code, "message": exc.message}]}
    response = JsonResponse(body, status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="Portus"'
    return response


@csrf_exempt
def token(request: HttpRequest) -> JsonResponse:
    """GET /v2/token, as Distribution's token authentication specification defines it."""
    if request.method != "GET":
        response = token_error(
            TokenRequestError(405, "UNSUPPORTED", "the token service answers GET only.")
        )
        response["Allow"] = "GET"
        return response
    # Measured before request.GET parses it: Django would answer a flood of parameters with an
    # HTML page (TooManyFieldsSent), and registry clients expect JSON errors.
    query_string_length = len(request.META.get("QUERY_STRING", ""))
    if query_string_length > MAX_QUERY_STRING:
        return token_error(
            TokenRequestError(
                400, "BAD_REQUEST", f"the query string is longer than {MAX_QUERY_STRING} bytes."
            )
        )
    try:
        body = handle_token_request(
            service=request.GET.get("service"),
            scope_values=request.GET.getlist("scope"),
            account=request.GET.get("account"),
            authorization=request.META.get("HTTP_AUTHORIZATION"),
            query_string_length=query_string_length,
        )
    except TooManyFieldsSent:
        return token_error(TokenRequestError(400, "BAD_REQUEST", "too many query parameters."))
    except TokenRequestError as exc:
        return token_error(exc)
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response
