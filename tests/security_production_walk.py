"""Run by tests/test_security_headers.py in a child process started in production mode: migrates a fresh SQLite
database, creates a few objects, requests every page and a representative set of API and registry answers, and
prints what came back as JSON (one object per request) on standard output."""

from __future__ import annotations

import json
import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "portus.settings"

import django  # noqa: E402

from portus.config import prepare_data_dir  # noqa: E402

prepare_data_dir()  # as portusctl does before Django reads the settings
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import StreamingHttpResponse  # noqa: E402
from django.http.response import HttpResponseBase  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import URLPattern, get_resolver  # noqa: E402

from portus.accounts.actions import create_token, create_user  # noqa: E402
from portus.registry.actions import create_namespace, create_registry, create_team  # noqa: E402
from portus.registry.models import Repository  # noqa: E402

HEADERS = (
    "Content-Type",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Strict-Transport-Security",
    "Cache-Control",
)


def main() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production serves the hashed copies
    registry = create_registry(name="main", hostname="registry.example.com:5000")
    admin = create_user(username="admin", email="admin@example.com", password="correct-horse-battery", admin=True)
    team = create_team(name="acme", owner=admin, actor=admin)
    namespace = create_namespace(name="acme", team=team, visibility="private", registry=registry, actor=admin)
    repository = Repository.objects.create(namespace=namespace, name="app")
    _, token = create_token(user=admin, name="ci", expires_at=None, actor=None)
    ids = {"namespace": namespace.pk, "team": team.pk, "repository": repository.pk, "user": admin.pk}

    host = settings.MACHINE_FQDN
    signed_in = Client(HTTP_HOST=host)
    signed_in.force_login(admin)
    anonymous = Client(HTTP_HOST=host)
    answers: list[dict[str, object]] = []

    def record(label: str, response: HttpResponseBase) -> None:
        body = b"".join(response) if isinstance(response, StreamingHttpResponse) else response.content  # type: ignore[attr-defined]
        answers.append(
            {
                "label": label,
                "status": response.status_code,
                "headers": {name: response.get(name) for name in HEADERS},
                "body": body.decode(errors="replace"),
            }
        )

    web = get_resolver().namespace_dict["web"][1]
    for pattern in web.url_patterns:
        assert isinstance(pattern, URLPattern)
        kwargs: dict[str, object] = {}
        for name in pattern.pattern.converters:
            if name == "pk":
                kind = next((k for k in ("namespace", "team", "repository", "comment", "tag") if k in pattern.name), "")
                kwargs[name] = ids.get(kind or "user", ids["repository"] if kind in ("comment", "tag") else 1)
            elif name in ("uidb64", "token", "name"):
                kwargs[name] = "x"
            else:
                kwargs[name] = 1
        from django.urls import reverse

        url = reverse(f"web:{pattern.name}", kwargs=kwargs)
        for who, client in (("admin", signed_in), ("anonymous", anonymous)):
            record(f"GET {url} as {who}", client.get(url, secure=True))

    for label, path in (
        ("API ping", "/api/v1/_ping"),
        ("API health", "/api/v1/health"),
        ("API unknown path", "/api/v1/no-such-thing"),
        ("API outside v1", "/api/nothing-here"),
        ("API docs", "/api/docs"),
        ("registry token", "/v2/token?service=registry.example.com:5000"),
        ("registry unknown path", "/v2/nothing-here"),
    ):
        record(label, anonymous.get(path, secure=True))
    record("API list", signed_in.get("/api/v1/teams", secure=True))
    record(
        "API token create",
        signed_in.post(
            "/api/v1/users/admin/application_tokens",
            data=json.dumps({"name": "second"}),
            content_type="application/json",
            secure=True,
        ),
    )
    record(
        "API with a token",
        Client(HTTP_HOST=host).get("/api/v1/teams", secure=True, HTTP_AUTHORIZATION=f"Bearer {token}"),
    )
    record("web token create", signed_in.post("/profile/tokens/", {"name": "third"}, secure=True))
    record("bad Host under /api/", Client(HTTP_HOST="evil.example").get("/api/v1/teams", secure=True))

    # The password-reset form with SMTP off, asked for through a forged Host: nothing is sent or logged.
    reset = Client(HTTP_HOST=host)
    record("reset page", reset.get("/password-reset/", secure=True))
    record("reset post", reset.post("/password-reset/", {"email": "admin@example.com"}, secure=True))
    json.dump(answers, sys.stdout)


main()
