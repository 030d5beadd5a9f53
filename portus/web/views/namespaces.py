"""Namespaces: the list by kind, creating one, and a namespace's page with its settings."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portus import policy
from portus.registry import actions
from portus.registry.models import Namespace, NamespaceKind, Repository, Team, TeamMembership
from portus.registry.names import InvalidName
from portus.web.access import PageRequest, SignedInRequest, browsable, principal, signed_in
from portus.web.forms import DescriptionForm, NamespaceForm, TransferForm, VisibilityForm
from portus.web.lookups import (
    paginate,
    visible_namespace_or_404,
    with_namespace_counts,
)


def teams_for_new_namespaces(user: Any) -> QuerySet[Team]:
    """Teams in which USER may create (or receive by transfer) a namespace."""
    teams = list(policy.visible_teams(user))
    return Team.objects.filter(
        pk__in=[team.pk for team in teams if policy.can_create_namespace(user, team)]
    )


@signed_in
def namespace_list(request: SignedInRequest) -> HttpResponse:
    user = request.user
    visible = with_namespace_counts(
        Namespace.objects.filter(pk__in=policy.visible_namespaces(user).values("pk"))
    )
    member_teams = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    others = (
        visible.exclude(kind=NamespaceKind.GLOBAL)
        .exclude(owner_id=user.pk)
        .exclude(team_id__in=member_teams)
    )
    context = {
        "section": "namespaces",
        "global_namespaces": visible.filter(kind=NamespaceKind.GLOBAL),
        "personal": visible.filter(owner_id=user.pk),
        "team_namespaces": visible.filter(team_id__in=member_teams),
        "page_obj": paginate(request, others.order_by("name")),
        "can_create": teams_for_new_namespaces(user).exists(),
    }
    return render(request, "web/namespaces/list.html", context)


@signed_in
def namespace_create(request: SignedInRequest) -> HttpResponse:
    teams = teams_for_new_namespaces(request.user)
    if not teams.exists():
        raise PermissionDenied(
            "You may create namespaces only for teams in which you are an owner or contributor."
        )
    initial = {"team": request.GET.get("team")} if request.GET.get("team") else {}
    form = NamespaceForm(teams, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            namespace = actions.create_namespace(
                name=data["name"],
                team=data["team"],
                visibility=data["visibility"],
                description=data["description"],
                actor=request.user,
            )
        except (actions.ActionError, InvalidName) as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Namespace {namespace.name} created.")
            return redirect("web:namespace", namespace.pk)
    return render(request, "web/namespaces/create.html", {"section": "namespaces", "form": form})


def _permissions(user: Any, namespace: Namespace) -> dict[str, bool]:
    return {
        "can_manage": policy.can_manage_namespace(user, namespace),
        "can_change_visibility": policy.can_change_visibility(user, namespace),
        "can_push": policy.can_push(user, namespace),
    }


@browsable
def namespace_detail(request: PageRequest, pk: int) -> HttpResponse:
    user = principal(request)
    namespace = visible_namespace_or_404(user, pk)
    repositories = Repository.objects.filter(namespace=namespace).with_counts().order_by("name")
    context = {
        "section": "namespaces",
        "namespace": namespace,
        "page_obj": paginate(request, repositories),
        **_permissions(user, namespace),
    }
    return render(request, "web/namespaces/detail.html", context)


@signed_in
def namespace_edit(request: SignedInRequest, pk: int) -> HttpResponse:
    namespace = visible_namespace_or_404(request.user, pk)
    if not policy.can_manage_namespace(request.user, namespace):
        raise PermissionDenied("Only the owners of this namespace's team may edit it.")
    form = DescriptionForm(request.POST or None, initial={"description": namespace.description})
    if request.method == "POST" and form.is_valid():
        actions.update_namespace_description(
            namespace=namespace, description=form.cleaned_data["description"], actor=request.user
        )
        messages.success(request, "Description saved.")
        return redirect("web:namespace", namespace.pk)
    return render(
        request,
        "web/namespaces/edit.html",
        {"section": "namespaces", "namespace": namespace, "form": form},
    )


@signed_in
@require_POST
def namespace_visibility(request: SignedInRequest, pk: int) -> HttpResponse:
    namespace = visible_namespace_or_404(request.user, pk)
    form = VisibilityForm(request.POST)
    wanted = str(form.data.get("visibility", ""))
    if not policy.can_change_visibility(request.user, namespace, wanted):
        raise PermissionDenied("You may not change who can pull from this namespace.")
    error = ""
    if form.is_valid():
        try:
            actions.change_visibility(namespace=namespace, visibility=wanted, actor=request.user)
        except actions.ActionError as exc:
            error = str(exc)
    else:
        error = "Choose private, protected or public."
    if request.htmx:
        return render(
            request,
            "web/namespaces/_visibility.html",
            {
                "namespace": namespace,
                "error": error,
                "saved": not error,
                "can_change_visibility": True,
            },
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request,
            f"{namespace.display_name} is now {namespace.get_visibility_display().lower()}.",
        )
    return redirect("web:namespace", namespace.pk)


@signed_in
def namespace_transfer(request: SignedInRequest, pk: int) -> HttpResponse:
    namespace = visible_namespace_or_404(request.user, pk)
    if namespace.kind != NamespaceKind.TEAM or not policy.can_manage_namespace(
        request.user, namespace
    ):
        raise PermissionDenied("Only the owners of a team namespace may move it to another team.")
    teams = teams_for_new_namespaces(request.user).exclude(namespaces=namespace)
    form = TransferForm(teams, request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.transfer_namespace(
            namespace=namespace, team=form.cleaned_data["team"], actor=request.user
        )
        messages.success(
            request, f"{namespace.name} now belongs to {form.cleaned_data['team'].name}."
        )
        return redirect("web:namespace", namespace.pk)
    return render(
        request,
        "web/namespaces/transfer.html",
        {
            "section": "namespaces",
            "namespace": namespace,
            "form": form,
            "has_teams": teams.exists(),
        },
    )


@signed_in
def namespace_delete(request: SignedInRequest, pk: int) -> HttpResponse:
    namespace = visible_namespace_or_404(request.user, pk)
    if namespace.kind != NamespaceKind.TEAM or not policy.can_manage_namespace(
        request.user, namespace
    ):
        raise PermissionDenied("Only the owners of a team namespace may delete it.")
    has_repositories = namespace.repositories.exists()
    if request.method == "POST" and not has_repositories:
        actions.delete_namespace(namespace=namespace, actor=request.user)
        messages.success(request, f"Namespace {namespace.name} deleted.")
        return redirect("web:namespaces")
    return render(
        request,
        "web/namespaces/delete.html",
        {"section": "namespaces", "namespace": namespace, "has_repositories": has_repositories},
    )
