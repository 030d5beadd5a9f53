"""Search for signed-in users: repositories, namespaces and teams they may see."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render

from portus import policy
from portus.registry.models import Namespace, Repository
from portus.web.access import SignedInRequest
from portus.web.lookups import with_namespace_counts

SHOWN = 25


@login_required
def search(request: SignedInRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    context: dict[str, object] = {"query": query}
    if query:
        user = request.user
        context["repositories"] = policy.visible_repositories(
            user,
            Repository.objects.filter(Q(name__icontains=query) | Q(namespace__name__icontains=query)).with_counts(),
        ).order_by("namespace__name", "name")[:SHOWN]
        context["namespaces"] = with_namespace_counts(
            Namespace.objects.filter(pk__in=policy.visible_namespaces(user).filter(name__icontains=query).values("pk"))
        )[:SHOWN]
        context["teams"] = policy.visible_teams(user).filter(name__icontains=query)[:SHOWN]
    return render(request, "web/search.html", context)
