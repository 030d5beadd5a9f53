"""The dashboard: recent activity the user may see (with its chart), their repositories, stars and a few counts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from portus import policy
from portus.registry.models import ActivityDaily, Registry, Repository, TeamMembership
from portus.web.access import SignedInRequest
from portus.web.activity_lines import LINE_OBJECTS, describe
from portus.web.charts import activity_chart

SHOWN = 10


@login_required
def dashboard(request: SignedInRequest) -> HttpResponse:
    user = request.user
    if not Registry.objects.exists():
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
        "counts": {
            "repositories": policy.visible_repositories(user).count(),
            "namespaces": policy.visible_namespaces(user).count(),
            "teams": policy.visible_teams(user).count(),
            "stars": user.stars.count(),
        },
    }
    return render(request, "web/dashboard.html", context)
