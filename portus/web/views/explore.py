"""Explore: public repositories, browsable without an account while ``anonymous_browsing`` is on."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render

from portus import policy
from portus.registry.models import Repository, Visibility
from portus.web.access import PageRequest, browsable, principal
from portus.web.lookups import paginate


@browsable
def explore(request: PageRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    repositories = policy.visible_repositories(
        principal(request),
        Repository.objects.filter(namespace__visibility=Visibility.PUBLIC).with_counts(),
    )
    if query:
        repositories = repositories.filter(Q(name__icontains=query) | Q(namespace__name__icontains=query))
    page = paginate(request, repositories.order_by("-updated_at", "pk"))
    return render(request, "web/explore.html", {"section": "explore", "page_obj": page, "query": query})
