"""Security headers on every page and API answer in production mode; JSON, never HTML, under /api/ and /v2/;
no cache for private answers; no inline script or style for the Content-Security-Policy to refuse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from portus.web.security_headers import content_security_policy
from tests.conftest import World

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "portus" / "web" / "templates"
FQDN = "portus.example.com"


def production_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = tmp_path / "token.key"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key.write_bytes(pem)
    key.chmod(0o600)
    (tmp_path / "empty.yml").write_text("{}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update(
        {
            "PORTUS_ENV": "production",
            "PORTUS_DATA_DIR": str(tmp_path / "data"),
            "PORTUS_LOCAL_CONFIG": str(tmp_path / "empty.yml"),
            "PORTUS_SECRET_KEY_BASE": "Zq8-Xv3_Lm9pR2tW7yB4nK6sD1fH0jC5gA-uE_iO8" * 2,
            "PORTUS_KEY_PATH": str(key),
            "PORTUS_MACHINE_FQDN_VALUE": FQDN,
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def production_walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    """Every answer the walk collected from a Portus started in production mode, and that process's log."""
    tmp_path = tmp_path_factory.mktemp("production")
    walked = subprocess.run(
        [sys.executable, str(REPO / "tests" / "security_production_walk.py")],
        cwd=REPO,
        env=production_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert walked.returncode == 0, walked.stderr
    return json.loads(walked.stdout), walked.stderr


def test_every_production_answer_carries_the_security_headers(
    production_walk: tuple[list[dict[str, Any]], str],
) -> None:
    answers, _ = production_walk
    assert len(answers) > 100  # every page twice (admin, anonymous), the API and registry samples
    # Real pages, not only refusals: most of the admin's GETs render.
    assert sum(a["status"] == 200 and a["label"].endswith("as admin") for a in answers) >= 15
    for answer in answers:
        headers = answer["headers"]
        where = f"{answer['label']} ({answer['status']})"
        csp = headers["Content-Security-Policy"] or ""
        assert "default-src 'self';" in csp and "script-src 'self';" in csp, where  # no inline script anywhere
        assert "frame-ancestors 'none'" in csp, where
        # Only Swagger UI, on the API docs page, styles its elements inline.
        assert "unsafe-inline" not in csp or answer["label"] == "API docs", where
        assert "gravatar" not in csp, where  # Gravatar is off by default
        assert headers["X-Content-Type-Options"] == "nosniff", where
        assert headers["Referrer-Policy"] == "same-origin", where
        assert headers["Strict-Transport-Security"] == "max-age=31536000", where
        assert "no-store" in (headers["Cache-Control"] or ""), where


def test_pages_refuse_framing_also_by_the_old_header(production_walk: tuple[list[dict[str, Any]], str]) -> None:
    answers, _ = production_walk
    pages = [a for a in answers if a["label"].startswith("GET /") and not a["label"].startswith("GET /api/")]
    assert pages and all(a["headers"]["X-Frame-Options"] == "DENY" for a in pages)


def test_answers_under_api_and_v2_are_json_even_when_django_refuses(
    production_walk: tuple[list[dict[str, Any]], str],
) -> None:
    answers = {a["label"]: a for a in production_walk[0]}
    for label in ("API unknown path", "API outside v1", "registry unknown path", "bad Host under /api/"):
        answer = answers[label]
        assert answer["status"] in (400, 404), answer
        assert answer["headers"]["Content-Type"] == "application/json", answer
        assert "<html" not in answer["body"].lower()
    assert json.loads(answers["registry unknown path"]["body"])["errors"][0]["message"]


def test_token_answers_are_never_cached(production_walk: tuple[list[dict[str, Any]], str]) -> None:
    answers = {a["label"]: a for a in production_walk[0]}
    created = answers["web token create"]
    assert created["status"] == 200 and "prt_" in created["body"], created["status"]
    for label in ("web token create", "API token create", "registry token"):
        assert "no-store" in answers[label]["headers"]["Cache-Control"], label


def test_production_without_smtp_says_to_ask_an_administrator_and_logs_no_link(
    production_walk: tuple[list[dict[str, Any]], str],
) -> None:
    answers, log = production_walk
    by_label = {a["label"]: a for a in answers}
    for label in ("reset page", "reset post"):
        assert by_label[label]["status"] == 200
        assert "Ask an administrator" in by_label[label]["body"]
        assert 'name="email"' not in by_label[label]["body"]
    # The request log names the pages visited; a reset link (absolute, or a confirm path with its token) never.
    assert re.search(r"https?://\S*password-reset/", log) is None
    assert re.search(r"password-reset/(?!\[redacted\])[^/\s]+/(?!\[redacted\])[^/\s]+/", log) is None
    assert "admin@example.com" not in log


def test_the_policy_lets_gravatar_images_in_only_when_gravatar_is_on() -> None:
    assert "https://www.gravatar.com" not in content_security_policy(gravatar=False)
    assert "img-src 'self' data: https://www.gravatar.com" in content_security_policy(gravatar=True)


def test_gravatar_is_off_by_default_and_avatars_are_drawn_locally(world: World) -> None:
    client = Client()
    client.force_login(world.owner)
    page = client.get("/profile/").content.decode()
    assert "gravatar.com" not in page
    assert re.search(r'<span class="avatar avatar-56" aria-hidden="true">O</span>', page)


def test_templates_hold_no_inline_script_or_style() -> None:
    inline = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for found in re.finditer(r"<script(?![^>]*\ssrc=)[^>]*>|\sstyle=\"|<style|\son[a-z]+=\"", text):
            inline.append(f"{template.relative_to(REPO)}: {found.group(0)}")
    assert inline == []


def test_pages_render_no_inline_style_for_a_signed_in_admin(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    for path in ("/", "/profile/", "/admin/users/", f"/teams/{world.team.pk}/", f"/namespaces/{world.namespace.pk}/"):
        page = client.get(path).content.decode()
        assert ' style="' not in page and "<style" not in page, path
