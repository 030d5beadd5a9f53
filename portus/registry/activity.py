"""Writing the activity log, and the daily roll-up of pushes and pulls the charts read; callers run inside
the transaction of the change they record."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.apps import apps as installed_apps
from django.apps.registry import Apps
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from portus.accounts.models import User
from portus.principal import Actor
from portus.registry.models import Activity, ActivityDaily, Namespace, Team
from portus.registry.names import split_repository_name

PUSH = "repository.push"


def record(
    actor: Actor,
    action: str,
    target: str,
    *,
    namespace: Namespace | None = None,
    team: Team | None = None,
    **data: Any,
) -> Activity:
    user = actor if isinstance(actor, User) and actor.pk else None
    activity = Activity.objects.create(
        actor=user, action=action, target=target[:300], namespace=namespace, team=team, data=data
    )
    if action == PUSH and namespace is not None:
        count_day(namespace.pk, activity.created_at, pushes=1)
    return activity


def count_day(namespace_id: int, when: dt.datetime, *, pushes: int = 0, pulls: int = 0) -> None:
    """Add PUSHES and PULLS to the namespace's row for the day of WHEN (in the configured time zone)."""
    day = timezone.localdate(when)
    row = ActivityDaily.objects.filter(namespace_id=namespace_id, day=day)
    if row.update(pushes=F("pushes") + pushes, pulls=F("pulls") + pulls):
        return
    try:
        with transaction.atomic():
            ActivityDaily.objects.create(namespace_id=namespace_id, day=day, pushes=pushes, pulls=pulls)
    except IntegrityError:  # another worker created the day's row in between
        row.update(pushes=F("pushes") + pushes, pulls=F("pulls") + pulls)


def rebuild_daily(apps: Apps = installed_apps) -> int:
    """Rebuild the whole roll-up from what is stored: pushes from the activity log, pulls from the applied
    pull events that name a tag Portus still has (or its digest). APPS: the models to use (a migration's
    historical ones, or the installed ones). Returns the number of day rows written."""
    activity = apps.get_model("registry", "Activity")
    event = apps.get_model("registry", "RegistryEvent")
    daily = apps.get_model("registry", "ActivityDaily")
    namespace = apps.get_model("registry", "Namespace")
    tag = apps.get_model("registry", "Tag")
    counts: Counter[tuple[int, dt.date, str]] = Counter()
    pushes = activity.objects.filter(action=PUSH, namespace__isnull=False).values_list("namespace_id", "created_at")
    for namespace_id, created_at in pushes.iterator(chunk_size=5000):
        counts[namespace_id, timezone.localdate(created_at), "pushes"] += 1
    namespaces = {(ns.registry_id, ns.name): ns.pk for ns in namespace.objects.all()}
    known: dict[tuple[int, str], set[str]] = {}
    pulls = event.objects.filter(action="pull", state="done").values_list(
        "registry_id", "repository", "tag", "digest", "occurred_at"
    )
    for registry_id, full_name, tag_name, digest, occurred_at in pulls.iterator(chunk_size=5000):
        namespace_name, name = split_repository_name(full_name)
        pulled_in = namespaces.get((registry_id, namespace_name))
        if pulled_in is None:
            continue
        namespace_id = pulled_in
        if (namespace_id, name) not in known:
            rows = tag.objects.filter(repository__namespace_id=namespace_id, repository__name=name)
            known[namespace_id, name] = {value for row in rows.values_list("name", "digest") for value in row}
        if (digest or tag_name) in known[namespace_id, name]:
            counts[namespace_id, timezone.localdate(occurred_at), "pulls"] += 1
    days: dict[tuple[int, dt.date], dict[str, int]] = {}
    for (namespace_id, day, kind), n in counts.items():
        days.setdefault((namespace_id, day), {"pushes": 0, "pulls": 0})[kind] = n
    with transaction.atomic():
        daily.objects.all().delete()
        daily.objects.bulk_create(
            daily(namespace_id=namespace_id, day=day, **values) for (namespace_id, day), values in days.items()
        )
    return len(days)
