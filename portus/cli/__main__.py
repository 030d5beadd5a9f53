"""``python -m portus.cli`` runs portusctl."""

from __future__ import annotations

from portus.cli import main

raise SystemExit(main())
