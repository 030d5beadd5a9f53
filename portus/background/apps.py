"""The background app: subscribes the worker's wake-up to the registry events the intake stores and the
webhook deliveries the actions queue."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import transaction

from portus.background.wakeup import notify_in_transaction, wake_local_workers
from portus.registry.signals import registry_events_stored
from portus.webhooks.signals import deliveries_queued


def wake_workers(**_: Any) -> None:
    """Inside the transaction that stored the events: NOTIFY now (PostgreSQL delivers it at commit),
    the local datagrams once the commit is done, so no worker looks before the rows are there."""
    notify_in_transaction()
    transaction.on_commit(wake_local_workers)


class BackgroundConfig(AppConfig):
    name = "portus.background"
    label = "background"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        registry_events_stored.connect(wake_workers, dispatch_uid="portus.background.wake_workers")
        deliveries_queued.connect(wake_workers, dispatch_uid="portus.background.wake_workers_for_webhooks")
