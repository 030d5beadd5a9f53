"""Every endpoint against every persona: each gets exactly what the policy allows, nothing more.

The expected statuses are written out by hand from the rules (not computed from portus.policy), so a
change to the policy that changes who may do what shows up here. 404 means "you cannot see it",
403 "you can see it but may not do this", 401 "sign in (again)".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from portus.accounts.actions import create_token, create_user
from portus.registry.actions import add_member, create_comment, create_team
from portus.registry.models import Repository, Tag
from tests.api import PERSONAS, Api, give_tokens
from tests.conftest import World

A, OW, C, V, X, N = "admin", "owner", "contributor", "viewer", "outsider", "anonymous"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    allowed: dict[str, int]  # persona -> status; personas not named get `others`
    others: int
    body: dict[str, Any] | None = None

    def expected(self, persona: str) -> int:
        if persona in ("disabled", "revoked"):
            return 401  # bad credentials are refused everywhere, before anything else
        return self.allowed.get(persona, self.others)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys((A, OW, C, V, X, N), status)


TEAM_READERS = {A: 200, OW: 200, C: 200, V: 200, N: 404}  # outsider: 404 by `others`
OWNERS_WRITE = {A: 200, OW: 200, C: 403, V: 403, N: 401}

CASES = {
    # health and friends: open to anyone (503: the test registry "registry.test" does not answer)
    "ping": Case("get", "_ping", everyone(200), 200),
    "version": Case("get", "version", everyone(200), 200),
    "health": Case("get", "health", everyone(503), 503),
    "bootstrap": Case(
        "post",
        "users/bootstrap",
        everyone(403),
        403,
        {"username": "first", "password": "a-long-password-1"},
    ),
    # users
    "list users": Case("get", "users", {A: 200, N: 401}, 403),
    "create user": Case(
        "post",
        "users",
        {A: 201, N: 401},
        403,
        {"username": "newbie", "password": "pw-long-enough-1"},
    ),
    "show user": Case("get", "users/viewer", {A: 200, V: 200}, 404),
    "edit profile": Case("put", "users/viewer", {A: 200, V: 200, N: 401}, 404, {"display_name": "Vi"}),
    "make admin": Case("put", "users/viewer", {A: 200, V: 403, N: 401}, 404, {"admin": True}),
    "disable user": Case("put", "users/viewer", {A: 200, V: 403, N: 401}, 404, {"enabled": False}),
    "delete user": Case("delete", "users/viewer", {A: 204, V: 403, N: 401}, 404),
    # application tokens: own only; admins also bots'
    "list own tokens": Case("get", "users/viewer/application_tokens", {A: 403, V: 200, N: 401}, 404),
    # Every persona here calls with an application token, and a token never mints tokens (issue 9
    # item 3); a browser session does (tests/test_security_credentials.py).
    "create own token": Case(
        "post", "users/viewer/application_tokens", {A: 403, V: 403, N: 401}, 404, {"name": "laptop"}
    ),
    "revoke own token": Case("delete", "users/viewer/application_tokens/{viewer_token}", {A: 403, V: 204, N: 401}, 404),
    "list bot tokens": Case("get", "users/ci-bot/application_tokens", {A: 200, N: 401}, 404),
    "create bot token": Case("post", "users/ci-bot/application_tokens", {A: 201, N: 401}, 404, {"name": "ci-2"}),
    # teams
    "list teams": Case("get", "teams", everyone(200), 200),
    "create team": Case("post", "teams", {N: 401}, 201, {"name": "newteam"}),
    "show team": Case("get", "teams/acme", TEAM_READERS, 404),
    "edit team": Case("put", "teams/acme", OWNERS_WRITE, 404, {"description": "Acme's images"}),
    "delete team with namespaces": Case("delete", "teams/acme", {A: 400, OW: 400, C: 403, V: 403, N: 401}, 404),
    "delete empty team": Case("delete", "teams/spare", {A: 204, OW: 204, C: 403, V: 403, N: 401}, 404),
    "list members": Case("get", "teams/acme/members", TEAM_READERS, 404),
    "add member": Case(
        "post",
        "teams/acme/members",
        {A: 201, OW: 201, C: 403, V: 403, N: 401},
        404,
        {"user": "outsider", "role": "viewer"},
    ),
    "change role": Case("put", "teams/acme/members/viewer", OWNERS_WRITE, 404, {"role": "contributor"}),
    "remove member": Case("delete", "teams/acme/members/viewer", {A: 204, OW: 204, C: 403, V: 403, N: 401}, 404),
    "team namespaces": Case("get", "teams/acme/namespaces", TEAM_READERS, 404),
    # namespaces
    "list namespaces": Case("get", "namespaces", everyone(200), 200),
    "create namespace": Case(
        "post",
        "namespaces",
        {A: 201, OW: 201, C: 201, V: 403, X: 400, N: 401},
        0,
        {"name": "newns", "team": "acme"},
    ),
    "validate namespace": Case("get", "namespaces/validate?name=newns", {N: 401}, 200),
    "show namespace": Case("get", "namespaces/acme", TEAM_READERS, 404),
    "show personal namespace": Case("get", "namespaces/owner", {A: 200, OW: 200}, 404),
    "describe namespace": Case("put", "namespaces/acme", OWNERS_WRITE, 404, {"description": "all of Acme"}),
    "change visibility": Case("put", "namespaces/acme", OWNERS_WRITE, 404, {"visibility": "public"}),
    # a namespace that still holds images is never deleted: the names would be granted to its next owner
    "delete namespace holding images": Case(
        "delete", "namespaces/acme", {A: 400, OW: 400, C: 403, V: 403, N: 401}, 404
    ),
    "delete empty namespace": Case("delete", "namespaces/empty", {A: 204, OW: 204, C: 403, V: 403, N: 401}, 404),
    "namespace repositories": Case("get", "namespaces/acme/repositories", TEAM_READERS, 404),
    # repositories and tags (acme/app is in the private team namespace; deletion is enabled)
    "list repositories": Case("get", "repositories", everyone(200), 200),
    "show repository": Case("get", "repositories/{app}", TEAM_READERS, 404),
    "describe repository": Case(
        "put",
        "repositories/{app}",
        {A: 200, OW: 200, C: 200, V: 403, N: 401},
        404,
        {"description": "The app"},
    ),
    # Allowed deletions reach the registry first; the matrix's registry does not run, hence 502
    # (tests/test_api_delete_e2e.py deletes through a real one).
    "delete repository": Case("delete", "repositories/{app}", {A: 502, OW: 502, C: 403, V: 403, N: 401}, 404),
    "repository tags": Case("get", "repositories/{app}/tags", TEAM_READERS, 404),
    "grouped tags": Case("get", "repositories/{app}/tags/grouped", TEAM_READERS, 404),
    "show tag": Case("get", "tags/{v1}", TEAM_READERS, 404),
    "delete tag": Case("delete", "tags/{v1}", {A: 502, OW: 502, C: 403, V: 403, N: 401}, 404),
    "public repository": Case("get", "repositories/{public_app}", everyone(200), 200),
    # registries
    "list registries": Case("get", "registries", {N: 401}, 200),
    "show registry": Case("get", "registries/{registry}", {N: 401}, 200),
    "add registry": Case("post", "registries", {A: 201, N: 401}, 403, {"name": "second", "hostname": "second.test"}),
    "change registry": Case("put", "registries/{registry}", {A: 200, N: 401}, 403, {"external_hostname": "pull.test"}),
    "validate registry": Case("get", "registries/validate?hostname=registry.test", {A: 200, N: 401}, 403),
    # search, stars, comments, activities
    "search": Case("get", "search?q=app", everyone(200), 200),
    "list stars": Case("get", "stars", {N: 401}, 200),
    "star": Case("post", "repositories/{app}/star", {A: 200, OW: 200, C: 200, V: 200, N: 401}, 404),
    "unstar": Case("delete", "repositories/{app}/star", {A: 200, OW: 200, C: 200, V: 200, N: 401}, 404),
    "list comments": Case("get", "repositories/{app}/comments", TEAM_READERS, 404),
    "comment": Case(
        "post",
        "repositories/{app}/comments",
        {A: 201, OW: 201, C: 201, V: 201, N: 401},
        404,
        {"body": "Nice image"},
    ),
    "delete someone's comment": Case(
        "delete",
        "repositories/{app}/comments/{comment}",
        {A: 204, C: 204, OW: 403, V: 403, N: 401},
        404,
    ),
    "activities": Case("get", "activities", everyone(200), 200),
    "activities csv": Case("get", "activities.csv", everyone(200), 200),
}


def build(world: World) -> dict[str, Any]:
    """What the cases name: a private repository with two tags, a public one, a bot, a comment."""
    from portus.registry.actions import create_namespace

    app = Repository.objects.create(namespace=world.namespace, name="app")
    v1 = Tag.objects.create(repository=app, name="v1", digest="sha256:" + "a" * 64, size=10)
    Tag.objects.create(repository=app, name="latest", digest=v1.digest, size=10)
    public_ns = create_namespace(name="open", team=world.team, visibility="public", actor=world.owner)
    public_app = Repository.objects.create(namespace=public_ns, name="tool")
    create_namespace(name="empty", team=world.team, visibility="private", actor=world.owner)
    bot = create_user(username="ci-bot", bot=True, actor=world.admin)
    create_token(user=bot, name="ci", actor=world.admin)
    viewer_token, _ = create_token(user=world.viewer, name="laptop-old", actor=world.viewer)
    spare = create_team(name="spare", owner=world.owner, actor=world.owner)
    add_member(team=spare, user=world.contributor, role="contributor", actor=world.owner)
    add_member(team=spare, user=world.viewer, role="viewer", actor=world.owner)
    comment = create_comment(repository=app, body="first!", actor=world.contributor)
    return {
        "app": app.pk,
        "v1": v1.pk,
        "public_app": public_app.pk,
        "registry": world.registry.pk,
        "viewer_token": viewer_token.pk,
        "comment": comment.pk,
    }


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case_name", list(CASES))
def test_persona_gets_what_the_policy_allows(world: World, portus_config, persona: str, case_name: str) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    portus_config("delete.enabled", True)
    case = CASES[case_name]
    ids = build(world)
    api = Api(world, Client(), give_tokens(world))
    answer = api.call(case.method, case.path.format(**ids), persona, json=case.body)
    assert answer.status == case.expected(persona), (
        case_name,
        persona,
        answer.status,
        answer.text[:300],
    )
    if answer.status >= 400:
        assert answer.body["message"], "every refusal says why"
