"""A tag's page (manifest details, a place for vulnerability findings) and deleting a tag."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from portus import policy
from portus.registry.deletion import RegistryDeletionError, delete_image
from portus.registry.models import Repository, Tag
from portus.web.access import PageRequest, SignedInRequest, browsable, principal
from portus.web.lookups import visible_repository_or_404
from portus.web.manifests import manifest_details


def _tag(repository: Repository, name: str) -> Tag:
    tag = repository.tags.select_related("author").filter(name=name).first()
    if tag is None:
        raise Http404("No such tag.")
    return tag


@browsable
def tag_detail(request: PageRequest, pk: int, name: str) -> HttpResponse:
    user = principal(request)
    repository = visible_repository_or_404(user, pk)
    tag = _tag(repository, name)
    context = {
        "section": "namespaces" if user else "explore",
        "repository": repository,
        "tag": tag,
        "same_image": repository.tags.filter(digest=tag.digest).exclude(pk=tag.pk).order_by("name"),
        "manifest": manifest_details(repository, tag.digest),
        "can_delete": policy.can_delete(user, repository.namespace),
    }
    return render(request, "web/tags/detail.html", context)


@login_required
def tag_delete(request: SignedInRequest, pk: int, name: str) -> HttpResponse:
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_delete(request.user, repository.namespace):
        raise PermissionDenied("You may not delete tags here (deletion may be off, or you are not an owner).")
    tag = _tag(repository, name)
    same_image = list(repository.tags.filter(digest=tag.digest).order_by("name"))
    error = ""
    if request.method == "POST":
        try:
            # The registry deletes by digest: every tag on this image goes, so Portus drops all.
            removed = delete_image(tag=tag, actor=request.user)
        except RegistryDeletionError as exc:
            error = str(exc)
        else:
            names = ", ".join(t.name for t in removed.tags)
            if removed.repository_deleted:
                messages.success(
                    request, f"Deleted {repository.full_name}:{names}, its last tags: the repository went too."
                )
                return redirect("web:namespace", repository.namespace_id)
            messages.success(request, f"Deleted {repository.full_name}:{names}.")
            return redirect("web:repository", repository.pk)
    return render(
        request,
        "web/tags/delete.html",
        {"repository": repository, "tag": tag, "same_image": same_image, "error": error},
        status=502 if error else 200,
    )
