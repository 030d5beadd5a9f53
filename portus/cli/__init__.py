"""``portusctl``: server, worker, migrations, admin tasks and the API client in one command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portus.cli import admin, background, client, importer, security, server
from portus.cli.command import CommandError, Handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portusctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (server, admin, background, client, security, importer):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args) or 0
    except CommandError as exc:
        sys.stderr.write(f"portusctl: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
