"""What every portusctl subcommand shares: the one-line failure and setting Django up before the models load."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

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
