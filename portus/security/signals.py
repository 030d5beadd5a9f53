"""Signals the security app sends to the parts that listen (they subscribe in their AppConfig.ready)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that stored a scan's result (kwargs: scan, the finished Scan), so a
# receiver's writes (outgoing webhooks) commit with it.
scan_finished = Signal()
