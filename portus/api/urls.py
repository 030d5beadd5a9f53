"""Routes for the REST API (filled by the API work)."""

from __future__ import annotations

urlpatterns: list[object] = []
