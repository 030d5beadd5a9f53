"""/api/v1/stars and /repositories/{id}/star: the repositories a user keeps an eye on."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from portus import policy
from portus.accounts.models import User
from portus.api.auth import SIGNED_IN, signed_in
from portus.api.errors import ERRORS, forbidden
from portus.api.listings import repositories_out
from portus.api.lookups import visible_repository
from portus.api.pagination import paginate
from portus.api.params import ObjectId
from portus.api.schemas import Error, PageParams, RepositoryOut
from portus.registry import actions
from portus.registry.models import Repository

router = Router(tags=["stars"])


def _starrable(request: HttpRequest, repository_id: int) -> tuple[User, Repository]:
    """The caller and the repository they may star or unstar (404 if hidden, 403 if starring is not theirs)."""
    user = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_star(user, repository):
        raise forbidden("You may not star this repository.")
    return user, repository


@router.get(
    "/stars",
    response={200: list[RepositoryOut], ERRORS: Error},
    auth=SIGNED_IN,
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
    auth=SIGNED_IN,
    summary="Star a repository",
)
def star(request: HttpRequest, repository_id: ObjectId) -> RepositoryOut:
    user, repository = _starrable(request, repository_id)
    actions.star_repository(repository=repository, actor=user)
    return repositories_out(request, [repository])[0]


@router.delete(
    "/repositories/{repository_id}/star",
    response={200: RepositoryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Remove your star",
)
def unstar(request: HttpRequest, repository_id: ObjectId) -> RepositoryOut:
    user, repository = _starrable(request, repository_id)
    actions.unstar_repository(repository=repository, actor=user)
    return repositories_out(request, [repository])[0]
