"""The worker's own /metrics (metrics.worker_listen): its counters of events, synchronization and scans."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from portus.background.metrics_endpoint import parse_listen, start_metrics_server
from portus.background.worker import Worker
from portus.registry.models import RegistryEvent
from tests.conftest import World
from tests.test_background_events import push_event

TOKEN = "worker-metrics-token"


@pytest.fixture
def endpoint(portus_config: Any) -> Iterator[str]:
    portus_config("metrics.enabled", True)
    portus_config("metrics.token", TOKEN)
    server = start_metrics_server("127.0.0.1:0")
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def value(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def scrape(url: str) -> str:
    response = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    return response.text


def test_the_worker_serves_its_counters_behind_the_token(world: World, endpoint: str) -> None:
    world.registry.hostname = "127.0.0.1:1"  # nothing listens: the event is given back for a retry
    world.registry.save()
    before = scrape(endpoint)
    push_event(world)
    assert Worker().handle_one_event() is True
    after = scrape(endpoint)
    name = "portus_registry_events_failed_total"
    assert value(after, name, '{outcome="retry"}') == value(before, name, '{outcome="retry"}') + 1
    assert "portus_repositories" not in after  # the database gauges are the web server's
    assert requests.get(endpoint, timeout=10).status_code == 401
    assert requests.get(endpoint, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    assert requests.get(endpoint.replace("/metrics", "/other"), timeout=10).status_code == 404


def test_an_applied_event_is_counted_by_its_state(world: World, endpoint: str) -> None:
    before = scrape(endpoint)
    push_event(world, "e2", repository="nobody-has-this/app")  # no such namespace: understood, nothing to do
    Worker().handle_one_event()
    event = RegistryEvent.objects.get(event_id="e2")
    assert event.state == "skipped"
    after = scrape(endpoint)
    name = "portus_registry_events_applied_total"
    assert value(after, name, f'{{state="{event.state}"}}') == value(before, name, f'{{state="{event.state}"}}') + 1


@pytest.mark.parametrize("listen", ["9400", ":9400", "host:port", "127.0.0.1:99999"])
def test_a_bad_listen_address_is_refused_saying_how_to_write_it(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(listen)
