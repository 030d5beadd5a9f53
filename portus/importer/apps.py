"""The importer app: moving an original Portus (2.3 to 2.5) database into this one."""

from __future__ import annotations

from django.apps import AppConfig


class ImporterConfig(AppConfig):
    name = "portus.importer"
    label = "importer"
    default_auto_field = "django.db.models.BigAutoField"
