"""The registry app: registries, namespaces, teams, repositories, tags, activity, registry events and sync."""

from __future__ import annotations

from django.apps import AppConfig

from portus.registry import checks  # noqa: F401  (importing it registers the system checks)


class RegistryConfig(AppConfig):
    name = "portus.registry"
    label = "registry"
    default_auto_field = "django.db.models.BigAutoField"
