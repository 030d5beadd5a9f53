"""A repository's page: tags grouped by image, pull command, star, comments, deletion."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, Max, OuterRef, Q, Subquery, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from portus import policy
from portus.policy import TeamRoles
from portus.registry import actions
from portus.registry.deletion import RegistryDeletionError, delete_repository_images
from portus.registry.models import Comment, ImageDetails, Repository, Star, Tag
from portus.security.models import ScanSummary
from portus.web.access import PageRequest, SignedInRequest, browsable, principal
from portus.web.forms import CommentForm
from portus.web.lookups import paginate, visible_repository_or_404, visible_repository_with_roles_or_404
from portus.web.views.action_form import ActionFormView, DescriptionEdit, ObjectPage

IMAGES_PER_PAGE = 25


def tag_groups(request: PageRequest, repository: Repository) -> tuple[Any, list[dict[str, Any]]]:
    """One page of images (tags sharing a digest), newest first: a count, a page and its tags."""
    groups = repository.tags.values("digest").annotate(latest=Max("pushed_at")).order_by("-latest", "digest")
    page = paginate(request, groups, IMAGES_PER_PAGE)
    digests = [group["digest"] for group in page]
    by_digest: dict[str, list[Tag]] = defaultdict(list)
    # The platform of a single image (an index's platforms are on its tags) comes with its tags.
    details = ImageDetails.objects.filter(digest=OuterRef("digest"))
    for tag in (
        Tag.objects.filter(repository=repository, digest__in=digests)
        .select_related("author")
        .annotate(
            image_os=Subquery(details.values("os")[:1]),
            image_architecture=Subquery(details.values("architecture")[:1]),
            image_variant=Subquery(details.values("variant")[:1]),
        )
        .order_by("-pushed_at", "name")
    ):
        by_digest[tag.digest].append(tag)
    # One query for the page's scan summaries, precomputed per digest by the scan flow.
    summaries = {
        summary.manifest_digest: summary for summary in ScanSummary.objects.filter(manifest_digest__in=digests)
    }
    images = [
        {
            "digest": digest,
            "tags": by_digest[digest],
            "first": by_digest[digest][0],
            "scan": summaries.get(digest),
            "platform": _platform(by_digest[digest][0]),
        }
        for digest in digests
        if by_digest[digest]
    ]
    return page, images


def _platform(tag: Tag) -> str:
    parts = (tag.image_os, tag.image_architecture, tag.image_variant)  # type: ignore[attr-defined]
    return "/".join(part for part in parts if part) if parts[0] else ""


def star_context(request: HttpRequest, repository: Repository, team_roles: TeamRoles | None = None) -> dict[str, Any]:
    user = principal(request)
    # The count and whether the caller is among them: one query.
    stars = Star.objects.filter(repository=repository).aggregate(
        count=Count("pk"), mine=Count("pk", filter=Q(user_id=user.pk if user else None))
    )
    return {
        "repository": repository,
        "star_count": stars["count"],
        "starred": bool(user) and stars["mine"] > 0,
        "can_star": policy.can_star(user, repository, team_roles),
    }


def comments_context(
    request: HttpRequest, repository: Repository, form: CommentForm | None = None, team_roles: TeamRoles | None = None
) -> dict[str, Any]:
    user = principal(request)
    comments = list(repository.comments.select_related("author").order_by("created_at"))
    return {
        "repository": repository,
        "comments": comments,
        "deletable": {comment.pk for comment in comments if policy.can_delete_comment(user, comment)},
        "can_comment": policy.can_comment(user, repository, team_roles),
        "comment_form": form or CommentForm(),
    }


def pull_tag(repository: Repository) -> Tag | None:
    """What `docker pull` without a tag would fetch, when it exists; else the newest push: one query."""
    latest_first = Case(When(name="latest", then=Value(0)), default=Value(1), output_field=IntegerField())
    return repository.tags.order_by(latest_first, "-pushed_at", "name").first()


@browsable
def repository_detail(request: PageRequest, pk: int) -> HttpResponse:
    user = principal(request)
    # The caller's role comes with the repository: the six policy questions below ask the database nothing.
    repository, team_roles = visible_repository_with_roles_or_404(user, pk)
    page, images = tag_groups(request, repository)
    context = {
        "pull_tag": pull_tag(repository),
        "section": "namespaces" if user else "explore",
        "namespace": repository.namespace,
        "page_obj": page,
        "images": images,
        "can_delete": policy.can_delete(user, repository.namespace, team_roles),
        "can_edit": policy.can_edit_repository(user, repository, team_roles),
        "can_rescan": policy.can_rescan(user, repository.namespace, team_roles),
        **star_context(request, repository, team_roles),
        **comments_context(request, repository, team_roles=team_roles),
    }
    return render(request, "web/repositories/detail.html", context)


class RepositoryPage(LoginRequiredMixin, ObjectPage):
    """A page or button about one repository; editing is for those who may push to it."""

    lookup = staticmethod(visible_repository_or_404)
    may = staticmethod(policy.can_edit_repository)
    denied = "Only those who may push to this repository may edit its description."


class RepositoryEdit(RepositoryPage, DescriptionEdit):
    update = staticmethod(actions.update_repository)


class RepositoryStar(RepositoryPage, ActionFormView):
    request: SignedInRequest  # RepositoryPage requires sign-in
    http_method_names = ["post"]
    fragment_template = "web/repositories/_star.html"
    may = staticmethod(policy.can_star)
    denied = "You may not star this repository."

    def act(self, form: Any) -> str:
        if self.request.POST.get("star") == "0":
            actions.unstar_repository(repository=self.object, actor=self.request.user)
            return f"Unstarred {self.object.full_name}."
        actions.star_repository(repository=self.object, actor=self.request.user)
        return f"Starred {self.object.full_name}."

    def fragment_context(self, form: Any) -> dict[str, Any]:
        return star_context(self.request, self.object)


class CommentsPage(RepositoryPage, ActionFormView):
    """A button in the comments: htmx gets the comments back; without it, the page at the comments."""

    http_method_names = ["post"]
    fragment_template = "web/repositories/_comments.html"

    def get_success_url(self) -> str:
        return super().get_success_url() + "#comments"


class CommentCreate(CommentsPage):
    request: SignedInRequest  # RepositoryPage requires sign-in
    form_class = CommentForm
    error_field = "body"
    may = staticmethod(policy.can_comment)
    denied = "You may not comment here."

    def act(self, form: CommentForm) -> str:
        actions.create_comment(repository=self.object, body=form.cleaned_data["body"], actor=self.request.user)
        return "Comment posted."

    def fragment_context(self, form: CommentForm) -> dict[str, Any]:
        return comments_context(self.request, self.object, form)


class CommentDelete(CommentsPage):
    def allowed(self) -> bool:
        return True  # seeing the repository is enough: the comment decides, below

    def load(self) -> None:
        super().load()
        self.comment = get_object_or_404(Comment, pk=self.kwargs["comment_pk"], repository=self.object)
        if not policy.can_delete_comment(self.request.user, self.comment):
            raise PermissionDenied("Only the comment's author and administrators may delete it.")

    def act(self, form: Any) -> str:
        actions.delete_comment(comment=self.comment, actor=self.request.user)
        return "Comment deleted."

    def fragment_context(self, form: Any) -> dict[str, Any]:
        return comments_context(self.request, self.object)


@login_required
def repository_delete(request: SignedInRequest, pk: int) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_delete(request.user, repository.namespace):
        raise PermissionDenied(policy.deletion_refusal(request.user, repository.namespace, "repositories"))
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
