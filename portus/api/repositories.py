"""/api/v1/repositories: repositories, their tags, and their tags grouped by image digest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from portus import policy
from portus.api.auth import OPTIONAL, principal, signed_in
from portus.api.errors import ERRORS, ApiError, Error, forbidden, not_found
from portus.api.pagination import PageParams, paginate
from portus.api.params import Body, ObjectId
from portus.api.tags import TagFilters, TagGroupOut, TagOut, tag_group_page, tag_page
from portus.registry import actions
from portus.registry.deletion import RegistryDeletionError, delete_repository_images
from portus.registry.models import Namespace, Repository, Star
from portus.registry.names import split_repository_name

router = Router(tags=["repositories"])

SORTS = {
    "name": ("namespace__name", "name"),
    "-name": ("-namespace__name", "-name"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
    "updated_at": ("updated_at",),
    "-updated_at": ("-updated_at",),
}


class RepositoryOut(Schema):
    id: int
    name: str = Field(..., description="The part after the namespace.")
    full_name: str
    namespace_id: int
    namespace: str
    registry: str = Field(..., description="Host name to pull from.")
    description: str
    created_at: datetime
    updated_at: datetime
    tag_count: int
    star_count: int
    starred: bool = Field(..., description="Starred by the caller.")


class RepositoryFilters(Schema):
    q: str | None = Field(None, max_length=255, description="Part of the repository name.")
    full_name: str | None = Field(None, max_length=400, description="Exactly this repository, e.g. team/app.")
    sort: Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = "name"


class RepositoryUpdate(Body):
    description: str = Field(..., max_length=100_000)


def repositories_out(request: HttpRequest, repositories: list[Repository]) -> list[RepositoryOut]:
    """Two bulk queries for the whole page, whatever its size."""
    ids = [r.pk for r in repositories]
    counts = {
        pk: (tags, stars)
        for pk, tags, stars in Repository.objects.filter(pk__in=ids)
        .with_counts()
        .values_list("pk", "tag_count", "star_count")
    }
    user = principal(request)
    starred: set[int] = set()
    if user is not None and ids:
        starred = set(Star.objects.filter(user=user, repository__in=ids).values_list("repository", flat=True))
    return [
        RepositoryOut(
            id=r.pk,
            name=r.name,
            full_name=r.full_name,
            namespace_id=r.namespace_id,
            namespace=r.namespace.name,
            registry=r.namespace.registry.public_hostname,
            description=r.description,
            created_at=r.created_at,
            updated_at=r.updated_at,
            tag_count=counts.get(r.pk, (0, 0))[0],
            star_count=counts.get(r.pk, (0, 0))[1],
            starred=r.pk in starred,
        )
        for r in repositories
    ]


def repository_page(
    request: HttpRequest,
    response: HttpResponse,
    filters: RepositoryFilters,
    paging: PageParams,
    namespace: Namespace | None = None,
) -> list[RepositoryOut]:
    repositories = policy.visible_repositories(principal(request))
    if namespace is not None:
        repositories = repositories.filter(namespace=namespace)
    if filters.q:
        repositories = repositories.filter(name__icontains=filters.q)
    if filters.full_name is not None:
        namespace_name, name = split_repository_name(filters.full_name)
        repositories = repositories.filter(namespace__name=namespace_name, name=name)
    repositories = repositories.select_related("namespace__registry").order_by(*SORTS[filters.sort], "pk")
    return repositories_out(request, paginate(request, response, repositories, paging))


def visible_repository(request: HttpRequest, repository_id: int) -> Repository:
    repository = (
        policy.visible_repositories(principal(request))
        .select_related("namespace__registry", "namespace__team")
        .filter(pk=repository_id)
        .first()
    )
    if repository is None:
        raise not_found("repository")
    return repository


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
    auth=OPTIONAL,
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
    auth=OPTIONAL,
    summary="Delete a repository and its tags",
)
def delete_repository(request: HttpRequest, repository_id: ObjectId) -> Status[None]:
    actor = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_delete(actor, repository.namespace):
        raise forbidden("You may not delete this repository (deletion may be disabled, or you are not an owner).")
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
