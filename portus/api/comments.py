"""/api/v1/repositories/{id}/comments: what people say about a repository."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from portus import policy
from portus.api.auth import OPTIONAL, SIGNED_IN, signed_in
from portus.api.errors import ERRORS, forbidden, not_found
from portus.api.lookups import visible_repository
from portus.api.pagination import paginate
from portus.api.params import ObjectId
from portus.api.schemas import CommentCreate, CommentOut, Error, PageParams
from portus.registry import actions
from portus.registry.models import Comment

router = Router(tags=["comments"])


def comment_out(comment: Comment) -> CommentOut:
    author = comment._state.fields_cache.get("author")
    return CommentOut(
        id=comment.pk,
        repository_id=comment.repository_id,
        author=author.username if author else None,
        body=comment.body,
        created_at=comment.created_at,
    )


@router.get(
    "/repositories/{repository_id}/comments",
    response={200: list[CommentOut], ERRORS: Error},
    auth=OPTIONAL,
    summary="List a repository's comments, oldest first",
)
def list_comments(
    request: HttpRequest, response: HttpResponse, repository_id: ObjectId, paging: Query[PageParams]
) -> list[CommentOut]:
    repository = visible_repository(request, repository_id)
    comments = repository.comments.select_related("author").order_by("created_at", "pk")
    return [comment_out(c) for c in paginate(request, response, comments, paging)]


@router.post(
    "/repositories/{repository_id}/comments",
    response={201: CommentOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Comment on a repository",
)
def create_comment(request: HttpRequest, repository_id: ObjectId, payload: CommentCreate) -> Status[CommentOut]:
    user = signed_in(request)
    repository = visible_repository(request, repository_id)
    if not policy.can_comment(user, repository):
        raise forbidden("You may not comment on this repository.")
    comment = actions.create_comment(repository=repository, body=payload.body, actor=user)
    return Status(201, comment_out(Comment.objects.select_related("author").get(pk=comment.pk)))


@router.delete(
    "/repositories/{repository_id}/comments/{comment_id}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Delete a comment (its author or an admin)",
)
def delete_comment(request: HttpRequest, repository_id: ObjectId, comment_id: ObjectId) -> Status[None]:
    user = signed_in(request)
    repository = visible_repository(request, repository_id)
    comment = repository.comments.select_related("repository__namespace").filter(pk=comment_id).first()
    if comment is None:
        raise not_found("comment")
    if not policy.can_delete_comment(user, comment):
        raise forbidden("Only the comment's author or an administrator may delete it.")
    actions.delete_comment(comment=comment, actor=user)
    return Status(204, None)
