"""The vulnerability allowlist page (entries the user may see, adding one, removing one) and rescans."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portus import policy
from portus.errors import ActionError
from portus.registry.models import Namespace, NamespaceKind, Role
from portus.security import actions, scans
from portus.web.access import SignedInRequest
from portus.web.forms import AllowlistForm
from portus.web.lookups import paginate, visible_namespace_or_404, visible_repository_or_404

GLOBAL = "global"


def _scopes(request: SignedInRequest, asked: Namespace | None) -> list[tuple[str, str]]:
    """Where the user may add entries: global (admins), the namespace they came from, the ones they own."""
    user = request.user
    scopes: list[tuple[str, str]] = []
    if policy.can_manage_allowlist(user, None):
        scopes.append((GLOBAL, "Every namespace"))
    candidates = [asked] if asked is not None else []
    candidates += list(
        Namespace.objects.filter(owner=user).exclude(kind=NamespaceKind.GLOBAL)
        | Namespace.objects.filter(team__memberships__user=user, team__memberships__role=Role.OWNER)
    )
    for namespace in candidates:
        choice = (str(namespace.pk), f"Namespace {namespace.display_name}")
        if choice not in scopes and policy.can_manage_allowlist(user, namespace):
            scopes.append(choice)
    return scopes


def _back(request: SignedInRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if target and allowed else None


@login_required
def allowlist(request: SignedInRequest) -> HttpResponse:
    user = request.user
    asked_key = request.GET.get("namespace") or request.POST.get("scope") or ""
    asked = visible_namespace_or_404(user, int(asked_key)) if asked_key.isdigit() else None
    scopes = _scopes(request, asked)
    initial = {"vulnerability_id": request.GET.get("vulnerability_id", ""), "scope": str(asked.pk) if asked else ""}
    form = AllowlistForm(request.POST or None, initial=initial, scopes=scopes)
    if request.method == "POST":
        if not scopes:
            raise PermissionDenied("Only administrators and namespace owners manage the allowlist.")
        if form.is_valid():
            scope = form.cleaned_data["scope"]
            namespace = None if scope == GLOBAL else visible_namespace_or_404(user, int(scope))
            try:
                entry = actions.add_allowlist_entry(
                    vulnerability_id=form.cleaned_data["vulnerability_id"],
                    comment=form.cleaned_data["comment"],
                    namespace=namespace,
                    expires_at=form.cleaned_data["expires_at"],
                    actor=user,
                )
            except ActionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Allowlisted {entry.vulnerability_id}: its findings are no longer counted.")
                return redirect(_back(request) or "web:allowlist")
    entries = (
        policy.visible_allowlist(user).select_related("namespace", "created_by").order_by("vulnerability_id", "pk")
    )
    page = paginate(request, entries)
    context = {
        "section": "namespaces",
        "form": form,
        "can_add": bool(scopes),
        "page_obj": page,
        "removable": {entry.pk for entry in page if policy.can_manage_allowlist(user, entry.namespace)},
        "next": _back(request) or "",
    }
    return render(request, "web/security/allowlist.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def allowlist_remove(request: SignedInRequest, entry_pk: int) -> HttpResponse:
    entry = get_object_or_404(policy.visible_allowlist(request.user).select_related("namespace"), pk=entry_pk)
    if not policy.can_manage_allowlist(request.user, entry.namespace):
        raise PermissionDenied("Only administrators (global entries) or the namespace's owners may remove this entry.")
    actions.remove_allowlist_entry(entry=entry, actor=request.user)
    messages.success(request, f"Removed {entry.vulnerability_id} from the allowlist: its findings count again.")
    return redirect(_back(request) or "web:allowlist")


@login_required
@require_POST
def rescan(request: SignedInRequest, pk: int, name: str | None = None) -> HttpResponse:
    """Scan one tag's image, or every image of the repository, again with every enabled backend."""
    repository = visible_repository_or_404(request.user, pk)
    if not policy.can_rescan(request.user, repository.namespace):
        raise PermissionDenied("Only those who may push to this repository may ask for a rescan.")
    if name is None:
        queued = scans.rescan_repository(repository)
        target = redirect("web:repository", repository.pk)
    else:
        tag = repository.tags.filter(name=name).first()
        if tag is None:
            raise Http404("No such tag.")
        queued = scans.rescan_tag(tag)
        target = redirect("web:tag", repository.pk, tag.name)
    if queued:
        messages.success(request, f"Queued {queued} scan{'s' if queued != 1 else ''}; the state changes as it runs.")
    else:
        messages.warning(
            request,
            "Nothing was queued: security scanning is off or no scanner is enabled (an administrator turns them on).",
        )
    return target
