"""``portusctl``: server, worker, migrations, admin tasks and the API client in one command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int | None]


class CommandError(Exception):
    """A readable, one-line failure; portusctl prints it and exits 1."""


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portus.settings")
    import django
    from django.apps import apps

    from portus.config import prepare_data_dir

    # Once per process: setting up again would rebuild the log handlers around whatever
    # sys.stderr is at that moment (under pytest's capture, a stream that is later closed).
    if not apps.ready:
        prepare_data_dir()  # the settings only read the data directory; it is made here
        django.setup()


def build_parser() -> argparse.ArgumentParser:
    from portus.cli import admin, server

    parser = argparse.ArgumentParser(prog="portusctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    server.register(sub)
    admin.register(sub)
    for optional in ("portus.cli.background", "portus.cli.client", "portus.cli.security"):
        try:
            module = __import__(optional, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != optional:
                raise
            continue
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
