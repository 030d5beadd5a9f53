"""Friendly 403, 404 and 500 pages (wired as handler403/404/500 in portus/urls.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader


def _reason(exception: Exception | None) -> str:
    # Our views raise with a sentence meant for people; Django's own (CSRF, resolver) are not.
    message = str(exception.args[0]) if exception is not None and exception.args else ""
    return message if isinstance(message, str) and message.endswith(".") and len(message) < 500 else ""


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/errors/403.html", {"reason": _reason(exception)}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/errors/404.html", {}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors or database: whatever broke may be what they need.
    return HttpResponse(loader.get_template("web/errors/500.html").render(), status=500)
