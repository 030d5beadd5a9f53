"""Everything a worker would otherwise build on its first request, done before it accepts one.

Without it the first request to each new gunicorn worker paid for importing every view and API router
(the URL map, about 1.5 s here), compiling templates and loading the signing key: seconds after every
start and every worker recycle. gunicorn calls ``warm_up`` from its post_worker_init hook (after the fork,
so the database connection opened here belongs to the worker)."""

from __future__ import annotations

import logging
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.template import engines
from django.template.backends.django import DjangoTemplates
from django.urls import get_resolver, reverse
from django.utils.module_loading import import_string

from portus.server import readiness

log = logging.getLogger(__name__)

# Paths resolved once, so that each include()'s patterns are walked as a request would walk them.
SAMPLE_PATHS = ("/api/v1/_ping", "/v2/token", "/login/", "/")


def load_url_map() -> None:
    import_module(settings.ROOT_URLCONF)
    resolver = get_resolver()
    reverse("ping")  # fills the resolver's reverse map, which the pages' links need
    for path in SAMPLE_PATHS:
        resolver.resolve(path)


def compile_templates() -> int:
    """Compile every template of every app into the cached loader; returns how many."""
    compiled = 0
    for engine in engines.all():
        if not isinstance(engine, DjangoTemplates):
            continue
        # Both are built on first use; the first page rendered would otherwise import every context processor.
        _ = engine.engine.template_context_processors
        for directory in engine.template_dirs:
            root = Path(directory)
            for template in sorted(root.rglob("*.html")):
                engine.get_template(template.relative_to(root).as_posix())
                compiled += 1
    return compiled


def load_request_machinery() -> None:
    """What sessions and messages import on the first request that touches them."""
    import_module(settings.SESSION_ENGINE)
    import_string(settings.SESSION_SERIALIZER)
    import_string(settings.MESSAGE_STORAGE)
    import_module(connection.ops.compiler_module)  # the first query imports the backend's SQL compiler


def check_readiness() -> None:
    """Opens the database connection (after the fork, so it is the worker's own), reads the applied
    migrations once and loads the signing key: the readiness probe's first answer is then as cheap as the next."""
    failing = [message for ok, message in readiness.checks().values() if not ok]
    if failing:  # the worker starts anyway: the readiness probe keeps it out of rotation and says why
        log.warning("warm-up: not ready yet: %s", " ".join(failing))


def warm_up() -> None:
    load_url_map()
    load_request_machinery()
    compile_templates()
    check_readiness()
