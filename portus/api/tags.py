"""/api/v1/tags: one tag (show, delete); a repository's tag lists are under /repositories."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from portus import policy
from portus.api.auth import OPTIONAL, SIGNED_IN, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden
from portus.api.listings import tag_detail_out
from portus.api.lookups import visible_tag
from portus.api.params import ObjectId
from portus.api.schemas import Error, TagDetailOut
from portus.registry.deletion import RegistryDeletionError, delete_image

router = Router(tags=["tags"])


@router.get("/{tag_id}", response={200: TagDetailOut, ERRORS: Error}, auth=OPTIONAL, summary="Show a tag")
def show_tag(request: HttpRequest, tag_id: ObjectId) -> TagDetailOut:
    """The tag with its image's details; their environment may hold secrets, so only for those who may pull."""
    tag = visible_tag(request, tag_id)
    return tag_detail_out(tag, tag.repository)


@router.delete("/{tag_id}", response={204: None, ERRORS: Error, 502: Error}, auth=SIGNED_IN, summary="Delete a tag")
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
