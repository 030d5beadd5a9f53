"""The token endpoint's fast path: a few fixed queries per request, every change felt at once."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import jwt
from django.test import Client, override_settings
from django.utils import timezone

from portus.accounts.actions import (
    change_password,
    create_token,
    revoke_token,
    set_admin,
    set_enabled,
)
from portus.accounts.models import ApplicationToken, User
from portus.policy import allowed_repository_actions
from portus.registry.actions import add_member, change_role, change_visibility, remove_member
from portus.registry.models import Namespace, Registry, TeamMembership
from portus.registry.signing import signing_key
from portus.registry_endpoints.token_service import namespaces_for
from portus.sql_rows import fetch_models, select_list, table
from tests.conftest import PASSWORD, World

SERVICE = "registry.test"  # the world fixture's registry


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def ask(
    client: Client,
    *scopes: str,
    user: str | None = None,
    password: str = PASSWORD,
    service: str = SERVICE,
    **headers: Any,
) -> Any:
    if user is not None:
        headers["HTTP_AUTHORIZATION"] = basic(user, password)
    return client.get("/v2/token", {"service": service, "scope": list(scopes)}, **headers)


def access_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.content
    claims = jwt.decode(
        response.json()["token"],
        signing_key().certificate.public_key(),
        algorithms=["ES256", "RS256"],
        audience=SERVICE,
    )
    return {f"{a['type']}:{a['name']}": a["actions"] for a in claims["access"]}


# -- a handful of queries, however many scopes -----------------------------------------------------


def test_a_remembered_password_costs_two_queries(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    # The first request verifies the hash and remembers it.
    ask(client, "repository:acme/app:pull,push", user="contributor")
    with django_assert_max_num_queries(2) as captured:
        response = ask(client, "repository:acme/app:pull,push", user="contributor")
    assert access_of(response) == {"repository:acme/app": ["pull", "push"]}
    # Both reads happen every time: the user row and the namespace with the membership.
    assert len(captured.captured_queries) == 2


def test_the_query_count_does_not_grow_with_the_scopes(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    scopes = [
        "repository:acme/app:pull,push",
        "repository:acme/group/tool:pull",
        "repository:contributor/own:push",
        "repository:outsider/theirs:pull",
        "repository:nowhere/x:pull",
    ]
    ask(client, *scopes, user="contributor")
    with django_assert_max_num_queries(2):
        response = ask(client, *scopes, user="contributor")
    assert access_of(response) == {
        "repository:acme/app": ["pull", "push"],
        "repository:acme/group/tool": ["pull"],
        "repository:contributor/own": ["push"],
    }


def test_an_application_token_costs_two_queries(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    _, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    # The first request records last_used_at; the next ones, within a minute, write nothing.
    ask(client, "repository:acme/app:pull", user="contributor", password=plain)
    with django_assert_max_num_queries(2) as captured:
        response = ask(client, "repository:acme/app:pull,push", user="contributor", password=plain)
    assert access_of(response) == {"repository:acme/app": ["pull", "push"]}
    assert not any(q["sql"].lstrip().upper().startswith("UPDATE") for q in captured.captured_queries)


def test_anonymous_costs_one_query(world: World, client: Client, django_assert_max_num_queries: Any) -> None:
    change_visibility(namespace=world.namespace, visibility="public", actor=world.owner)
    ask(client, "repository:acme/app:pull")
    with django_assert_max_num_queries(1):
        response = ask(client, "repository:acme/app:pull,push")
    assert access_of(response) == {"repository:acme/app": ["pull"]}


# -- nothing remembered outlives the change that should end it -------------------------------------


def test_a_password_change_ends_remembered_logins_at_once(world: World, client: Client) -> None:
    assert ask(client, "repository:acme/app:pull", user="viewer").status_code == 200
    change_password(user=world.viewer, password="a-new-long-password", actor=world.viewer)
    assert ask(client, "repository:acme/app:pull", user="viewer").status_code == 401
    assert ask(client, "repository:acme/app:pull", user="viewer", password="a-new-long-password").status_code == 200


def test_disabling_a_user_ends_remembered_logins_and_tokens_at_once(world: World, client: Client) -> None:
    _, plain = create_token(user=world.viewer, name="ci", actor=world.viewer)
    assert ask(client, "repository:acme/app:pull", user="viewer").status_code == 200
    assert ask(client, "repository:acme/app:pull", user="viewer", password=plain).status_code == 200
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    assert ask(client, "repository:acme/app:pull", user="viewer").status_code == 401
    assert ask(client, "repository:acme/app:pull", user="viewer", password=plain).status_code == 401


def test_a_token_works_only_with_its_owners_exact_name(world: World, client: Client) -> None:
    _, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    assert ask(client, "repository:acme/app:pull", user="contributor", password=plain).status_code == 200
    for other in ("CONTRIBUTOR", "viewer", "nobody"):
        assert ask(client, "repository:acme/app:pull", user=other, password=plain).status_code == 401


def test_a_revoked_token_is_refused_on_the_next_request(world: World, client: Client) -> None:
    token, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    assert ask(client, "repository:acme/app:push", user="contributor", password=plain).status_code == 200
    revoke_token(token=token, actor=world.contributor)
    assert ask(client, "repository:acme/app:push", user="contributor", password=plain).status_code == 401


def test_role_and_membership_changes_apply_to_the_next_request(world: World, client: Client) -> None:
    assert access_of(ask(client, "repository:acme/app:pull,push", user="contributor")) == {
        "repository:acme/app": ["pull", "push"]
    }
    membership = TeamMembership.objects.get(team=world.team, user=world.contributor)
    change_role(membership=membership, role="viewer", actor=world.owner)
    assert access_of(ask(client, "repository:acme/app:pull,push", user="contributor")) == {
        "repository:acme/app": ["pull"]
    }
    remove_member(membership=TeamMembership.objects.get(pk=membership.pk), actor=world.owner)
    assert access_of(ask(client, "repository:acme/app:pull,push", user="contributor")) == {}
    add_member(team=world.team, user=world.outsider, role="contributor", actor=world.owner)
    assert access_of(ask(client, "repository:acme/app:pull,push", user="outsider")) == {
        "repository:acme/app": ["pull", "push"]
    }


def test_visibility_and_admin_changes_apply_to_the_next_request(world: World, client: Client) -> None:
    assert access_of(ask(client, "repository:acme/app:pull", user="outsider")) == {}
    change_visibility(namespace=world.namespace, visibility="protected", actor=world.owner)
    assert access_of(ask(client, "repository:acme/app:pull", user="outsider")) == {"repository:acme/app": ["pull"]}
    change_visibility(namespace=world.namespace, visibility="private", actor=world.owner)
    assert access_of(ask(client, "repository:acme/app:pull", user="outsider")) == {}
    set_admin(user=world.outsider, admin=True, actor=world.admin)
    assert access_of(ask(client, "registry:catalog:*", user="outsider")) == {"registry:catalog": ["*"]}
    set_admin(user=world.outsider, admin=False, actor=world.admin)
    assert access_of(ask(client, "registry:catalog:*", user="outsider")) == {}


# -- the registry a worker remembers by service name -----------------------------------------------


def test_a_renamed_registry_stops_answering_to_its_old_name(world: World, client: Client) -> None:
    assert ask(client, "repository:acme/app:pull", user="owner").status_code == 200
    world.registry.hostname = "registry.renamed:5000"
    world.registry.save()
    assert ask(client, "repository:acme/app:pull", user="owner").status_code == 400


def test_a_registry_remembered_by_another_worker_can_only_deny(world: World, client: Client) -> None:
    """Another worker renamed the registry (no signal reaches this process): until this process's
    memory of the old name expires, the old name gets tokens that grant nothing on that registry."""
    assert access_of(ask(client, "repository:acme/app:pull", user="owner")) == {"repository:acme/app": ["pull"]}
    Registry.objects.filter(pk=world.registry.pk).update(hostname="registry.renamed:5000")
    response = ask(client, "repository:acme/app:pull,push", user="owner")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert access_of(response) == {}


# -- the endpoint skips the page middleware, not the safety checks ---------------------------------


def test_the_token_endpoint_sets_no_cookie_but_keeps_the_security_headers(world: World, client: Client) -> None:
    response = ask(client, "repository:acme/app:pull", user="owner")
    assert response.status_code == 200
    assert not response.cookies
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"


@override_settings(ALLOWED_HOSTS=["portus.example.com"])
def test_the_token_endpoint_still_checks_the_host(world: World, client: Client) -> None:
    assert ask(client, "repository:acme/app:pull", user="owner", HTTP_HOST="evil.example").status_code == 400
    ok = ask(client, "repository:acme/app:pull", user="owner", HTTP_HOST="portus.example.com")
    assert ok.status_code == 200


# -- the pieces ------------------------------------------------------------------------------------


def test_fixed_sql_rows_equal_what_the_orm_loads(world: World) -> None:
    User.objects.filter(pk=world.viewer.pk).update(locked_until=timezone.now(), failed_sign_ins=3)
    token, _ = create_token(
        user=world.viewer,
        name="ci",
        expires_at=timezone.now() + dt.timedelta(days=1),
        actor=world.viewer,
    )
    for model, pk in ((User, world.viewer.pk), (ApplicationToken, token.pk)):
        sql = f"SELECT {select_list(model, 'x')} FROM {table(model)} x WHERE x.id = %s"
        (fetched,) = fetch_models(model, sql, [pk])
        loaded = model.objects.get(pk=pk)
        for field in model._meta.concrete_fields:
            assert getattr(fetched, field.attname) == getattr(loaded, field.attname), field.name
            assert type(getattr(fetched, field.attname)) is type(getattr(loaded, field.attname)), field.name
        assert fetched._state.adding is False


def test_tokens_carry_the_header_pyjwt_would_write(world: World) -> None:
    key = signing_key()
    ours = key.sign({"sub": "x"})
    theirs = jwt.encode(
        {"sub": "x"},
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "x5c": [key.x5c]},
    )
    assert ours.split(".")[0] == theirs.split(".")[0]
    assert jwt.decode(ours, key.certificate.public_key(), algorithms=[key.algorithm]) == {"sub": "x"}


def test_the_policy_takes_team_roles_it_is_given_and_looks_up_the_others(
    world: World, django_assert_num_queries: Any
) -> None:
    asked = {"pull", "push"}
    with django_assert_num_queries(0):
        assert allowed_repository_actions(world.viewer, world.namespace, asked, {world.team.pk: "contributor"}) == [
            "pull",
            "push",
        ]
        assert allowed_repository_actions(world.contributor, world.namespace, asked, {world.team.pk: None}) == []
    with django_assert_num_queries(2):  # no mapping, or a mapping without the team: one look-up per check
        assert allowed_repository_actions(world.viewer, world.namespace, asked) == ["pull"]
    assert allowed_repository_actions(world.viewer, world.namespace, asked, {}) == ["pull"]


def test_a_token_request_leaves_nothing_on_the_objects_it_read(world: World) -> None:
    registry = Registry.objects.get(pk=world.registry.pk)
    namespaces, team_roles = namespaces_for(world.contributor, registry, SERVICE, {"acme", "contributor"})
    assert team_roles == {world.team.pk: "contributor"}
    assert set(namespaces) == {"acme", "contributor"}
    for namespace in namespaces.values():
        assert not set(vars(namespace)) - set(vars(Namespace.objects.get(pk=namespace.pk)))
    assert not [name for name in vars(world.contributor) if name.startswith("_portus")]
