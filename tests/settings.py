"""Settings for the test suite: the real settings, in test mode, with a throw-away data directory."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PORTUS_ENV", "test")
os.environ.setdefault("PORTUS_DATA_DIR", tempfile.mkdtemp(prefix="portus-test-"))

from portus.config import prepare_data_dir  # noqa: E402

# As portusctl does before Django reads the settings: the suite and the workers it starts share one secret.
prepare_data_dir()

from portus.settings import *  # noqa: E402,F403
