"""No cold start: gunicorn's post_worker_init hook builds what the first request would otherwise build.

Checked in a fresh interpreter, as a gunicorn worker is one: after the hook, the URL map is resolved, the
API routers imported, the templates compiled and the signing key loaded, and the first requests import
no module of Portus, Django, django-ninja or pydantic any more. No clock is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from portus.cli.server import ServerOptions, gunicorn_command

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, logging, os, sys
from wsgiref.util import setup_testing_defaults

from portus.wsgi import application  # what a gunicorn worker loads before post_worker_init
from django.template import engines
from django.urls import get_resolver
from portus.registry.signing import signing_key
import portus.server.gunicorn_config as config

LAZY = ("portus", "django", "ninja", "pydantic")
state = {"before": {"urls_imported": "portus.urls" in sys.modules, "api_imported": "portus.api.urls" in sys.modules,
                    "resolver_populated": get_resolver()._populated}}

class Worker:  # what the hook reads of gunicorn's worker
    log = logging.getLogger("gunicorn.error")

config.post_worker_init(Worker())
loader = engines["django"].engine.template_loaders[0]
state["after"] = {
    "urls_imported": "portus.urls" in sys.modules,
    "api_imported": "portus.api.urls" in sys.modules,
    "resolver_populated": get_resolver()._populated,
    "templates": sorted(name for name in loader.get_template_cache if name.startswith("web/")),
    "signing_key_loaded": signing_key.cache_info().currsize == 1,
}
state["first_requests"] = {}
for path in ("/api/v1/_ping", "/health/live", "/v2/token", "/login/"):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, HTTP_HOST="127.0.0.1")
    statuses = []
    before = set(sys.modules)
    b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    imported = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in LAZY)
    state["first_requests"][path] = {"status": statuses[0], "imported": imported}
print("STATE " + json.dumps(state))
"""


def run_worker(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_", "PROMETHEUS_"))}
    env.update(
        PORTUS_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="portus.settings", PORTUS_LOG_LEVEL="ERROR"
    )
    (tmp_path / "data").mkdir(mode=0o700)
    # A worker starts on a migrated database (portusctl serve refuses otherwise); migrated in its own
    # process, so that what migrating imports does not hide what the first request would import.
    migrated = subprocess.run(
        [sys.executable, "-m", "portus.cli", "migrate"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stderr
    done = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("STATE "))
    return json.loads(line.removeprefix("STATE "))


def test_the_worker_hook_builds_the_url_map_templates_and_key_before_the_first_request(tmp_path: Path) -> None:
    state = run_worker(tmp_path)
    # Loading the application alone leaves them for the first request: that was the cold start.
    assert state["before"] == {"urls_imported": False, "api_imported": False, "resolver_populated": False}
    after = state["after"]
    assert after["urls_imported"] and after["api_imported"] and after["resolver_populated"]
    assert "web/base.html" in after["templates"] and len(after["templates"]) > 20
    assert after["signing_key_loaded"]
    for path, first in state["first_requests"].items():
        assert first["imported"] == [], f"{path}: the first request still imported {first['imported']}"
        assert first["status"].split()[0] in {"200", "400"}, (path, first["status"])


def test_portusctl_serve_runs_gunicorn_with_the_hooks() -> None:
    command = gunicorn_command(ServerOptions(bind="127.0.0.1:3000", workers=2, threads=4))
    assert command[command.index("--config") + 1] == "python:portus.server.gunicorn_config"
    assert command[command.index("--workers") + 1] == "2" and command[command.index("--threads") + 1] == "4"
    assert "--certfile" not in command
    with_tls = gunicorn_command(ServerOptions("0.0.0.0:3000", 1, 1, tls=("/tls/c.pem", "/tls/k.pem")))
    assert with_tls[with_tls.index("--certfile") + 1] == "/tls/c.pem"
    assert with_tls[with_tls.index("--keyfile") + 1] == "/tls/k.pem"
