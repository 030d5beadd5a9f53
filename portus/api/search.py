"""/api/v1/search: the repositories, namespaces and teams a caller may see that match a word."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from portus import policy
from portus.api.auth import OPTIONAL, principal
from portus.api.errors import ERRORS, Error
from portus.api.namespaces import NamespaceOut, namespaces_out
from portus.api.repositories import RepositoryOut, repositories_out
from portus.api.teams import TeamOut, _counted, teams_out

router = Router(tags=["search"])


class SearchParams(Schema):
    q: str = Field(..., min_length=1, max_length=255, description="Part of a name.")
    limit: int = Field(20, ge=1, le=100, description="At most this many of each kind.")


class SearchOut(Schema):
    repositories: list[RepositoryOut]
    namespaces: list[NamespaceOut]
    teams: list[TeamOut]


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
    namespaces = (
        policy.visible_namespaces(who)
        .filter(name__icontains=word)
        .select_related("registry", "team", "owner")
        .order_by("name", "pk")[:limit]
    )
    teams = _counted(policy.visible_teams(who).filter(name__icontains=word)).order_by("name", "pk")[:limit]
    return SearchOut(
        repositories=repositories_out(request, list(repositories)),
        namespaces=namespaces_out(list(namespaces)),
        teams=teams_out(request, list(teams)),
    )
