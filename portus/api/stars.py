"""/api/v1/stars and /repositories/{id}/star: the repositories a user keeps an eye on."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from portus import policy
from portus.api.auth import OPTIONAL, signed_in
from portus.api.errors import ERRORS, Error, forbidden
from portus.api.pagination import PageParams, paginate
from portus.api.params import ObjectId
from portus.api.repositories import RepositoryOut, repositories_out, visible_repository
from portus.registry import actions

router = Router(tags=["stars"])


@router.get(
    "/stars",
    response={200: list[RepositoryOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="Repositories you starred",
)
def list_stars(request: HttpRequest, response: HttpResponse, paging: Query[PageParams]) -> list[RepositoryOut]:
    user = signed_in(request)
    # Scoped again by visibility: a star outlives the access that allowed it.
    starred = (
        policy.visible_repositories(user)
        .filter(stars__user=user)
        .select_related("namespace__registry")
        .order_by("namespace__name", "name", "pk")
    )
    return repositories_out(request, paginate(request, response, starred, paging))


@router.post(
    "/repositories/{repository_id}/star",
    response={200: RepositoryOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Star a repository",
)
def star(request: HttpRequest, repository_id: ObjectId) -> RepositoryOut:
    user = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_star(user, repository):
        raise forbidden("You may not star this repository.")
    actions.star_repository(repository=repository, actor=user)
    return repositories_out(request, [repository])[0]


@router.delete(
    "/repositories/{repository_id}/star",
    response={200: RepositoryOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Remove your star",
)
def unstar(request: HttpRequest, repository_id: ObjectId) -> RepositoryOut:
    user = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_star(user, repository):
        raise forbidden("You may not star this repository.")
    actions.unstar_repository(repository=repository, actor=user)
    return repositories_out(request, [repository])[0]
