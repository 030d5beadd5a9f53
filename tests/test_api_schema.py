"""schemathesis against the live OpenAPI document: no 500, and every response matches its schema.

The examples are bounded (hypothesis max_examples) so the run takes a couple of minutes at most.
Each operation is generated twice: as the administrator (who may do everything, so the deepest
code paths run) and as an outsider (who meets the 403/404 answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.api import give_tokens
from tests.conftest import IN_CI, make_world

if IN_CI:
    import schemathesis  # CI must have it: a missing tool is a failure there, not a skip
else:
    schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (4.x)")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

MAX_EXAMPLES = 12


@pytest.fixture
def api_schema(db: None, portus_config) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    portus_config("delete.enabled", True)
    world = make_world()
    pytest.portus_tokens = give_tokens(world)  # type: ignore[attr-defined]
    # As Django's test client does: the WSGI handler would otherwise close the test's connection
    # (and with it the transaction the test runs in) at the end of every request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


def call(case: Any, persona: str) -> None:
    token = pytest.portus_tokens[persona]  # type: ignore[attr-defined]
    # Business rules the document cannot state (a common password, a team that does not exist,
    # a name already taken) refuse some schema-valid requests with 400 and a sentence, by design.
    excluded = [positive_data_acceptance]
    if case.operation.path == "/api/v1/health":
        excluded.append(not_a_server_error)  # 503 is health's documented answer: the test registry is down
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document_as_admin(case: Any) -> None:
    call(case, "admin")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document_as_outsider(case: Any) -> None:
    call(case, "outsider")
