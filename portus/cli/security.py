"""``portusctl vulndb import PATH``: load OSV advisories for the built-in scanner."""

from __future__ import annotations

import argparse
from typing import Any

from portus.cli.command import CommandError, setup_django


def vulndb_import(args: argparse.Namespace) -> int:
    setup_django()
    from portus.security.advisories import AdvisoryImportError, import_advisories

    try:
        result = import_advisories(args.path)
    except AdvisoryImportError as exc:
        raise CommandError(str(exc)) from exc
    print(result.summary())
    for error in result.errors:
        print(f"  {error}")
    if result.database is not None:
        updated = result.database.updated_at.isoformat() if result.database.updated_at else "never"
        print(f"advisory database: {result.database.advisories} advisories, updated at {updated}")
    return 0


def register(sub: Any) -> None:
    vulndb = sub.add_parser("vulndb", help="the built-in scanner's advisory database")
    actions = vulndb.add_subparsers(dest="vulndb_command", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import",
        help="import OSV advisories from a .json file, a folder, an OSV .zip export or an http(s) URL",
    )
    load.add_argument("path", help="file, folder, .zip (e.g. OSV's Debian/all.zip) or URL")
    load.set_defaults(handler=vulndb_import)
