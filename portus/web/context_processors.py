"""What every page's template may read: the typed Portus settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portus_settings(request: HttpRequest) -> dict[str, Any]:
    """``{{ portus.signup.enabled }}`` in a template reads the same typed attribute as Python code."""
    # portus_url: the configured address, for links and commands shown on pages (never the request's Host).
    return {"portus": settings.PORTUS, "portus_url": settings.PORTUS_URL}
