"""gunicorn's configuration for ``portusctl serve`` (``-c python:portus.server.gunicorn_config``): the hooks.

- post_worker_init: a worker warms up (URL map, templates, database, signing key) before its first accept.
- child_exit: a dead worker's live gauges leave the metrics directory (prometheus-client multiprocess mode).
- on_exit: the server's metrics directory, made by ``portusctl serve`` for this server alone, is removed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from portus.config import load_config
from portus.metrics import METRICS_DIR_MARKER, MULTIPROCESS_VARIABLE
from portus.server.warm_up import warm_up

# Not gunicorn's access log: portus.request logs each request without its query string (docs/deployment.md).
accesslog = None

# gunicorn's own lines (start, workers booting and exiting) in the same format as the application's.
if load_config().log.format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"secrets": {"()": "portus.server.logs.HideSecrets"}},
        "formatters": {"json": {"()": "portus.server.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["secrets"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }


def post_worker_init(worker: Any) -> None:
    started = time.perf_counter()
    warm_up()
    worker.log.info("worker %d ready in %.2f s", os.getpid(), time.perf_counter() - started)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get(MULTIPROCESS_VARIABLE):
        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if directory and (Path(directory) / METRICS_DIR_MARKER).exists():
        shutil.rmtree(directory, ignore_errors=True)
