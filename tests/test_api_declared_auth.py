"""The OpenAPI document tells the truth about credentials.

Every operation the document says needs credentials answers a caller without them 401 with a sentence
saying what to send; every operation it says answers anonymous callers (the empty requirement `{}`)
does so without asking for credentials. The walk covers every operation in the document, with the
configuration's anonymous browsing on and off. Ids and names in the paths are ones that do not exist,
so no call changes anything: each one stops at 401, 404 or 422.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils.crypto import get_random_string

from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import PASSWORD

SIGNED_IN_SCHEMES = [{"PortusAuth": []}, {"BearerToken": []}, {"BrowserSession": []}]
PUBLIC = {"GET /api/v1/_ping", "GET /api/v1/health", "GET /api/v1/version", "POST /api/v1/users/bootstrap"}
WRITES = ("post", "put", "delete")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    ]


def nowhere(path: str, operation: dict[str, Any]) -> str:
    """PATH with each parameter set to an id or a name nothing has."""
    types = {p["name"]: p["schema"].get("type") for p in operation.get("parameters", []) if p["in"] == "path"}

    def value(match: re.Match[str]) -> str:
        return "999999" if types[match.group(1)] == "integer" else "nobody-here"

    return re.sub(r"\{(\w+)\}", value, path)


def needs_credentials(operation: dict[str, Any]) -> bool:
    return {} not in operation["security"]


def document(client: Client) -> dict[str, Any]:
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def test_every_operation_declares_the_signed_in_schemes_and_maybe_no_credentials(api: Api) -> None:
    doc = document(api.client)
    assert set(doc["components"]["securitySchemes"]) == {"PortusAuth", "BearerToken", "BrowserSession"}
    assert "CSRF" in doc["components"]["securitySchemes"]["BrowserSession"]["description"]
    kinds = {"signed in": 0, "anonymous too": 0}
    for method, path, operation in operations(doc):
        security = operation["security"]
        assert security[:3] == SIGNED_IN_SCHEMES, (method, path, security)
        assert security[3:] in ([], [{}]), (method, path, security)
        kinds["signed in" if needs_credentials(operation) else "anonymous too"] += 1
    # Both kinds exist, so the walk below checks each direction.
    assert kinds["signed in"] >= 25 and kinds["anonymous too"] >= 15, kinds


def test_without_anonymous_browsing_only_the_public_operations_admit_anonymous_callers(
    api: Api,
    portus_config,  # type: ignore[no-untyped-def]
) -> None:
    portus_config("anonymous_browsing.enabled", False)
    open_ones = {
        f"{method.upper()} {path}" for method, path, op in operations(document(api.client)) if not needs_credentials(op)
    }
    assert open_ones == PUBLIC


@pytest.mark.parametrize("anonymous_browsing", [True, False], ids=["anonymous browsing", "no anonymous browsing"])
def test_anonymous_callers_get_401_exactly_where_the_document_requires_credentials(
    api: Api,
    portus_config,  # type: ignore[no-untyped-def]
    anonymous_browsing: bool,
) -> None:
    portus_config("anonymous_browsing.enabled", anonymous_browsing)
    untrue = []
    for method, path, operation in operations(document(api.client)):
        answer = api.call(method, nowhere(path, operation), None, json={} if method in ("post", "put") else None)
        if (answer.status == 401) != needs_credentials(operation) or str(answer.status) not in operation["responses"]:
            untrue.append((method, path, operation["security"], answer.status, answer.text[:200]))
        if answer.status == 401:
            assert "Authorization: Bearer APPLICATION_TOKEN" in answer.body["message"], (method, path, answer.body)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)
    assert not untrue


def test_a_signed_in_browser_session_is_accepted_by_every_operation(world) -> None:  # type: ignore[no-untyped-def]
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="admin", password=PASSWORD)  # whom the policy refuses nothing
    secret = get_random_string(32)
    browser.cookies["csrftoken"] = secret  # what a page of the site does: cookie, echoed in a header
    refused = []
    for method, path, operation in operations(document(browser)):
        kwargs: dict[str, Any] = {"headers": {"X-CSRFToken": secret}} if method in WRITES else {}
        if method in ("post", "put"):
            kwargs.update(data="{}", content_type="application/json")
        answer = getattr(browser, method)(nowhere(path, operation), **kwargs)
        if answer.status_code in (401, 403) or str(answer.status_code) not in operation["responses"]:
            refused.append((method, path, answer.status_code))
    assert not refused


def test_browser_writes_without_the_csrf_token_are_refused_everywhere(world) -> None:  # type: ignore[no-untyped-def]
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="owner", password=PASSWORD)
    writes = [(m, p, op) for m, p, op in operations(document(browser)) if m in WRITES]
    assert len(writes) >= 20
    for method, path, operation in writes:
        answer = getattr(browser, method)(nowhere(path, operation), data="{}", content_type="application/json")
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert "CSRF" in answer.json()["message"], (method, path)
