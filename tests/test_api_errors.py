"""Failures under /api/ are answered in JSON: crashes (500, traceback in the log, DEBUG on or off),
and requests Django or the API refuse before any endpoint runs."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from portus import policy
from portus.api import params
from portus.api.errors import CRASHED
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


class Broken(Exception):
    """What the patched dependencies raise: nothing in Portus catches it on purpose."""


def broken(*args: object, **kwargs: object) -> None:
    raise Broken("a dependency failed")


def assert_json_crash(answer_status: int, answer_body: object, caplog: pytest.LogCaptureFixture) -> None:
    assert answer_status == 500
    assert answer_body == {"message": CRASHED}
    logged = [r for r in caplog.records if r.name == "portus.api.errors" and r.exc_info]
    assert logged, "the traceback is in the log"
    assert logged[-1].exc_info is not None and isinstance(logged[-1].exc_info[1], Broken)


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_a_crash_inside_an_endpoint_answers_json_500_and_logs_the_traceback(  # type: ignore[no-untyped-def]
    api: Api, settings, monkeypatch, caplog, debug: bool
) -> None:
    settings.DEBUG = debug
    monkeypatch.setattr(policy, "visible_repositories", broken)
    with caplog.at_level(logging.ERROR, logger="portus.api.errors"):
        answer = api.get("repositories", "owner")
    assert answer.headers["Content-Type"].startswith("application/json")
    assert_json_crash(answer.status, answer.body, caplog)


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_a_crash_while_authenticating_answers_json_500(  # type: ignore[no-untyped-def]
    api: Api, settings, monkeypatch, caplog, debug: bool
) -> None:
    settings.DEBUG = debug
    monkeypatch.setattr(policy, "can_browse_anonymously", broken)
    with caplog.at_level(logging.ERROR, logger="portus.api.errors"):
        answer = api.get("repositories", "anonymous")
    assert_json_crash(answer.status, answer.body, caplog)


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_a_crash_before_django_ninja_runs_the_endpoint_answers_json_500(  # type: ignore[no-untyped-def]
    api: Api, settings, monkeypatch, caplog, debug: bool
) -> None:
    # The NUL check wraps django-ninja's operation from outside, beyond its exception handlers.
    settings.DEBUG = debug
    monkeypatch.setattr(params, "_has_nul", broken)
    with caplog.at_level(logging.ERROR, logger="portus.api.errors"):
        answer = api.get("repositories", "owner", q="app")
    assert answer.headers["Content-Type"].startswith("application/json")
    assert_json_crash(answer.status, answer.body, caplog)


def test_a_json_body_nested_beyond_the_parsers_depth_is_refused_with_400(api: Api) -> None:
    deep = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answer = Client().post(
        "/api/v1/teams",
        data=deep,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.tokens['owner']}"},
    )
    assert answer.status_code == 400
    assert "nests too deeply" in answer.json()["message"]


def test_a_body_beyond_the_upload_limit_is_refused_with_400_in_json(api: Api, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = Client().post(
        "/api/v1/teams",
        data=json.dumps({"name": "big", "description": "x" * 2000}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.tokens['owner']}"},
    )
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/json")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in answer.json()["message"]
