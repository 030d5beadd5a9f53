"""/api/v1/registries: reading, adding, changing, and checking reachability of a real registry."""

from __future__ import annotations

from pathlib import Path

from portus.registry.models import Namespace, Registry
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.support.registry import free_port, running_registry

PLAIN_REGISTRY = """version: 0.1
storage: {{filesystem: {{rootdirectory: {root}}}}}
http: {{addr: "{addr}"}}
"""


def test_signed_in_users_read_registries(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    listed = api.get("registries", "viewer").body
    assert [(r["name"], r["hostname"]) for r in listed] == [("test", "registry.test")]
    assert api.get(f"registries/{world.registry.pk}", "viewer").body["name"] == "test"


def test_admin_adds_a_registry_with_its_global_namespace(api: Api) -> None:
    created = api.post("registries", {"name": "second", "hostname": "second.test:5000", "use_ssl": True})
    assert created.status == 201, created.body
    registry = Registry.objects.get(name="second")
    assert Namespace.objects.filter(registry=registry, kind="global").exists()
    assert api.post("registries", {"name": "second", "hostname": "third.test"}).status == 400


def test_host_names_with_a_scheme_or_path_are_refused(api: Api) -> None:
    answer = api.post("registries", {"name": "bad", "hostname": "http://x.test/v2"})
    assert answer.status == 422
    assert "hostname" in answer.body["message"]


def test_admin_changes_a_registry(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    answer = api.put(f"registries/{world.registry.pk}", {"external_hostname": "pull.example.com"})
    assert answer.status == 200
    assert Registry.objects.get(pk=world.registry.pk).public_hostname == "pull.example.com"


def test_validate_finds_a_real_registry_and_reports_a_missing_one(api: Api, tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    config = PLAIN_REGISTRY.format(root=tmp_path / "data", addr=addr)
    with running_registry(config, addr, tmp_path / "registry"):
        up = api.get("registries/validate", hostname=addr).body
        assert up["reachable"] is True, up
        assert "registry/2.0" in up["message"]
    down = api.get("registries/validate", hostname=addr).body
    assert down["reachable"] is False
    assert "Cannot reach" in down["message"]
