"""Signals the webhooks app sends to the parts above it (the worker's wake-up subscribes in its AppConfig.ready)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that queued deliveries (kwargs: count), so whoever sends them is woken
# once it commits.
deliveries_queued = Signal()
