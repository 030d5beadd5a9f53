"""A tag's page (manifest details, vulnerability findings, the SBOM download), deleting a tag, deleting its image."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from portus import policy
from portus.registry.actions import TagDeletion
from portus.registry.client import INDEXES, RegistryError
from portus.registry.deletion import (
    DeletionPlan,
    RegistryDeletionError,
    delete_image,
    delete_tag,
    plan_image_deletion,
    plan_tag_deletion,
)
from portus.registry.images import MAX_ATTEMPTS, details_for, pending_retry
from portus.registry.models import Repository, Tag
from portus.security.models import Inventory
from portus.security.reports import SORTS, image_report, image_sbom
from portus.security.sbom import CYCLONEDX_MEDIA_TYPE
from portus.security.severity import Severity
from portus.web.access import PageRequest, SignedInRequest, browsable, principal
from portus.web.lookups import visible_repository_or_404
from portus.web.manifests import manifest_details

SORT_LABELS = {
    "severity": "Severity",
    "package": "Package",
    "vulnerability_id": "Vulnerability id",
    "-vulnerability_id": "Vulnerability id, newest first",
}


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
    severities = [s for s in request.GET.getlist("severity") if s in set(Severity)]
    package = request.GET.get("package", "")[:255]
    sort = request.GET.get("sort", "severity")
    report = image_report(tag.digest, repository.namespace, severities=severities, package=package, sort=sort)
    # Stored once per digest by the worker; the environment in it is for those who may pull (this page's check).
    details, platforms = details_for(tag.digest)
    context = {
        "section": "namespaces" if user else "explore",
        "repository": repository,
        "tag": tag,
        "details": details,
        "platforms": platforms,
        # Why there are no details yet, when the registry could not answer the last read.
        "details_retry": None if details else pending_retry(tag.digest),
        "details_max_attempts": MAX_ATTEMPTS,
        "report": report,
        "severities": [s.value for s in Severity],
        "chosen_severities": severities,
        "package": package,
        "sort": sort if sort in SORTS else "severity",
        "sorts": SORT_LABELS,
        "has_inventory": tag.media_type in INDEXES or Inventory.objects.filter(manifest_digest=tag.digest).exists(),
        "can_allowlist": policy.can_manage_allowlist(user, repository.namespace),
        "can_rescan": policy.can_rescan(user, repository.namespace),
        "same_image": repository.tags.filter(digest=tag.digest).exclude(pk=tag.pk).order_by("name"),
        "manifest": manifest_details(repository, tag.digest),
        "can_delete": policy.can_delete(user, repository.namespace),
    }
    return render(request, "web/tags/detail.html", context)


@browsable
def tag_sbom(request: PageRequest, pk: int, name: str) -> HttpResponse:
    repository = visible_repository_or_404(principal(request), pk)
    tag = _tag(repository, name)
    try:
        sbom = image_sbom(tag)
    except RegistryError as exc:
        return HttpResponse(f"The registry could not be read: {exc}", status=502, content_type="text/plain")
    if sbom is None:
        raise Http404("No package inventory is stored for this image yet.")
    response = HttpResponse(sbom, content_type=CYCLONEDX_MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{repository.name}-{tag.name}.cdx.json"'
    return response


def _deletion_page(
    request: SignedInRequest,
    pk: int,
    name: str,
    plan: Callable[[Tag], DeletionPlan],
    perform: Callable[..., TagDeletion],
    template: str,
) -> HttpResponse:
    """Confirm (GET, listing what goes and what stays), then delete (POST)."""
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_delete(request.user, repository.namespace):
        raise PermissionDenied(policy.deletion_refusal(request.user, repository.namespace, "tags"))
    tag = _tag(repository, name)
    chosen = plan(tag)
    error = ""
    if request.method == "POST":
        try:
            perform(tag=tag, actor=request.user)
        except RegistryDeletionError as exc:
            error = str(exc)
        else:
            # Named from what the page showed: whatever the worker does meanwhile, this is what went.
            names = ", ".join(t.name for t in chosen.deleted)
            if not Repository.objects.filter(pk=repository.pk).exists():
                messages.success(
                    request, f"Deleted {repository.full_name}:{names}, its last tags: the repository went too."
                )
                return redirect("web:namespace", repository.namespace_id)
            kept = f" {', '.join(chosen.kept_names)} kept." if chosen.kept_names else ""
            messages.success(request, f"Deleted {repository.full_name}:{names}.{kept}")
            return redirect("web:repository", repository.pk)
    return render(
        request,
        template,
        {"repository": repository, "tag": tag, "plan": chosen, "error": error},
        status=502 if error else 200,
    )


@login_required
def tag_delete(request: SignedInRequest, pk: int, name: str) -> HttpResponse:
    """Delete one tag; the other tags on its image stay."""
    return _deletion_page(request, pk, name, plan_tag_deletion, delete_tag, "web/tags/delete.html")


@login_required
def tag_image_delete(request: SignedInRequest, pk: int, name: str) -> HttpResponse:
    """Delete the tag's whole image: the digest and every tag on it."""
    return _deletion_page(request, pk, name, plan_image_deletion, delete_image, "web/tags/delete_image.html")
