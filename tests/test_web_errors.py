"""Friendly error pages: 403 with the reason, 404 that does not tell whether a thing exists, 500."""

from __future__ import annotations

import html
import io
import logging
import re

import pytest
from django.test import Client, RequestFactory

from portus.web.views.errors import server_error
from tests.conftest import World
from tests.support.web import client_as

pytestmark = pytest.mark.django_db


def without_tokens(page: str, pk: str) -> str:
    """The page without what differs per request (masked CSRF tokens) or names the address."""
    page = re.sub(r'"X-CSRFToken": "[^"]+"', "", page)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page).replace(pk, "")


def test_404_page_is_friendly_and_the_same_for_hidden_and_missing_things(world: World) -> None:
    hidden = client_as(world, "outsider").get(f"/namespaces/{world.namespace.pk}/")
    missing = client_as(world, "outsider").get("/namespaces/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert "Nothing here" in hidden.content.decode()
    assert without_tokens(hidden.content.decode(), str(world.namespace.pk)) == without_tokens(
        missing.content.decode(), "999999"
    )


def test_403_page_says_why(world: World) -> None:
    response = client_as(world, "viewer").get(f"/namespaces/{world.namespace.pk}/edit/")
    assert response.status_code == 403
    assert "Only the owners of this namespace's team may edit it." in html.unescape(response.content.decode())


def test_500_page_renders_without_the_database() -> None:
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_unknown_address_gets_the_404_page(client: Client, db: None) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and "Nothing here" in response.content.decode()


def test_an_ordinary_403_or_404_is_one_line_in_the_log(world: World) -> None:
    console = next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler))
    log = io.StringIO()
    old = console.setStream(log)
    try:
        client_as(world, "viewer").get("/admin/users/")  # PermissionDenied raised in the view
        client_as(world, "viewer").get("/repositories/999/")  # Http404 raised in the view
    finally:
        console.setStream(old)  # type: ignore[arg-type]
    lines = [line for line in log.getvalue().splitlines() if line.strip()]
    assert len(lines) == 2, lines
    # The request log's line for each (portus.request); Django's own warning would be a second.
    assert " 403 " in lines[0] and "/admin/users/" in lines[0]
    assert " 404 " in lines[1] and "/repositories/999/" in lines[1]
    assert not any("Traceback" in line for line in lines)
