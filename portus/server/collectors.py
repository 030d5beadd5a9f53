"""Gauges read from the database when Prometheus scrapes: the inventory (named like Harbor's exporter), the
registry events' backlog and age, the scan queue by state. A handful of COUNT queries, nothing kept in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portus.accounts.models import User
from portus.registry.models import EventState, Namespace, Registry, RegistryEvent, Repository, Tag, Team, Visibility
from portus.security.models import Scan, ScanState

log = logging.getLogger(__name__)


def counted(name: str, documentation: str, value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        try:
            metrics = list(self.read())
        except DatabaseError as exc:
            log.warning("metrics: the database does not answer (%s)", type(exc).__name__)
            yield counted("portus_database_up", "1 when the scrape could read the database.", 0)
            return
        yield counted("portus_database_up", "1 when the scrape could read the database.", 1)
        yield from metrics

    def read(self) -> Iterator[Metric]:
        yield counted("portus_registries", "Registries Portus answers for.", Registry.objects.count())
        namespaces = GaugeMetricFamily("portus_namespaces", "Namespaces, by visibility.", labels=["visibility"])
        by_visibility = dict(Namespace.objects.values_list("visibility").annotate(n=Count("pk")).order_by())
        for visibility in Visibility.values:
            namespaces.add_metric([visibility], by_visibility.get(visibility, 0))
        yield namespaces
        yield counted("portus_repositories", "Repositories.", Repository.objects.count())
        yield counted("portus_tags", "Tags.", Tag.objects.count())
        users = GaugeMetricFamily("portus_users", "User accounts (people and bots), by state.", labels=["state"])
        by_state = dict(User.objects.values_list("is_active").annotate(n=Count("pk")).order_by())
        users.add_metric(["enabled"], by_state.get(True, 0))
        users.add_metric(["disabled"], by_state.get(False, 0))
        yield users
        yield counted("portus_teams", "Teams.", Team.objects.count())

        pending = RegistryEvent.objects.filter(state=EventState.PENDING).aggregate(
            n=Count("pk"), oldest=Min("received_at")
        )
        yield counted("portus_registry_events_backlog", "Stored registry events not applied yet.", pending["n"])
        age = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
        yield GaugeMetricFamily(
            "portus_registry_events_oldest_age_seconds",
            "Seconds since the oldest event of the backlog was received (0 without a backlog).",
            value=max(age, 0.0),
        )
        yield counted(
            "portus_registry_events_given_up",
            "Stored registry events marked failed after the configured attempts.",
            RegistryEvent.objects.filter(state=EventState.FAILED).count(),
        )

        scans = GaugeMetricFamily(
            "portus_scans", "Scans (one image digest by one backend), by state.", labels=["state"]
        )
        by_scan_state = dict(Scan.objects.values_list("state").annotate(n=Count("pk")).order_by())
        for state in ScanState.values:
            scans.add_metric([state], by_scan_state.get(state, 0))
        yield scans
