"""A bare Django JSON view: the floor under the token benchmark.

No applications, no middleware, no database, no templates: one URL, ``/bare``, answering
``{"ok": true}``. bench/token_throughput.py serves it with the same gunicorn command line as Portus
(``gunicorn bench.bare_django:application`` in place of ``portus.wsgi:application``) and prints
every Portus case as a ratio to it. Not part of Portus; nothing imports it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("bare", bare)]

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-bare-django-view",  # noqa: S106 - signs nothing; no sessions, no forms
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
    TEMPLATES=[],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
)

application = get_wsgi_application()
