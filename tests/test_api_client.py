"""``portusctl get|create|update|delete|bootstrap|health|version`` against a live Portus server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portus.accounts.actions import create_user
from portus.cli import main as portusctl
from portus.registry.models import Namespace, Repository, Tag, TeamMembership
from tests.api import give_tokens
from tests.conftest import PASSWORD, World, make_world
from tests.support.registry import free_port


@pytest.fixture
def server(live_server: Any, transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> tuple[World, dict[str, str]]:
    world = make_world()
    tokens = give_tokens(world)
    monkeypatch.setenv("PORTUSCTL_API_SERVER", live_server.url)
    monkeypatch.setenv("PORTUSCTL_API_USER", "owner")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", tokens["owner"])
    return world, tokens


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = portusctl(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_get_lists_as_a_table_and_as_json(server, capsys) -> None:  # type: ignore[no-untyped-def]
    world, _ = server
    Repository.objects.create(namespace=world.namespace, name="app")
    status, out, _ = run(capsys, "get", "repositories")
    assert status == 0
    header, row = out.splitlines()
    assert header.split()[:2] == ["ID", "FULL"]
    assert "acme/app" in row
    status, out, _ = run(capsys, "get", "repositories", "-o", "json")
    assert [r["full_name"] for r in json.loads(out)] == ["acme/app"]


def test_get_follows_every_page(server, capsys) -> None:  # type: ignore[no-untyped-def]
    world, _ = server
    Repository.objects.bulk_create(Repository(namespace=world.namespace, name=f"r{i:03d}") for i in range(130))
    status, out, _ = run(capsys, "get", "repos", "-o", "json")
    assert status == 0 and len(json.loads(out)) == 130
    status, out, _ = run(capsys, "get", "repos", "--page", "2", "--per-page", "50", "-o", "json")
    assert [r["name"] for r in json.loads(out)][0] == "r050"


def test_get_namespaces_names_the_global_namespace_instead_of_a_blank(server, capsys) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run(capsys, "get", "namespaces")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["ID", "DISPLAY", "NAME"]
    assert any(row.split()[1:3] == ["test", "(global)"] for row in rows), out


def test_get_one_by_name_and_filter_with_fields(server, capsys) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run(capsys, "get", "namespaces", "acme")
    assert status == 0
    assert ["visibility", "private"] in [line.split() for line in out.splitlines()]
    status, out, _ = run(capsys, "get", "namespaces", "--kind", "team", "-o", "json")
    assert [n["name"] for n in json.loads(out)] == ["acme"]


def test_create_update_delete_a_namespace(server, capsys) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run(capsys, "create", "namespaces", "--name", "tools", "--team", "acme", "-o", "json")
    assert status == 0 and json.loads(out)["name"] == "tools"
    status, _, _ = run(capsys, "update", "namespaces", "tools", "--visibility", "public", "--description", "Tools")
    assert status == 0
    assert Namespace.objects.get(name="tools").visibility == "public"
    status, out, _ = run(capsys, "delete", "namespaces", "tools")
    assert (status, out) == (0, "deleted namespaces tools\n")
    assert not Namespace.objects.filter(name="tools").exists()


def test_members_and_booleans(server, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert run(capsys, "create", "members", "--team", "acme", "--user", "outsider", "--role", "viewer")[0] == 0
    assert run(capsys, "update", "members", "outsider", "--team", "acme", "--role", "contributor")[0] == 0
    assert TeamMembership.objects.get(user__username="outsider").role == "contributor"
    monkeypatch.setenv("PORTUSCTL_API_USER", "admin")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", server[1]["admin"])
    status, out, _ = run(capsys, "update", "users", "outsider", "--enabled", "false", "-o", "json")
    assert status == 0 and json.loads(out)["enabled"] is False


def test_tokens_are_created_once_listed_and_revoked(server, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world, tokens = server
    # An application token never mints one for its own account (issue 9 item 3)...
    status, _, err = run(capsys, "create", "tokens", "--name", "ci", "-o", "json")
    assert status == 1 and "403" in err
    # ...an administrator's makes them for bots.
    create_user(username="ci-bot", bot=True, actor=world.admin)
    monkeypatch.setenv("PORTUSCTL_API_USER", "admin")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", tokens["admin"])
    status, out, err = run(capsys, "create", "tokens", "--owner", "ci-bot", "--name", "ci", "-o", "json")
    assert status == 0, err
    created = json.loads(out)
    assert created["token"].startswith("prt_")
    status, out, _ = run(capsys, "get", "tokens", "--owner", "ci-bot")
    assert "ci" in out and created["token"] not in out
    assert run(capsys, "delete", "tokens", "--owner", "ci-bot", str(created["id"]))[0] == 0
    status, _, err = run(capsys, "get", "--user", "ci-bot", "users", "ci-bot", "--token", created["token"])
    assert status == 1 and "401" in err


def test_tags_by_repository_name_and_by_id(server, capsys, portus_config) -> None:  # type: ignore[no-untyped-def]
    world, _ = server
    app = Repository.objects.create(namespace=world.namespace, name="app")
    tag = Tag.objects.create(repository=app, name="v1", digest="sha256:" + "c" * 64)
    status, out, _ = run(capsys, "get", "tags", "--repository", "acme/app")
    assert status == 0 and "v1" in out
    status, _, err = run(capsys, "delete", "tags", str(tag.pk))
    assert status == 1
    assert err.startswith("portusctl: 403 Forbidden: ") and err.count("\n") == 1
    portus_config("delete.enabled", True)
    # Allowed now; the image must go from the registry first, and this test's registry does not run.
    status, _, err = run(capsys, "delete", "tags", str(tag.pk), "--yes")
    assert status == 1
    assert err.startswith("portusctl: 502 Bad Gateway: Cannot reach the registry") and err.count("\n") == 1
    assert Tag.objects.filter(pk=tag.pk).exists()


def test_errors_are_one_line_and_exit_non_zero(server, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    status, _, err = run(capsys, "get", "teams", "nosuchteam")
    assert status == 1 and err == "portusctl: 404 Not Found: No team with that id or name is visible to you.\n"
    status, _, err = run(capsys, "get", "spaceships")
    assert status == 1 and "unknown resource 'spaceships'" in err
    status, _, err = run(capsys, "create", "activities", "--x", "y")
    assert status == 1 and "cannot be created" in err
    status, _, err = run(capsys, "get", "users", "--server", f"http://127.0.0.1:{free_port()}")
    assert status == 1 and "cannot reach Portus" in err
    monkeypatch.delenv("PORTUSCTL_API_SERVER")
    status, _, err = run(capsys, "get", "users")
    assert status == 1 and "--server" in err


def test_health_reports_checks_and_exits_1_when_down(server, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run(capsys, "health")  # the owner sees only up or down
    assert status == 1 and "registry test" not in out
    assert err.startswith("portusctl: unhealthy: Some checks fail")
    _, tokens = server
    monkeypatch.setenv("PORTUSCTL_API_USER", "admin")
    monkeypatch.setenv("PORTUSCTL_API_TOKEN", tokens["admin"])
    status, out, err = run(capsys, "health")
    assert status == 1
    assert "database" in out and "registry test" in out
    assert err.startswith("portusctl: unhealthy: Down:")


def test_version_shows_client_and_server(server, capsys) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run(capsys, "version", "-o", "json")
    assert status == 0
    assert json.loads(out)["api_version"] == "v1"


def test_bootstrap_on_an_empty_portus_prints_a_token_that_works(  # type: ignore[no-untyped-def]
    live_server, transactional_db, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PORTUSCTL_API_SERVER", live_server.url)
    status, out, err = run(capsys, "bootstrap", "--username", "root", "--password", PASSWORD)
    assert status == 0, err
    token = out.strip()
    status, out, _ = run(capsys, "get", "users", "--token", token, "-o", "json")
    assert status == 0 and [u["username"] for u in json.loads(out)] == ["root"]
    status, _, err = run(capsys, "bootstrap", "--username", "again", "--password", PASSWORD)
    assert status == 1 and "403" in err
