"""A repository's page: tags grouped by image, pull command, star, comments, deletion."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portus import policy
from portus.registry import actions
from portus.registry.deletion import RegistryDeletionError, delete_repository_images
from portus.registry.models import Comment, Repository, Star, Tag
from portus.web.access import PageRequest, SignedInRequest, browsable, principal, signed_in
from portus.web.forms import CommentForm, DescriptionForm
from portus.web.lookups import paginate, visible_repository_or_404

IMAGES_PER_PAGE = 25


def tag_groups(request: PageRequest, repository: Repository) -> tuple[Any, list[dict[str, Any]]]:
    """One page of images (tags sharing a digest), newest first: a count, a page and its tags."""
    groups = (
        repository.tags.values("digest")
        .annotate(latest=Max("pushed_at"))
        .order_by("-latest", "digest")
    )
    page = paginate(request, groups, IMAGES_PER_PAGE)
    digests = [group["digest"] for group in page]
    by_digest: dict[str, list[Tag]] = defaultdict(list)
    for tag in (
        Tag.objects.filter(repository=repository, digest__in=digests)
        .select_related("author")
        .order_by("-pushed_at", "name")
    ):
        by_digest[tag.digest].append(tag)
    images = [
        {"digest": digest, "tags": by_digest[digest], "first": by_digest[digest][0]}
        for digest in digests
        if by_digest[digest]
    ]
    return page, images


def star_context(request: PageRequest, repository: Repository) -> dict[str, Any]:
    user = principal(request)
    return {
        "repository": repository,
        "star_count": Star.objects.filter(repository=repository).count(),
        "starred": bool(user) and Star.objects.filter(repository=repository, user=user).exists(),
        "can_star": policy.can_star(user, repository),
    }


def comments_context(
    request: PageRequest, repository: Repository, form: CommentForm | None = None
) -> dict[str, Any]:
    user = principal(request)
    comments = list(repository.comments.select_related("author").order_by("created_at"))
    for comment in comments:
        comment.deletable = policy.can_delete_comment(user, comment)  # type: ignore[attr-defined]
    return {
        "repository": repository,
        "comments": comments,
        "can_comment": policy.can_comment(user, repository),
        "comment_form": form or CommentForm(),
    }


@browsable
def repository_detail(request: PageRequest, pk: int) -> HttpResponse:
    user = principal(request)
    repository = visible_repository_or_404(user, pk)
    page, images = tag_groups(request, repository)
    context = {
        "section": "namespaces" if user else "explore",
        "namespace": repository.namespace,
        "page_obj": page,
        "images": images,
        "can_delete": policy.can_delete(user, repository.namespace),
        "can_edit": policy.can_edit_repository(user, repository),
        **star_context(request, repository),
        **comments_context(request, repository),
    }
    return render(request, "web/repositories/detail.html", context)


@signed_in
def repository_edit(request: SignedInRequest, pk: int) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_edit_repository(request.user, repository):
        raise PermissionDenied(
            "Only those who may push to this repository may edit its description."
        )
    form = DescriptionForm(request.POST or None, initial={"description": repository.description})
    if request.method == "POST" and form.is_valid():
        actions.update_repository(
            repository=repository, description=form.cleaned_data["description"], actor=request.user
        )
        messages.success(request, "Description saved.")
        return redirect("web:repository", repository.pk)
    return render(request, "web/repositories/edit.html", {"repository": repository, "form": form})


@signed_in
@require_POST
def repository_star(request: SignedInRequest, pk: int) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_star(request.user, repository):
        raise PermissionDenied("You may not star this repository.")
    if request.POST.get("star") == "0":
        actions.unstar_repository(repository=repository, actor=request.user)
    else:
        actions.star_repository(repository=repository, actor=request.user)
    if request.htmx:
        return render(request, "web/repositories/_star.html", star_context(request, repository))
    return redirect("web:repository", repository.pk)


@signed_in
@require_POST
def comment_create(request: SignedInRequest, pk: int) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_comment(request.user, repository):
        raise PermissionDenied("You may not comment here.")
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            actions.create_comment(
                repository=repository, body=form.cleaned_data["body"], actor=request.user
            )
        except actions.ActionError as exc:
            form.add_error("body", str(exc))
        else:
            form = CommentForm()
            if not request.htmx:
                return redirect(f"{repository_url(repository)}#comments")
    if request.htmx:
        return render(
            request, "web/repositories/_comments.html", comments_context(request, repository, form)
        )
    for error in form.errors.get("body", []):
        messages.error(request, str(error))
    return redirect(f"{repository_url(repository)}#comments")


@signed_in
@require_POST
def comment_delete(request: SignedInRequest, pk: int, comment_pk: int) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    comment = get_object_or_404(Comment, pk=comment_pk, repository=repository)
    if not policy.can_delete_comment(request.user, comment):
        raise PermissionDenied("Only the comment's author and administrators may delete it.")
    actions.delete_comment(comment=comment, actor=request.user)
    if request.htmx:
        return render(
            request, "web/repositories/_comments.html", comments_context(request, repository)
        )
    messages.success(request, "Comment deleted.")
    return redirect(f"{repository_url(repository)}#comments")


def repository_url(repository: Repository) -> str:
    from django.urls import reverse

    return reverse("web:repository", args=[repository.pk])


@signed_in
def repository_delete(request: SignedInRequest, pk: int) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_delete(request.user, repository.namespace):
        raise PermissionDenied(
            "You may not delete this repository (deletion may be off, or you are not an owner)."
        )
    tag_count = repository.tags.count()
    error = ""
    if request.method == "POST":
        namespace_pk = repository.namespace_id
        try:
            delete_repository_images(repository=repository, actor=request.user)
        except RegistryDeletionError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Repository {repository.full_name} deleted.")
            return redirect("web:namespace", namespace_pk)
    return render(
        request,
        "web/repositories/delete.html",
        {"repository": repository, "tag_count": tag_count, "error": error},
        status=502 if error else 200,
    )
