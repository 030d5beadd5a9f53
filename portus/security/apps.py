"""The security app."""

from __future__ import annotations

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "portus.security"
    label = "security"
    default_auto_field = "django.db.models.BigAutoField"
