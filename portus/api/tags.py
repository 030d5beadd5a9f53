"""/api/v1/tags: one tag (show, delete), and the tag lists the repository endpoints share."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from portus import policy
from portus.api.auth import OPTIONAL, principal, signed_in
from portus.api.errors import ERRORS, ApiError, Error, forbidden, not_found
from portus.api.pagination import PageParams, paginate
from portus.api.params import ObjectId
from portus.registry.deletion import RegistryDeletionError, delete_image
from portus.registry.models import Repository, Tag

router = Router(tags=["tags"])


class TagOut(Schema):
    id: int
    name: str
    digest: str
    media_type: str
    size: int
    platforms: list[str]
    author: str | None
    pushed_at: datetime
    last_pulled_at: datetime | None
    repository_id: int
    repository: str = Field(..., description="The repository's full name.")


class TagFilters(Schema):
    q: str | None = Field(None, max_length=128, description="Part of the tag name.")
    digest: str | None = Field(None, max_length=100)
    sort: Literal["name", "-name", "pushed_at", "-pushed_at"] = "-pushed_at"


class TagGroupOut(Schema):
    digest: str
    tags: list[str]
    size: int
    platforms: list[str]
    pushed_at: datetime


def tag_out(tag: Tag, repository: Repository) -> TagOut:
    author = tag._state.fields_cache.get("author")
    return TagOut(
        id=tag.pk,
        name=tag.name,
        digest=tag.digest,
        media_type=tag.media_type,
        size=tag.size,
        platforms=[str(p) for p in tag.platforms or []],
        author=author.username if author else None,
        pushed_at=tag.pushed_at,
        last_pulled_at=tag.last_pulled_at,
        repository_id=repository.pk,
        repository=repository.full_name,
    )


def tag_page(
    request: HttpRequest,
    response: HttpResponse,
    repository: Repository,
    filters: TagFilters,
    paging: PageParams,
) -> list[TagOut]:
    tags = repository.tags.select_related("author")
    if filters.q:
        tags = tags.filter(name__icontains=filters.q)
    if filters.digest:
        tags = tags.filter(digest=filters.digest)
    tags = tags.order_by(filters.sort, "pk")
    return [tag_out(tag, repository) for tag in paginate(request, response, tags, paging)]


def tag_group_page(
    request: HttpRequest, response: HttpResponse, repository: Repository, paging: PageParams
) -> list[TagGroupOut]:
    """Tags pointing at the same image, newest first: two queries for the page, one for its tags."""
    groups = (
        repository.tags.values("digest")
        .annotate(latest=Max("pushed_at"), largest=Max("size"))
        .order_by("-latest", "digest")
    )
    page = paginate(request, response, groups, paging)
    by_digest: dict[str, list[Tag]] = {}
    for tag in repository.tags.filter(digest__in=[g["digest"] for g in page]).order_by("name"):
        by_digest.setdefault(tag.digest, []).append(tag)
    result = []
    for group in page:
        members = by_digest.get(str(group["digest"]), [])
        platforms = sorted({str(p) for tag in members for p in tag.platforms or []})
        result.append(
            TagGroupOut(
                digest=str(group["digest"]),
                tags=[t.name for t in members],
                size=int(group["largest"] or 0),  # type: ignore[call-overload]
                platforms=platforms,
                pushed_at=group["latest"],  # type: ignore[arg-type]
            )
        )
    return result


def visible_tag(request: HttpRequest, tag_id: int) -> Tag:
    repositories = policy.visible_repositories(principal(request))
    tag = (
        Tag.objects.select_related("repository__namespace__registry", "author")
        .filter(pk=tag_id, repository__in=repositories)
        .first()
    )
    if tag is None:
        raise not_found("tag")
    return tag


@router.get("/{tag_id}", response={200: TagOut, ERRORS: Error}, auth=OPTIONAL, summary="Show a tag")
def show_tag(request: HttpRequest, tag_id: ObjectId) -> TagOut:
    tag = visible_tag(request, tag_id)
    return tag_out(tag, tag.repository)


@router.delete("/{tag_id}", response={204: None, ERRORS: Error, 502: Error}, auth=OPTIONAL, summary="Delete a tag")
def delete_tag(request: HttpRequest, tag_id: ObjectId) -> Status[None]:
    actor = signed_in(request)
    tag = visible_tag(request, tag_id)
    if not policy.can_delete(actor, tag.repository.namespace):
        raise forbidden("You may not delete tags here (deletion may be disabled, or you are not an owner).")
    try:
        delete_image(tag=tag, actor=actor)
    except RegistryDeletionError as exc:
        raise ApiError(502, str(exc)) from None
    return Status(204, None)
