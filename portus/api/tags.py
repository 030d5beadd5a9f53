"""/api/v1/tags: one tag (show, delete the tag, delete its whole image); a repository's tag lists are under
/repositories."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from ninja import Query, Router, Status

from portus import policy
from portus.api.auth import OPTIONAL, SIGNED_IN, signed_in
from portus.api.errors import ERRORS, ApiError, forbidden
from portus.api.listings import tag_detail_out
from portus.api.lookups import visible_tag
from portus.api.params import ObjectId
from portus.api.schemas import DeletionOut, Error, TagDetailOut
from portus.principal import Actor
from portus.registry import deletion
from portus.registry.actions import TagDeletion
from portus.registry.models import Tag

router = Router(tags=["tags"])

DELETION_ANSWERS = {200: DeletionOut, 204: None, ERRORS: Error, 502: Error}
DRY_RUN = Query(False, description="Answer what would be deleted and kept (200) without deleting anything.")


@router.get("/{tag_id}", response={200: TagDetailOut, ERRORS: Error}, auth=OPTIONAL, summary="Show a tag")
def show_tag(request: HttpRequest, tag_id: ObjectId) -> TagDetailOut:
    """The tag with its image's details; their environment may hold secrets, so only for those who may pull."""
    tag = visible_tag(request, tag_id)
    return tag_detail_out(tag, tag.repository)


def _delete(
    request: HttpRequest,
    tag_id: int,
    dry_run: bool,
    plan: Callable[[Tag], deletion.DeletionPlan],
    perform: Callable[..., TagDeletion],
) -> Status[DeletionOut | None]:
    actor: Actor = signed_in(request)
    tag = visible_tag(request, tag_id)
    namespace = tag.repository.namespace
    if not policy.can_delete(actor, namespace):
        raise forbidden(policy.deletion_refusal(actor, namespace, "tags"))
    if dry_run:
        chosen = plan(tag)
        return Status(
            200,
            DeletionOut(
                repository=chosen.repository.full_name,
                digest=chosen.digest,
                deleted_tags=[t.name for t in chosen.deleted],
                kept_tags=chosen.kept_names,
                unsynced_kept_tags=chosen.unsynced,
                registry_read=chosen.registry_read,
                repository_deleted=chosen.repository_deleted,
                dry_run=True,
            ),
        )
    try:
        perform(tag=tag, actor=actor)
    except deletion.RegistryDeletionError as exc:
        raise ApiError(502, str(exc)) from None
    return Status(204, None)


@router.delete(
    "/{tag_id}",
    response=DELETION_ANSWERS,
    auth=SIGNED_IN,
    summary="Delete a tag (only that tag: other tags on the same image stay)",
    description="Deletes the tag in the registry, then in Portus. On a registry that deletes images by "
    "digest only (Distribution 2.8), the image is deleted and tagged again under every other tag the "
    "registry holds on it, including tags Portus has not synchronized yet. "
    "A 502 names any other tag the registry would not take back. ?dry_run=true answers what would go.",
)
def delete_tag(request: HttpRequest, tag_id: ObjectId, dry_run: bool = DRY_RUN) -> Status[DeletionOut | None]:
    return _delete(request, tag_id, dry_run, deletion.plan_tag_deletion, deletion.delete_tag)


@router.delete(
    "/{tag_id}/image",
    response=DELETION_ANSWERS,
    auth=SIGNED_IN,
    summary="Delete a tag's whole image: its digest and every tag on it",
    description="Deletes the manifest in the registry by digest, then every tag on it in Portus (and the "
    "repository when none is left). ?dry_run=true answers what would go.",
)
def delete_tag_image(request: HttpRequest, tag_id: ObjectId, dry_run: bool = DRY_RUN) -> Status[DeletionOut | None]:
    return _delete(request, tag_id, dry_run, deletion.plan_image_deletion, deletion.delete_image)
