"""Settings for the test suite: the real settings, in test mode, with a throw-away data directory."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PORTUS_ENV", "test")
os.environ.setdefault("PORTUS_DATA_DIR", tempfile.mkdtemp(prefix="portus-test-"))

from portus.settings import *  # noqa: E402,F403
