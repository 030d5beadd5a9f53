"""The webhooks app: queues deliveries when an event is applied and when a scan finishes."""

from __future__ import annotations

from django.apps import AppConfig

from portus.registry.signals import registry_event_applied
from portus.security.signals import scan_finished


class WebhooksConfig(AppConfig):
    name = "portus.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's documented place: the queueing module loads models, which exist only once apps are ready.
        from portus.webhooks.actions import queue_for_registry_event, queue_for_scan

        registry_event_applied.connect(queue_for_registry_event, dispatch_uid="portus.webhooks.registry_event")
        scan_finished.connect(queue_for_scan, dispatch_uid="portus.webhooks.scan")
