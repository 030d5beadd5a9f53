"""Fixtures for end-to-end tests: Portus on a live server, a real registry configured by portusctl."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from portus.cli import main as portusctl
from tests.conftest import World, make_world
from tests.support.registry import RunningRegistry, free_port, running_registry


@dataclass
class Stack:
    world: World
    registry: RunningRegistry
    portus_url: str
    tmp: Path

    def ref(self, repository: str, tag: str = "v1") -> str:
        return f"docker://{self.registry.hostname}/{repository}:{tag}"


def start_stack(live_server: object, tmp_path: Path) -> Iterator[Stack]:
    hostname = f"127.0.0.1:{free_port()}"
    world = make_world(registry_host=hostname)
    config_path = tmp_path / "registry-config.yml"
    status = portusctl(
        [
            "registry",
            "config",
            "--portus-url",
            live_server.url,
            "--storage",
            str(tmp_path / "storage"),  # type: ignore[attr-defined]
            "-o",
            str(config_path),
        ]
    )
    assert status == 0
    with running_registry(config_path.read_text(), hostname, tmp_path / "registry") as registry:
        yield Stack(world, registry, live_server.url, tmp_path)  # type: ignore[attr-defined]


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)
