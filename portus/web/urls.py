"""Routes for the pages (filled by the web interface work)."""

from __future__ import annotations

urlpatterns: list[object] = []
