"""The Prometheus metrics every process counts (tokens, requests, registry events, sync, scans) and their exposition.

The counters live here, below every package that increments them. Under gunicorn, ``portusctl serve``
sets PROMETHEUS_MULTIPROC_DIR before any worker starts, so each worker writes its samples into that
directory and a scrape of any worker adds them all up (docs/deployment.md, "Metrics")."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import REGISTRY, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Written by portusctl serve into the directory it made for a server: gunicorn's on_exit removes only such a one.
METRICS_DIR_MARKER = ".made-by-portusctl-serve"
M = TypeVar("M", bound=MetricWrapperBase)

# A token request is answered in milliseconds; a slow database or a cold cache shows in the upper buckets.
TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TOKENS = Counter(
    "portus_token_requests",
    "Answers of GET /v2/token: outcome issued or refused, and the reason of a refusal.",
    ["outcome", "reason"],
)
TOKEN_SECONDS = Histogram(
    "portus_token_request_duration_seconds",
    "Time to answer GET /v2/token, by outcome.",
    ["outcome"],
    buckets=TOKEN_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "portus_http_requests",
    "HTTP requests answered, by route (the URL pattern, not the path), method and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "portus_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["route"],
    buckets=REQUEST_BUCKETS,
)
EVENTS_RECEIVED = Counter(
    "portus_registry_events_received",
    "Registry notification events stored by the intake, by action (push, pull, delete).",
    ["action"],
)
EVENTS_APPLIED = Counter(
    "portus_registry_events_applied",
    "Registry events the worker finished, by state (done, skipped).",
    ["state"],
)
EVENTS_FAILED = Counter(
    "portus_registry_events_failed",
    "Failed attempts at a registry event: retry (given back with a backoff) or gave_up (marked failed).",
    ["outcome"],
)
SYNC_RUNS = Counter(
    "portus_sync_runs",
    "Synchronization runs of one registry, by result (complete, incomplete, error).",
    ["result"],
)
SYNC_CHANGES = Counter(
    "portus_sync_changes",
    "What synchronization changed, by kind (added_repositories, added_tags, changed_tags, deleted_tags, ...).",
    ["kind"],
)
SCANS_FINISHED = Counter(
    "portus_scans_finished",
    "Scans a worker ran, by backend and result (done, retry, waiting: the scanner's report was not ready).",
    ["backend", "result"],
)


_children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}


def child(metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, the child looked up once: labels() checks and converts its
    arguments under a lock on every call, several times per token request. The children stay the
    ones the metric holds (nothing here removes or clears one, which would orphan a remembered child)."""
    key = (metric, labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found  # type: ignore[return-value]


class _Everything(Collector):
    """Whatever this process's default registry holds (the counters above, process and GC metrics)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(collectors: Iterable[Collector] = ()) -> bytes:
    """The text a scrape reads: this process's metrics, or every gunicorn worker's added up, plus COLLECTORS
    (values read at scrape time, such as the inventory gauges)."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get(MULTIPROCESS_VARIABLE):
        MultiProcessCollector(registry)
    else:
        registry.register(_Everything())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


def bearer_accepted(authorization: str | None, token: str) -> bool:
    """True when no token is configured, or AUTHORIZATION is ``Bearer TOKEN`` (compared in constant time)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
