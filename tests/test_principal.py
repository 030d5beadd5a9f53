"""Principals and actors: the policy reads None and AnonymousUser alike, INTERNAL only reads the registry,
and an action records an anonymous actor as nobody."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from portus import policy
from portus.principal import INTERNAL
from portus.registry.activity import record
from portus.registry.models import Activity
from tests.conftest import World

pytestmark = pytest.mark.django_db


def test_anonymous_user_and_none_get_the_same_answers(world: World) -> None:
    for principal in (None, AnonymousUser()):
        assert not policy.is_signed_in(principal)
        assert not policy.can_pull(principal, world.namespace)
        assert not policy.can_create_team(principal)
        assert list(policy.visible_teams(principal)) == []


def test_internal_may_read_every_namespace_but_is_not_a_signed_in_user(world: World) -> None:
    assert policy.can_pull(INTERNAL, world.namespace)
    assert policy.can_list_catalog(INTERNAL)
    assert not policy.is_admin(INTERNAL)
    assert not policy.is_signed_in(INTERNAL)
    assert not policy.can_push(INTERNAL, world.namespace)


def test_a_disabled_user_is_treated_as_anonymous(world: World) -> None:
    world.owner.is_active = False
    assert not policy.is_signed_in(world.owner)
    assert not policy.can_manage_team(world.owner, world.team)
    assert policy.can_manage_team(world.admin, world.team)


def test_an_anonymous_actor_is_recorded_as_nobody(world: World) -> None:
    line = record(AnonymousUser(), "test.anonymous", "target")
    assert line.actor_id is None
    assert Activity.objects.get(pk=line.pk).actor is None


def test_a_user_actor_is_recorded_by_name(world: World) -> None:
    line = record(world.owner, "test.user", "target")
    assert Activity.objects.get(pk=line.pk).actor == world.owner
