"""/api/v1/_ping, /health and /version: health follows the database, the registry and the worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import time_machine
from django.core.cache import cache
from django.utils import timezone

import portus
from portus.background.models import TaskStatus
from portus.registry.actions import update_registry
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.support.registry import free_port, running_registry

PLAIN_REGISTRY = """version: 0.1
storage: {{filesystem: {{rootdirectory: {root}}}}}
http: {{addr: "{addr}"}}
"""


def fresh_tasks() -> None:
    now = timezone.now()
    for name in ("registry-events", "registry-sync", "security-scanning"):
        TaskStatus.objects.update_or_create(
            name=name, defaults={"last_run_at": now, "last_success_at": now, "updated_at": now}
        )


def test_ping_and_version_answer_anyone(api: Api) -> None:
    assert api.get("_ping", "anonymous").body == {"ok": True}
    assert api.get("version", "anonymous").body["api_version"] == "v1"
    assert api.get("version", "anonymous").body["version"] == portus.__version__


def test_health_is_200_with_registry_up_and_worker_fresh_and_503_otherwise(api: Api, world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    addr = f"127.0.0.1:{free_port()}"
    update_registry(registry=world.registry, hostname=addr, actor=world.admin)
    fresh_tasks()
    with running_registry(PLAIN_REGISTRY.format(root=tmp_path / "data", addr=addr), addr, tmp_path / "reg"):
        up = api.get("health", "admin")
        assert up.status == 200, up.body
        assert up.body["healthy"] and up.body["database"]["ok"] and up.body["registries"]["test"]["ok"]
        # Scanning is on by default: its task is watched like the others.
        assert set(up.body["background"]) == {"registry-events", "registry-sync", "security-scanning"}
        assert api.get("health", "anonymous").body == {
            "healthy": True,
            "message": "All checks pass.",
            "database": None,
            "registries": {},
            "background": {},
            "scanners": {},
        }
        with time_machine.travel(timezone.now() + timedelta(hours=1)):
            stale = api.get("health", "admin")
        assert stale.status == 503
        assert stale.body["background"]["registry-events"]["ok"] is False
        assert "background task registry-events" in stale.body["message"]
    # The probe is remembered for health.cache_seconds (the one made "an hour later" above would
    # outlive this test): forget it, so the stopped registry is probed.
    cache.clear()
    down = api.get("health", "admin")
    assert down.status == 503
    assert down.body["registries"]["test"]["ok"] is False
    assert down.body["message"] == "Down: registry test."


def test_worker_that_never_ran_is_reported_and_disabled_tasks_are_not(api: Api, portus_config) -> None:  # type: ignore[no-untyped-def]
    body = api.get("health", "admin").body
    assert "Never ran" in body["background"]["registry-events"]["message"]
    portus_config("background.registry.enabled", False)
    portus_config("background.sync.enabled", False)
    portus_config("background.security_scanning.enabled", False)
    assert api.get("health", "admin").body["background"] == {}


def test_failed_last_run_makes_the_task_unhealthy(api: Api) -> None:
    fresh_tasks()
    TaskStatus.objects.filter(name="registry-sync").update(
        last_error="registry said 500", last_error_at=timezone.now() + timedelta(seconds=1)
    )
    check = api.get("health", "admin").body["background"]["registry-sync"]
    assert check["ok"] is False and "registry said 500" in check["message"]


def test_only_admins_see_which_check_fails_and_why(api: Api) -> None:
    admin = api.get("health", "admin").body
    assert "Cannot reach http://registry.test/v2/" in admin["registries"]["test"]["message"]
    assert admin["message"] == (
        "Down: registry test, background task registry-events, background task registry-sync, "
        "background task security-scanning."
    )
    for persona in ("anonymous", "outsider"):
        answer = api.get("health", persona)
        assert answer.status == 503
        assert answer.body == {
            "healthy": False,
            "message": "Some checks fail; an administrator sees which.",
            "database": None,
            "registries": {},
            "background": {},
            "scanners": {},
        }
