"""Fixtures for API tests: the personas of tests/conftest.py, each with an application token."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from portus.accounts.actions import create_token, create_user, revoke_token, set_enabled
from tests.conftest import PASSWORD, World

PERSONAS = (
    "admin",
    "owner",
    "contributor",
    "viewer",
    "outsider",
    "anonymous",
    "disabled",
    "revoked",
)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    text: str = ""


@dataclass
class Api:
    world: World
    client: Client
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, persona: str | None) -> dict[str, str]:
        if persona is None or persona == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[persona]}"}

    def call(
        self,
        method: str,
        path: str,
        persona: str | None = "admin",
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        sent = {**self.headers(persona), **(headers or {})}
        kwargs: dict[str, Any] = {"headers": sent}
        if json is not None:
            kwargs["data"] = jsonlib.dumps(json)
            kwargs["content_type"] = "application/json"
        if params:
            if method == "get":
                kwargs["data"] = params
            else:
                url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        response = getattr(self.client, method)(url, **kwargs)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        text = content.decode()
        body: Any = None
        if response.get("Content-Type", "").startswith("application/json") and text:
            body = jsonlib.loads(text)
        return Answer(response.status_code, body, dict(response.headers), text)

    def get(self, path: str, persona: str | None = "admin", **params: Any) -> Answer:
        return self.call("get", path, persona, params=params or None)

    def post(self, path: str, json: Any = None, persona: str | None = "admin") -> Answer:
        return self.call("post", path, persona, json=json if json is not None else {})

    def put(self, path: str, json: Any, persona: str | None = "admin") -> Answer:
        return self.call("put", path, persona, json=json)

    def delete(self, path: str, persona: str | None = "admin") -> Answer:
        return self.call("delete", path, persona)

    def browser(self, persona: str) -> Api:
        """The same API called from a browser that PERSONA signed in with their password: call it
        with persona None (no token header), so the session is what signs the calls in. Creating
        tokens and changing one's password or email take such a session, not a token."""
        client = Client()
        assert client.login(username=persona, password=PASSWORD)
        return Api(self.world, client, self.tokens)


def give_tokens(world: World) -> dict[str, str]:
    tokens = {}
    for name in ("admin", "owner", "contributor", "viewer", "outsider"):
        user = getattr(world, name)
        tokens[name] = create_token(user=user, name="api-tests", actor=user)[1]
    disabled = create_user(username="disabled", password=PASSWORD, admin=False)
    tokens["disabled"] = create_token(user=disabled, name="api-tests", actor=disabled)[1]
    set_enabled(user=disabled, enabled=False, actor=world.admin)
    revoked, tokens["revoked"] = create_token(user=world.contributor, name="revoked", actor=world.contributor)
    revoke_token(token=revoked, actor=world.contributor)
    return tokens


@pytest.fixture(name="api")
def api_fixture(world: World) -> Api:
    return Api(world, Client(), give_tokens(world))
