"""The background app."""

from __future__ import annotations

from django.apps import AppConfig


class BackgroundConfig(AppConfig):
    name = "portus.background"
    label = "background"
    default_auto_field = "django.db.models.BigAutoField"
