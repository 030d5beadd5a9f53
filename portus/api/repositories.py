"""/api/v1/repositories: repositories, their tags, and their tags grouped by image digest."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.api.auth import OPTIONAL, SIGNED_IN, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden
from portus.api.listings import repositories_out, repository_page, tag_group_page, tag_page
from portus.api.lookups import visible_repository
from portus.api.params import ObjectId
from portus.api.schemas import (
    Error,
    PageParams,
    RepositoryFilters,
    RepositoryOut,
    RepositoryUpdate,
    TagFilters,
    TagGroupOut,
    TagOut,
)
from portus.registry import actions
from portus.registry.deletion import RegistryDeletionError, delete_repository_images

router = Router(tags=["repositories"])


@router.get(
    "",
    response={200: list[RepositoryOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List repositories you can see",
)
def list_repositories(
    request: HttpRequest,
    response: HttpResponse,
    filters: Query[RepositoryFilters],
    paging: Query[PageParams],
) -> list[RepositoryOut]:
    return repository_page(request, response, filters, paging)


@router.get(
    "/{repository_id}",
    response={200: RepositoryOut, ERRORS: Error},
    auth=OPTIONAL,
    summary="Show a repository",
)
def show_repository(request: HttpRequest, repository_id: ObjectId) -> RepositoryOut:
    return repositories_out(request, [visible_repository(request, repository_id)])[0]


@router.put(
    "/{repository_id}",
    response={200: RepositoryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Change a repository's description",
)
def update_repository(request: HttpRequest, repository_id: ObjectId, payload: RepositoryUpdate) -> RepositoryOut:
    actor = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_edit_repository(actor, repository):
        raise forbidden("Only those who may push to this repository may describe it.")
    actions.update_repository(repository=repository, description=payload.description, actor=actor)
    return repositories_out(request, [repository])[0]


@router.delete(
    "/{repository_id}",
    response={204: None, ERRORS: Error, 502: Error},
    auth=SIGNED_IN,
    summary="Delete a repository and its tags",
)
def delete_repository(request: HttpRequest, repository_id: ObjectId) -> Status[None]:
    actor = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_delete(actor, repository.namespace):
        raise forbidden(policy.deletion_refusal(actor, repository.namespace, "repositories"))
    try:
        delete_repository_images(repository=repository, actor=actor)
    except RegistryDeletionError as exc:
        raise ApiError(502, str(exc)) from None
    return Status(204, None)


@router.get(
    "/{repository_id}/tags",
    response={200: list[TagOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List a repository's tags",
)
def repository_tags(
    request: HttpRequest,
    response: HttpResponse,
    repository_id: ObjectId,
    filters: Query[TagFilters],
    paging: Query[PageParams],
) -> list[TagOut]:
    return tag_page(request, response, visible_repository(request, repository_id), filters, paging)


@router.get(
    "/{repository_id}/tags/grouped",
    response={200: list[TagGroupOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="A repository's tags grouped by image digest",
)
def repository_tag_groups(
    request: HttpRequest, response: HttpResponse, repository_id: ObjectId, paging: Query[PageParams]
) -> list[TagGroupOut]:
    return tag_group_page(request, response, visible_repository(request, repository_id), paging)
