"""Issue 9's attacks on the server's defaults, each performed and now failing: reset-link poisoning through the
Host header, debug pages, deeply nested JSON, a bot made admin, a disabled user added to a team, passwords on the
command line, and the registry configuration's secret in a world-readable file."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from portus.accounts.actions import create_user, set_enabled
from portus.accounts.credentials import verify
from portus.cli import build_parser
from portus.cli import main as portusctl
from portus.cli.command import is_loopback
from portus.cli.server import redact
from portus.registry.models import TeamMembership
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD, World

REPO = Path(__file__).resolve().parent.parent
DEEP = "[" * 100_000 + "]" * 100_000


def django_setting(tmp_path: Path, expression: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a child process with ENVIRON and print EXPRESSION (read from django.conf.settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    (tmp_path / "empty.yml").write_text("{}\n")
    env.update({"PORTUS_DATA_DIR": str(tmp_path / "data"), "PORTUS_LOCAL_CONFIG": str(tmp_path / "empty.yml")})
    env.update(environ)
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'portus.settings'; django.setup(); "
        f"from django.conf import settings; print({expression})"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


# -- item 4: links from the configured address, debug only when asked and only on loopback ------------------------


def test_a_forged_host_header_does_not_poison_the_password_reset_link(world: World) -> None:
    response = Client().post("/password-reset/", {"email": "owner@example.com"}, HTTP_HOST="evil.example")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "evil.example" not in body
    assert re.search(re.escape(settings.PORTUS_URL) + r"/password-reset/\S+/\S+/", body)


def test_the_reset_link_uses_the_machine_fqdn_and_https_when_ssl_is_used(tmp_path: Path) -> None:
    shown = django_setting(
        tmp_path,
        "settings.PORTUS_URL",
        PORTUS_MACHINE_FQDN_VALUE="portus.example.com",
        PORTUS_CHECK_SSL_USAGE_ENABLED="true",
    )
    assert shown.stdout.strip() == "https://portus.example.com", shown.stderr


def test_api_page_links_ignore_the_host_header(api: Api) -> None:
    answer = api.call("get", "teams", params={"per_page": 1}, headers={"Host": "evil.example"})
    assert answer.status == 200
    assert "evil.example" not in answer.headers["Link"]
    assert answer.headers["Link"].startswith(f"<{settings.PORTUS_URL}/api/v1/teams?")


def test_debug_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert django_setting(tmp_path, "settings.DEBUG").stdout.strip() == "False"
    assert django_setting(tmp_path, "settings.DEBUG", PORTUS_DEBUG="true").stdout.strip() == "True"


def test_serve_binds_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTUS_BIND", raising=False)
    assert build_parser().parse_args(["serve"]).bind == "127.0.0.1:3000"
    monkeypatch.setenv("PORTUS_BIND", "0.0.0.0:3000")
    assert build_parser().parse_args(["serve"]).bind == "0.0.0.0:3000"


@pytest.mark.parametrize("command", ["serve", "up"])
def test_debug_is_refused_on_an_address_beyond_loopback(
    command: str, settings, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `up` sets both for its children; monkeypatch puts them back as they were after the test.
    monkeypatch.setenv("PORTUS_DATA_DIR", os.environ["PORTUS_DATA_DIR"])
    monkeypatch.delenv("PORTUS_URL", raising=False)
    settings.DEBUG = True
    argv = [command, "--bind", "0.0.0.0:3999"]
    if command == "up":
        argv += ["--data-dir", str(tmp_path)]
    assert portusctl(argv) == 1
    err = capsys.readouterr().err
    assert "PORTUS_DEBUG is on" in err and "bind 127.0.0.1" in err


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "localhost", "[::1]", "::1"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "portus.example.com", ""))  # noqa: S104


# -- item 6: nested JSON is a 400 in JSON, on the API and at the intake ---------------------------------------------


def test_deeply_nested_json_to_an_api_write_is_a_400_in_json(api: Api) -> None:
    for persona in ("admin", "anonymous"):
        response = api.client.post(
            "/api/v1/teams",
            data='{"name": ' + DEEP + "}",
            content_type="application/json",
            headers=api.headers(persona),
        )
        assert response.status_code == 400, persona
        assert response["Content-Type"] == "application/json"
        assert "nests too deeply" in response.json()["message"]


def test_deeply_nested_json_at_the_notification_intake_is_a_400_in_json(world: World) -> None:
    response = Client().post(
        "/v2/webhooks/events",
        data='{"events": ' + DEEP + "}",
        content_type="application/vnd.docker.distribution.events.v1+json",
        HTTP_AUTHORIZATION=f"Bearer {world.registry.notification_secret()}",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["message"].startswith("invalid notification")


def test_an_unknown_api_path_is_json_even_with_debug_on(world: World, settings) -> None:
    settings.DEBUG = True
    for path in ("/api/v1/no-such-thing", "/api/nothing", "/v2/nothing"):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path
        assert b"<html" not in response.content.lower()


def test_pages_keep_their_html_error_pages(world: World) -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


# -- item 8: without SMTP in production the reset page says to ask an administrator ---------------------------------


def test_without_smtp_in_production_no_reset_mail_is_sent(world: World, settings) -> None:
    settings.PRODUCTION = True
    page = Client().get("/password-reset/").content.decode()
    assert "Ask an administrator" in page and 'name="email"' not in page
    response = Client().post("/password-reset/", {"email": "owner@example.com"})
    assert response.status_code == 200 and "Ask an administrator" in response.content.decode()
    assert mail.outbox == []


def test_with_smtp_in_production_the_reset_mail_is_sent(world: World, settings, portus_config) -> None:
    settings.PRODUCTION = True
    portus_config("email.smtp.enabled", True)
    assert Client().post("/password-reset/", {"email": "owner@example.com"}).status_code == 302
    assert len(mail.outbox) == 1


def test_in_development_the_reset_page_says_mail_goes_to_the_console(world: World) -> None:
    page = Client().get("/password-reset/").content.decode()
    assert "written to the server&#x27;s console" in page or "written to the server's console" in page


def test_production_mail_without_smtp_goes_nowhere(tmp_path: Path) -> None:
    from tests.test_security_headers import production_environment

    shown = django_setting(tmp_path, "settings.EMAIL_BACKEND", **production_environment(tmp_path))
    assert shown.stdout.strip() == "django.core.mail.backends.dummy.EmailBackend", shown.stderr
    assert django_setting(tmp_path, "settings.EMAIL_BACKEND").stdout.strip().endswith("console.EmailBackend")


# -- item 13: hygiene ---------------------------------------------------------------------------------------------


def test_the_api_cannot_make_a_bot_an_admin(api: Api) -> None:
    create_user(username="builder", bot=True)
    answer = api.put("users/builder", {"admin": True})
    assert answer.status == 400 and "bot" in answer.body["message"].lower()
    created = api.post("users", {"username": "robot", "bot": True, "admin": True})
    assert created.status in (400, 422)
    assert not api.world.admin.__class__.objects.filter(username="robot").exists()


def test_a_disabled_user_cannot_be_added_to_a_team(api: Api) -> None:
    sleeper = create_user(username="sleeper", password=PASSWORD)
    set_enabled(user=sleeper, enabled=False, actor=api.world.admin)
    answer = api.post(f"teams/{api.world.team.name}/members", {"user": "sleeper", "role": "viewer"}, persona="owner")
    assert answer.status == 400 and "disabled" in answer.body["message"]
    page = Client()
    page.force_login(api.world.owner)
    response = page.post(f"/teams/{api.world.team.pk}/members/", {"username": "sleeper", "role": "viewer"})
    assert response.status_code == 400
    assert not TeamMembership.objects.filter(user=sleeper).exists()
    set_enabled(user=sleeper, enabled=True, actor=api.world.admin)
    assert (
        api.post(f"teams/{api.world.team.name}/members", {"user": "sleeper", "role": "viewer"}, "owner").status == 201
    )


def test_the_page_showing_a_new_token_is_not_cached(world: World) -> None:
    client = Client()
    client.force_login(world.viewer)
    response = client.post("/profile/tokens/", {"name": "laptop"})
    assert response.status_code == 200 and "prt_" in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_user_create_reads_the_password_from_a_file(world: World, capsys, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-a-file-password\nignored second line\n")
    assert portusctl(["user", "create", "fiona", "--password-file", str(secret)]) == 0
    assert verify("fiona", "from-a-file-password").user is not None
    assert portusctl(["user", "create", "gina", "--password-file", str(tmp_path / "missing")]) == 1
    assert "cannot read it" in capsys.readouterr().err


def test_only_one_way_of_giving_the_password_is_accepted(world: World, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n"))
    with pytest.raises(SystemExit):
        portusctl(["user", "create", "hana", "--password", PASSWORD, "--password-stdin"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_registry_config_written_to_a_file_is_private(world: World, tmp_path: Path) -> None:
    target = tmp_path / "config.yml"
    target.write_text("old\n")
    target.chmod(0o644)
    assert portusctl(["registry", "config", "--portus-url", "http://127.0.0.1:3000", "-o", str(target)]) == 0
    assert target.stat().st_mode & 0o777 == 0o600
    assert world.registry.notification_secret() in target.read_text()


def test_the_registry_log_copy_hides_bearer_secrets() -> None:
    line = (
        b'level=info msg="configuring endpoint portus (http://x/v2/webhooks/events), '
        b'headers=map[Authorization:[Bearer s3cr3t]]"\n'
    )
    hidden = redact(line, [b"s3cr3t"])
    assert b"s3cr3t" not in hidden and b"Bearer [redacted]" in hidden
    assert redact(b"the secret s3cr3t alone\n", [b"s3cr3t"]) == b"the secret [redacted] alone\n"


def test_a_token_answer_in_json_is_not_html(world: World) -> None:
    answer = Client().get("/v2/token", {"service": "registry.test"})
    assert answer["Content-Type"] == "application/json"
    assert json.loads(answer.content)["token"]


def test_the_api_refuses_an_invalid_email_address(api: Api) -> None:
    created = api.post("users", {"username": "ivy", "email": "not-an-address", "password": PASSWORD})
    assert created.status == 422 and "e-mail" in created.body["message"]
    changed = api.put("users/viewer", {"email": "two@@example.com"}, persona="admin")
    assert changed.status == 422 and "e-mail" in changed.body["message"]
    assert api.post("users", {"username": "ivy", "email": "ivy@example.com", "password": PASSWORD}).status == 201
    assert api.put("users/viewer", {"email": ""}, persona="admin").status == 200
