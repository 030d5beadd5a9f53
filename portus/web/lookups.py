"""Fetching objects for a page, always scoped by the policy: what a user may not see is a 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.http import Http404, HttpRequest

from portus import policy
from portus.accounts.models import User
from portus.policy import TeamRoles
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


def _with_caller_role(queryset: QuerySet[Any], user: Principal, team_field: str) -> QuerySet[Any]:
    """Annotate ``caller_role``: USER's role in the object's team, read in the object's own query, so that
    the policy's several questions about the page (push? delete? manage?) need no look-up of their own."""
    if not isinstance(user, User) or not user.is_authenticated:
        return queryset.annotate(caller_role=Value(None, output_field=CharField()))
    role = TeamMembership.objects.filter(team_id=OuterRef(team_field), user_id=user.pk).values("role")[:1]
    return queryset.annotate(caller_role=Subquery(role))


def _team_roles(namespace: Namespace, caller_role: str | None) -> TeamRoles:
    return {namespace.team_id: caller_role} if namespace.team_id is not None else {}


def visible_namespace_with_roles_or_404(user: Principal, pk: int) -> tuple[Namespace, TeamRoles]:
    """The namespace, its repository count (``repository_count``) and USER's role in its team: one query."""
    found = policy.visible_namespaces(user, with_namespace_counts(Namespace.objects.all()))
    namespace = _with_caller_role(found, user, "team_id").filter(pk=pk).first()
    if namespace is None:
        raise Http404("No such namespace, or you may not see it.")
    return namespace, _team_roles(namespace, namespace.caller_role)


def visible_namespace_or_404(user: Principal, pk: int) -> Namespace:
    return visible_namespace_with_roles_or_404(user, pk)[0]


def visible_repository_with_roles_or_404(user: Principal, pk: int) -> tuple[Repository, TeamRoles]:
    """The repository, its namespace and USER's role in the namespace's team: one query."""
    found = policy.visible_repositories(
        user,
        Repository.objects.select_related("namespace", "namespace__registry", "namespace__team"),
    )
    repository = _with_caller_role(found, user, "namespace__team_id").filter(pk=pk).first()
    if repository is None:
        raise Http404("No such repository, or you may not see it.")
    return repository, _team_roles(repository.namespace, repository.caller_role)


def visible_repository_or_404(user: Principal, pk: int) -> Repository:
    return visible_repository_with_roles_or_404(user, pk)[0]


def visible_team_or_404(user: Principal, pk: int) -> Team:
    team = policy.visible_teams(user).filter(pk=pk).first()
    if team is None:
        raise Http404("No such team, or you may not see it.")
    return team


def paginate(request: HttpRequest, queryset: Any, per_page: int | None = None, count: int | None = None) -> Page:
    """One page of QUERYSET: a count and a slice, whatever the number of rows. COUNT, when the caller has
    read it already (with the object the rows belong to), saves the paginator its own COUNT query."""
    per_page = per_page or settings.PORTUS.pagination.per_page
    paginator = Paginator(queryset, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: set, it is not computed
    return paginator.get_page(request.GET.get("page"))
