"""Shared fixtures: named personas, a registry with a team namespace, and setting overrides."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings

from portus.accounts.actions import create_user
from portus.accounts.models import User
from portus.registry.actions import add_member, create_namespace, create_registry, create_team
from portus.registry.models import Namespace, Registry, Team

IN_CI = os.environ.get("CI") == "true"
PASSWORD = "correct-horse-battery"


def require(condition: bool, reason: str) -> None:
    """Skip on a newcomer's machine when a real part is missing; fail in CI, where it must be there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: about PostgreSQL alone (NOTIFY); collected only on PostgreSQL")
    config.addinivalue_line(
        "markers",
        "image_build: builds the container image with podman and runs it (minutes; see docs/deployment.md); "
        "collected only with PORTUS_TEST_IMAGE_BUILD=1",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the PostgreSQL-only tests on other databases (they do not apply there, so they neither run nor
    skip), and the container image build unless asked for (PORTUS_TEST_IMAGE_BUILD=1)."""
    from django.db import connections

    if os.environ.get("PORTUS_TEST_IMAGE_BUILD") != "1":
        _leave_out(config, items, "image_build")
    if connections["default"].vendor != "postgresql":
        _leave_out(config, items, "postgresql")


def _leave_out(config: pytest.Config, items: list[pytest.Item], marker: str) -> None:
    left_out = [item for item in items if item.get_closest_marker(marker) is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.get_closest_marker(marker) is None]


@pytest.fixture
def portus_config() -> Iterator[Callable[[str, Any], None]]:
    """Change a config.yml setting for one test: ``portus_config("delete.enabled", True)``."""
    saved = settings.PORTUS

    def set_value(dotted: str, value: Any) -> None:
        # The settings are frozen: put a validated copy in their place.
        settings.PORTUS = settings.PORTUS.replaced(dotted, value)

    yield set_value
    settings.PORTUS = saved


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@dataclass
class World:
    """The personas of every test: an admin, a team (owner, contributor, viewer), an outsider."""

    registry: Registry
    admin: User
    owner: User
    contributor: User
    viewer: User
    outsider: User
    team: Team
    namespace: Namespace  # the team's, private

    def persona(self, name: str) -> User | None:
        return None if name == "anonymous" else getattr(self, name)


def make_world(registry_host: str = "registry.test") -> World:
    registry = create_registry(name="test", hostname=registry_host)
    admin = create_user(username="admin", email="admin@example.com", password=PASSWORD, admin=True)
    owner = create_user(username="owner", email="owner@example.com", password=PASSWORD, admin=False)
    contributor = create_user(username="contributor", password=PASSWORD, admin=False)
    viewer = create_user(username="viewer", password=PASSWORD, admin=False)
    outsider = create_user(username="outsider", password=PASSWORD, admin=False)
    team = create_team(name="acme", owner=owner, actor=owner)
    add_member(team=team, user=contributor, role="contributor", actor=owner)
    add_member(team=team, user=viewer, role="viewer", actor=owner)
    namespace = create_namespace(name="acme", team=team, visibility="private", registry=registry, actor=owner)
    return World(registry, admin, owner, contributor, viewer, outsider, team, namespace)


@pytest.fixture
def world(db: None) -> World:
    return make_world()
