"""WSGI entry point for gunicorn: Django, with the registry's token requests answered first
(portus/server/token_first.py)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portus.settings")
django_application = get_wsgi_application()

from portus.server.token_first import token_first  # noqa: E402 - needs the settings configured above

application = token_first(django_application)
