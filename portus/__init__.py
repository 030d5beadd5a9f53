"""Portus: authorization service and web front end for a self-hosted Docker/OCI registry."""

from __future__ import annotations

import sys

MINIMUM_PYTHON = (3, 11)

if sys.version_info < MINIMUM_PYTHON:  # pragma: no cover - exercised only on an old interpreter
    raise SystemExit(
        "Portus needs Python {}.{} or newer; this is {}. Install a newer Python and try again.".format(
            *MINIMUM_PYTHON, sys.version.split()[0]
        )
    )

__version__ = "3.0.0.dev0"
