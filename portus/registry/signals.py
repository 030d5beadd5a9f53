"""Signals the registry domain sends to the parts above it, which subscribe in their AppConfig.ready."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that stored registry events (kwargs: registry, count), so a receiver can
# write in the same transaction what must be committed with the events (PostgreSQL NOTIFY), and defer
# the rest with transaction.on_commit.
registry_events_stored = Signal()

# Sent inside the transaction that applied a push (kwargs: registry, repository (full name), digest), so
# the security app can queue the digest's scans, committed (or rolled back) with the tag.
manifest_pushed = Signal()

# Sent inside the transaction that applied a push or a deletion event (kwargs: event (the RegistryEvent),
# namespace), only when the event was applied (state done), so outgoing webhooks are queued with it.
registry_event_applied = Signal()
