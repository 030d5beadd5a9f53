"""Routes for the registry's notifications."""

from __future__ import annotations

from django.urls import path

from portus.registry import webhooks

urlpatterns = [
    path("events", webhooks.events, name="registry-events"),
]
