"""Errors every layer shares: raised by the domain actions, shown by the pages, the API and the CLI."""

from __future__ import annotations


class ActionError(Exception):
    """A change that cannot be made as asked; the message says why and what to do instead."""
