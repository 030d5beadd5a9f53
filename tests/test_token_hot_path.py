"""The registry endpoints' hot path: answered ahead of the page middleware, and no health-check round trip
before their first read, yet a dead database connection still costs no failed request."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test import Client, override_settings

from portus.accounts.models import User
from portus.sql_rows import fetch_models, select_list, table
from tests.conftest import PASSWORD, World, make_world

SERVICE = "registry.test"


def token_request(client: Client, user: str = "owner", **headers: Any) -> Any:
    credentials = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    return client.get(
        "/v2/token",
        {"service": SERVICE, "scope": "repository:acme/app:pull"},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
        **headers,
    )


@override_settings(ALLOWED_HOSTS=["portus.example.com"])
def test_the_notification_intake_still_checks_the_host(world: World, client: Client) -> None:
    response = client.post("/v2/webhooks/events", b"{}", content_type="application/json", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_registry_endpoints_set_no_session_cookie(world: World, client: Client) -> None:
    response = client.post("/v2/webhooks/events", b"{}", content_type="application/json")
    assert response.status_code == 401
    assert not response.cookies
    assert response["Cache-Control"] == "no-store"


def test_the_registry_endpoints_answer_with_a_content_length(world: World, client: Client) -> None:
    # Without one, gunicorn sends the body in chunks and the closing chunk in a send of its own.
    issued = token_request(client)
    refused = token_request(client, user="nobody")
    notification = client.post("/v2/webhooks/events", b"{}", content_type="application/json")
    assert [issued.status_code, refused.status_code, notification.status_code] == [200, 401, 401]
    for response in (issued, refused, notification):
        assert response["Content-Length"] == str(len(response.content))


def test_a_path_that_only_starts_like_the_token_endpoint_goes_the_usual_way(world: World, client: Client) -> None:
    response = client.get("/v2/token/", {"service": SERVICE})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def user_row(user_id: int) -> list[User]:
    sql = f"SELECT {select_list(User, 'u')} FROM {table(User)} u WHERE u.id = %s"  # noqa: S608
    return fetch_models(User, sql, [user_id])


@pytest.mark.django_db(transaction=True)
def test_a_read_that_fails_on_a_live_connection_still_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()
    user_row(world.owner.pk)  # the connection is open, outside a transaction, its check not made
    monkeypatch.setattr(connection, "health_check_enabled", True)
    monkeypatch.setattr(connection, "health_check_done", False)
    opened = connection.connection
    with pytest.raises(DatabaseError):
        fetch_models(User, f"SELECT {select_list(User, 'u')} FROM no_such_table u", [])  # noqa: S608
    assert connection.connection is opened  # not replaced: nothing was wrong with it


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_token_request_on_a_connection_the_database_dropped_gets_its_token(client: Client) -> None:
    import psycopg  # the PostgreSQL driver: only on PostgreSQL

    world = make_world()
    assert connection.health_check_enabled, "PostgreSQL runs with CONN_HEALTH_CHECKS"
    assert token_request(client).status_code == 200
    backend = connection.connection.info.backend_pid
    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        dbname=settings_dict["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    # What Django does when the next request starts (the test client leaves it out).
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None and not connection.health_check_done
    response = token_request(client)
    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != backend
    assert world.owner.pk == user_row(world.owner.pk)[0].pk
