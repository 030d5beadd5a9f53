"""Fetching objects for a page, always scoped by the policy: what a user may not see is a 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from portus import policy
from portus.principal import Principal
from portus.registry.models import Namespace, Repository, Team, TeamMembership, related_count


def with_namespace_counts(queryset: QuerySet[Namespace]) -> QuerySet[Namespace]:
    return queryset.select_related("registry", "team", "owner").annotate(
        repository_count=related_count(Repository, "namespace")
    )


def with_team_counts(queryset: QuerySet[Team]) -> QuerySet[Team]:
    return queryset.annotate(
        member_count=related_count(TeamMembership, "team"), namespace_count=related_count(Namespace, "team")
    )


def visible_namespace_or_404(user: Principal, pk: int) -> Namespace:
    found = policy.visible_namespaces(user, Namespace.objects.select_related("registry", "team", "owner"))
    namespace = found.filter(pk=pk).first()
    if namespace is None:
        raise Http404("No such namespace, or you may not see it.")
    return namespace


def visible_repository_or_404(user: Principal, pk: int) -> Repository:
    found = policy.visible_repositories(
        user,
        Repository.objects.select_related("namespace", "namespace__registry", "namespace__team"),
    )
    repository = found.filter(pk=pk).first()
    if repository is None:
        raise Http404("No such repository, or you may not see it.")
    return repository


def visible_team_or_404(user: Principal, pk: int) -> Team:
    team = policy.visible_teams(user).filter(pk=pk).first()
    if team is None:
        raise Http404("No such team, or you may not see it.")
    return team


def paginate(request: HttpRequest, queryset: Any, per_page: int | None = None) -> Page:
    """One page of QUERYSET: a count and a slice, whatever the number of rows."""
    per_page = per_page or settings.PORTUS.pagination.per_page
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
