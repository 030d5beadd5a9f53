"""schemathesis against the live OpenAPI document: no 500, and every response matches its schema.

The examples are bounded (hypothesis max_examples) so the run takes a couple of minutes at most.
Each operation, every method (reads, writes and DELETE), is generated twice: as the administrator
(who may do everything, so the deepest code paths run) and as an outsider (who meets the 403/404
answers). Random ids and names rarely hit anything, so every other example is aimed at real objects
(a team, its namespace, a repository with a tag and a comment, a user with a token), re-created
when an earlier example deleted them: the writes and deletions then really change things.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from portus.accounts.actions import create_token
from portus.accounts.models import ApplicationToken, User
from portus.registry.distribution_config import render_distribution_config
from portus.registry.models import Comment, Namespace, NamespaceKind, Registry, Repository, Tag, Team, TeamMembership
from tests.api import give_tokens
from tests.conftest import IN_CI, make_world
from tests.support.registry import free_port, running_registry

if IN_CI:
    import schemathesis  # CI must have it: a missing tool is a failure there, not a skip
else:
    schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (4.x)")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

MAX_EXAMPLES = 4
TARGETED = itertools.count()


def real_objects() -> dict[str, str]:
    """Objects the examples aim at, created again when an example deleted them: path parameter -> value."""
    # Examples aimed at a registry change a spare one.
    registry = Registry.objects.order_by("pk").first()
    assert registry is not None
    spare, _ = Registry.objects.get_or_create(name="spare", defaults={"hostname": "spare.test:5000"})
    victim, _ = User.objects.get_or_create(username="victim", defaults={"email": "victim@example.com"})
    team, _ = Team.objects.get_or_create(name="targets")
    TeamMembership.objects.get_or_create(team=team, user=victim, defaults={"role": "owner"})
    namespace, _ = Namespace.objects.get_or_create(
        registry=registry, name="targets", defaults={"kind": NamespaceKind.TEAM, "team": team}
    )
    repository, _ = Repository.objects.get_or_create(namespace=namespace, name="app")
    tag, _ = Tag.objects.get_or_create(repository=repository, name="v1", defaults={"digest": "sha256:" + "b" * 64})
    comment = Comment.objects.filter(repository=repository).first() or Comment.objects.create(
        repository=repository, author=victim, body="a comment"
    )
    token = ApplicationToken.objects.filter(user=victim).first() or create_token(user=victim, name="t", actor=None)[0]
    return {
        "registry_id": str(spare.pk),
        "repository_id": str(repository.pk),
        "tag_id": str(tag.pk),
        "comment_id": str(comment.pk),
        "token_id": str(token.pk),
        "member": victim.username,
    }


def aim_at_real_objects(case: Any, targets: dict[str, str]) -> None:
    path = case.operation.path
    # {key} names a namespace, a team or a user depending on the route.
    targets["key"] = "targets" if path.startswith(("/api/v1/namespaces", "/api/v1/teams")) else "victim"
    for name in list(case.path_parameters or {}):
        if name in targets:
            case.path_parameters[name] = targets[name]


@pytest.fixture
def api_schema(db: None, portus_config, tmp_path: Path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    portus_config("delete.enabled", True)
    # A real registry, so that deleting a tag or a repository goes all the way (the registry answers that
    # the manifest is unknown, which Portus takes as already deleted) instead of stopping at "unreachable".
    hostname = pytest.portus_registry_host = f"127.0.0.1:{free_port()}"  # type: ignore[attr-defined]
    world = make_world(registry_host=hostname)
    pytest.portus_tokens = give_tokens(world)  # type: ignore[attr-defined]
    config = render_distribution_config(world.registry, portus_url="http://127.0.0.1:9", storage_dir=tmp_path / "data")
    with running_registry(config, hostname, tmp_path / "registry"):
        yield from wsgi_schema()


def wsgi_schema() -> Iterator[Any]:
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
    # Only schema-valid examples are aimed: a negative one must keep its invalid path value to be refused.
    positive = case.meta is None or case.meta.generation.mode.is_positive
    # The registry under test keeps pointing at the running registry, whatever an example changed.
    under_test = Registry.objects.order_by("pk").values_list("pk", flat=True).first()
    Registry.objects.filter(pk=under_test).update(hostname=pytest.portus_registry_host, use_ssl=False)  # type: ignore[attr-defined]
    if positive and next(TARGETED) % 2 == 0:
        aim_at_real_objects(case, real_objects())
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
