"""The dashboard: recent activity the user may see (with its chart), their repositories, stars and a few counts."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.db.models import F, Func, IntegerField, QuerySet, Subquery
from django.http import HttpResponse
from django.shortcuts import redirect, render

from portus import policy
from portus.accounts.models import User
from portus.registry.models import ActivityDaily, Registry, Repository, Star, TeamMembership
from portus.web.access import SignedInRequest
from portus.web.activity_lines import LINE_OBJECTS, describe
from portus.web.charts import activity_chart

SHOWN = 10


def _count(queryset: QuerySet[Any]) -> Subquery:
    """The number of QUERYSET's rows, as a scalar subquery (its DISTINCT kept by counting its keys)."""
    keys = queryset.model._default_manager.filter(pk__in=queryset.values("pk")).order_by()
    return Subquery(keys.values(n=Func(F("pk"), function="COUNT", output_field=IntegerField())))


def registry_and_counts(user: User) -> dict[str, int] | None:
    """The dashboard's four counts, or None when no registry is set up yet: one query for the five."""
    counted = {
        "repositories": policy.visible_repositories(user),
        "namespaces": policy.visible_namespaces(user),
        "teams": policy.visible_teams(user),
        "stars": Star.objects.filter(user_id=user.pk),
    }
    # Prefixed: a Registry has a field named "namespaces".
    values = Registry.objects.order_by().values(**{f"n_{name}": _count(rows) for name, rows in counted.items()})
    row = cast("dict[str, int] | None", values.first())
    return None if row is None else {name: row[f"n_{name}"] for name in counted}


@login_required
def dashboard(request: SignedInRequest) -> HttpResponse:
    user = request.user
    counts = registry_and_counts(user)
    if counts is None:
        if policy.can_manage_registries(user):
            return redirect("web:first-run")
        return render(request, "web/dashboard.html", {"section": "dashboard", "no_registry": True})
    visible = policy.visible_repositories(user, Repository.objects.with_counts())
    member_teams = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    context = {
        "section": "dashboard",
        "activities": describe(policy.visible_activities(user).select_related(*LINE_OBJECTS)[:15], user),
        "personal": visible.filter(namespace__owner_id=user.pk).order_by("-updated_at")[:SHOWN],
        "team_repositories": visible.filter(namespace__team_id__in=member_teams).order_by("-updated_at")[:SHOWN],
        "starred": visible.filter(stars__user_id=user.pk).order_by("-updated_at")[:SHOWN],
        # From the daily roll-up: one query, whatever the amount of activity.
        "activity_chart": activity_chart(
            ActivityDaily.objects.filter(namespace_id__in=policy.visible_namespaces(user).values("pk"))
        ),
        "counts": counts,
    }
    return render(request, "web/dashboard.html", context)
