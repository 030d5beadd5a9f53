"""What every portusctl subcommand shares: the one-line failure and setting Django up before the models load."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path

from portus.config import prepare_data_dir

Handler = Callable[[argparse.Namespace], int | None]


class CommandError(Exception):
    """A readable, one-line failure; portusctl prints it and exits 1."""


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portus.settings")
    import django
    from django.apps import apps

    # Once per process: setting up again would rebuild the log handlers around whatever
    # sys.stderr is at that moment (under pytest's capture, a stream that is later closed).
    if not apps.ready:
        prepare_data_dir()  # the settings only read the data directory; it is made here
        django.setup()
        warn_original_settings()


def warn_original_settings() -> None:
    """Name, at start, the original Portus's settings that were read and are not supported here."""
    from django.conf import settings

    left_out = settings.PORTUS.unsupported_original_settings
    if left_out:
        sys.stderr.write(
            "portusctl: warning: settings of the original Portus that this Portus does not support were left out: "
            f"{', '.join(left_out)} (docs/migration.md).\n"
        )


def write_private_file(path: Path, text: str) -> None:
    """Write TEXT to PATH readable by this user only (0600), also when PATH already exists with a looser mode."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)


def read_password(args: argparse.Namespace) -> str | None:
    """The password from --password-file, --password-stdin or (visible to other local users) --password."""
    if getattr(args, "password_file", None):
        try:
            return Path(args.password_file).read_text().partition("\n")[0]
        except OSError as exc:
            raise CommandError(f"--password-file {args.password_file}: cannot read it ({exc.strerror}).") from None
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    return args.password


def add_password_arguments(parser: argparse.ArgumentParser) -> None:
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--password", help="the password (visible to other local users; prefer the next two)")
    given.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    given.add_argument("--password-file", help="read the password from this file (its first line)")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
