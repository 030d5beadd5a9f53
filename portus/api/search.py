"""/api/v1/search: the repositories, namespaces and teams a caller may see that match a word."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from portus import policy
from portus.api.auth import OPTIONAL, principal
from portus.api.errors import ERRORS
from portus.api.listings import namespaces_out, repositories_out, teams_out, with_namespace_relations, with_team_counts
from portus.api.schemas import Error, SearchOut, SearchParams

router = Router(tags=["search"])


@router.get("", response={200: SearchOut, ERRORS: Error}, auth=OPTIONAL, summary="Search by name")
def search(request: HttpRequest, params: Query[SearchParams]) -> SearchOut:
    who = principal(request)
    word, limit = params.q.strip(), params.limit
    repositories = (
        policy.visible_repositories(who)
        .filter(name__icontains=word)
        .select_related("namespace__registry")
        .order_by("namespace__name", "name", "pk")[:limit]
    )
    namespaces = with_namespace_relations(policy.visible_namespaces(who).filter(name__icontains=word))
    teams = with_team_counts(policy.visible_teams(who).filter(name__icontains=word))
    return SearchOut(
        repositories=repositories_out(request, list(repositories)),
        namespaces=namespaces_out(list(namespaces.order_by("name", "pk")[:limit])),
        teams=teams_out(request, list(teams.order_by("name", "pk")[:limit])),
    )
