"""The registry app: registries, namespaces, teams, repositories, tags and the registry's endpoints."""

from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "portus.registry"
    label = "registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portus.registry import checks  # noqa: F401  (registers the system checks)
