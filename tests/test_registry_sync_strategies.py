"""What each ``background.sync.strategy`` does: when a synchronization runs, and whether it deletes."""

from __future__ import annotations

import pytest

from portus.config import SYNC_STRATEGIES
from portus.registry.models import Registry
from portus.registry.sync import STRATEGIES, deletes, may_run, should_run
from tests.conftest import World
from tests.support.web import add_repository


def test_every_configurable_strategy_has_a_meaning() -> None:
    assert set(STRATEGIES) == set(SYNC_STRATEGIES)


@pytest.mark.parametrize(
    ("strategy", "at_start", "later", "delete"),
    [
        ("initial", True, True, False),
        ("on-start", True, False, True),
        ("update", True, True, False),
        ("update-delete", True, True, True),
        ("disabled", False, False, False),
    ],
)
def test_strategies_run_when_they_should(strategy: str, at_start: bool, later: bool, delete: bool) -> None:
    assert may_run(strategy, at_start=True) is at_start
    assert may_run(strategy, at_start=False) is later
    assert deletes(strategy) is delete


def test_initial_runs_only_while_the_registry_has_no_repository(world: World) -> None:
    registry: Registry = world.registry
    assert should_run("initial", registry, at_start=False) == (True, False)
    add_repository(world.namespace, "app")  # one tag
    assert should_run("initial", registry, at_start=True) == (False, False)
    assert should_run("update-delete", registry, at_start=False) == (True, True)
    assert should_run("on-start", registry, at_start=False) == (False, False)
