"""Routes for the registry's notifications (filled by the events work)."""

from __future__ import annotations

urlpatterns: list[object] = []
