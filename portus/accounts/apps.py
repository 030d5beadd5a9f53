"""The accounts app: users, application tokens, sign-in backends."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portus.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
