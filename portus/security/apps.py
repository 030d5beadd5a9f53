"""The security app: queues a scan of every pushed digest (subscribed to the registry's push signal)."""

from __future__ import annotations

from django.apps import AppConfig

from portus.registry.signals import manifest_pushed


class SecurityConfig(AppConfig):
    name = "portus.security"
    label = "security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's documented place: the flow's modules load models, which exist only once apps are ready.
        from portus.security.scans import queue_scans

        manifest_pushed.connect(queue_scans, dispatch_uid="portus.security.queue_scans")
