"""The worker's bookkeeping: one status row per task."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TaskName(models.TextChoices):
    REGISTRY_EVENTS = "registry-events", "Registry events"
    REGISTRY_SYNC = "registry-sync", "Registry synchronization"
    SECURITY_SCANNING = "security-scanning", "Security scanning"


class TaskStatus(models.Model):
    """What pages and the API show about a task; its lease makes sync run once at a time."""

    name = models.CharField(max_length=32, choices=TaskName.choices, unique=True)
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Items waiting: pending events, or repositories left to read in a running sync.
    backlog = models.PositiveIntegerField(default=0)
    # A one-line summary of the last run ("added 3 tags, deleted 1 repository").
    summary = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Held by the worker running the task now (sync); others leave it alone until the lease ends.
    claim = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "task statuses"

    def __str__(self) -> str:
        return self.name
