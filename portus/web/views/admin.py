"""Administration: users and bots' tokens, registries and the first-run page, tasks, activity."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portus import policy
from portus.accounts import actions as account_actions
from portus.accounts.models import User
from portus.background.models import TaskStatus
from portus.registry import actions
from portus.registry.models import Activity, EventState, Registry, RegistryEvent
from portus.registry.reachability import check_registry
from portus.web.access import SignedInRequest, admin_only
from portus.web.forms import RegistryForm, UserCreateForm
from portus.web.lookups import paginate
from portus.web.views.profile import handle_token_create, revoke, tokens_context


@admin_only
def user_list(request: SignedInRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    users = User.objects.order_by("username")
    if query:
        users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
    return render(
        request,
        "web/admin/users.html",
        {"section": "admin", "tab": "users", "page_obj": paginate(request, users), "query": query},
    )


@admin_only
def user_create(request: SignedInRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = account_actions.create_user(
                username=data["username"],
                email=data["email"],
                password=None if data["bot"] else data["password"],
                admin=data["admin"],
                bot=data["bot"],
                actor=request.user,
            )
        except actions.ActionError as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(request, f"Created {'bot' if user.bot else 'user'} {user.username}.")
            return redirect("web:admin-user", user.pk)
    return render(
        request, "web/admin/user_create.html", {"section": "admin", "tab": "users", "form": form}
    )


@admin_only
def user_detail(request: SignedInRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    context: dict[str, Any] = {"section": "admin", "tab": "users", "person": person}
    if person.bot:
        context.update(tokens_context(person))
    return render(request, "web/admin/user.html", context)


@admin_only
@require_POST
def user_change(request: SignedInRequest, pk: int) -> HttpResponse:
    """Make admin, remove admin, enable, disable: one form button each."""
    person = get_object_or_404(User, pk=pk)
    change = request.POST.get("change")
    try:
        if change in ("make-admin", "remove-admin"):
            if person.bot and change == "make-admin":
                raise actions.ActionError("A bot cannot be an administrator.")
            account_actions.set_admin(user=person, admin=change == "make-admin", actor=request.user)
        elif change in ("enable", "disable"):
            account_actions.set_enabled(user=person, enabled=change == "enable", actor=request.user)
        else:
            raise actions.ActionError("Unknown change; use the buttons on the user's page.")
    except actions.ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{person.username}: done.")
    return redirect("web:admin-user", person.pk)


@admin_only
def user_delete(request: SignedInRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    error = ""
    if request.method == "POST":
        try:
            account_actions.delete_user(user=person, actor=request.user)
        except actions.ActionError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Deleted {person.username}.")
            return redirect("web:admin-users")
    return render(
        request,
        "web/admin/user_delete.html",
        {"section": "admin", "tab": "users", "person": person, "error": error},
    )


@admin_only
@require_POST
def bot_token_create(request: SignedInRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    if not policy.can_manage_tokens(request.user, person):
        messages.error(
            request, "Administrators create tokens for bots only; people make their own."
        )
        return redirect("web:admin-user", person.pk)
    return handle_token_create(request, person, "web/admin/user.html", f"/admin/users/{person.pk}/")


@admin_only
@require_POST
def bot_token_revoke(request: SignedInRequest, pk: int, token_pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    revoke(request, person, token_pk)
    if request.htmx:
        return render(request, "web/profile/_tokens.html", tokens_context(person))
    return redirect("web:admin-user", person.pk)


# -- registries -----------------------------------------------------------------------------


@admin_only
def registry_list(request: SignedInRequest) -> HttpResponse:
    registries = list(Registry.objects.order_by("name"))
    checked = None
    if request.GET.get("check"):
        found = next((r for r in registries if str(r.pk) == request.GET["check"]), None)
        if found is not None:
            checked = (found, check_registry(found.hostname, found.use_ssl))
    return render(
        request,
        "web/admin/registries.html",
        {"section": "admin", "tab": "registries", "registries": registries, "checked": checked},
    )


@admin_only
def registry_create(request: SignedInRequest, first_run: bool = False) -> HttpResponse:
    """Add a registry after checking it answers like one; the first-run page is this form."""
    if first_run and Registry.objects.exists():
        return redirect("web:dashboard")
    form = RegistryForm(request.POST or None)
    reachability = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        reachability = check_registry(data["hostname"], data["use_ssl"])
        if not reachability.ok and not data["skip_check"]:
            form.add_error("hostname", reachability.message)
        elif Registry.objects.filter(Q(name=data["name"]) | Q(hostname=data["hostname"])).exists():
            form.add_error("hostname", "A registry with this name or host already exists.")
        else:
            registry = actions.create_registry(
                name=data["name"],
                hostname=data["hostname"],
                external_hostname=data["external_hostname"],
                use_ssl=data["use_ssl"],
                actor=request.user,
            )
            messages.success(request, f"Registry {registry.name} added. {reachability.message}")
            return redirect("web:dashboard" if first_run else "web:admin-registries")
    template = "web/admin/first_run.html" if first_run else "web/admin/registry_create.html"
    return render(
        request,
        template,
        {
            "section": "admin",
            "tab": "registries",
            "form": form,
            "reachability": reachability,
            "portus_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )


def first_run(request: SignedInRequest) -> HttpResponseBase:
    return registry_create(request, first_run=True)


# -- background tasks and activity ------------------------------------------------------------


@admin_only
def tasks(request: SignedInRequest) -> HttpResponse:
    return render(
        request,
        "web/admin/tasks.html",
        {
            "section": "admin",
            "tab": "tasks",
            "now": timezone.now(),
            "statuses": TaskStatus.objects.order_by("name"),
            "pending_events": RegistryEvent.objects.filter(state=EventState.PENDING).count(),
            "failed_events": RegistryEvent.objects.filter(state=EventState.FAILED).order_by("-id")[
                :10
            ],
        },
    )


@admin_only
def activity_log(request: SignedInRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    lines = Activity.objects.select_related("actor").order_by("-created_at", "-id")
    if query:
        lines = lines.filter(
            Q(action__icontains=query) | Q(target__icontains=query) | Q(actor__username=query)
        )
    return render(
        request,
        "web/admin/activity.html",
        {
            "section": "admin",
            "tab": "activity",
            "page_obj": paginate(request, lines),
            "query": query,
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin_only
def activity_csv(request: SignedInRequest) -> StreamingHttpResponse:
    """Every activity line as CSV, streamed so that a long log needs no memory."""
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["time", "actor", "action", "target", "namespace", "team", "details"])
        lines = Activity.objects.select_related("actor", "namespace", "team").order_by(
            "created_at", "id"
        )
        for line in lines.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    line.created_at.isoformat(),
                    line.actor.username if line.actor else "",
                    line.action,
                    _cell(line.target),
                    _cell(line.namespace.name if line.namespace else ""),
                    _cell(line.team.name if line.team else ""),
                    _cell(str(line.data or "")),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="portus-activity-{timezone.now():%Y%m%d}.csv"'
    )
    return response


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheets: quote it so opening runs nothing.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
