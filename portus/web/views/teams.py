"""Teams: the list, creating one, a team's page with members and namespaces, editing, deleting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portus import policy
from portus.registry import actions
from portus.registry.models import Namespace, Team, TeamMembership
from portus.registry.names import InvalidName
from portus.web.access import SignedInRequest, signed_in
from portus.web.forms import MemberForm, RoleForm, TeamEditForm, TeamForm
from portus.web.lookups import (
    paginate,
    visible_team_or_404,
    with_namespace_counts,
    with_team_counts,
)


def _managed_team(request: SignedInRequest, pk: int) -> Team:
    team = visible_team_or_404(request.user, pk)
    if not policy.can_manage_team(request.user, team):
        raise PermissionDenied("Only the owners of this team may change it.")
    return team


@signed_in
def team_list(request: SignedInRequest) -> HttpResponse:
    teams = with_team_counts(
        Team.objects.filter(pk__in=policy.visible_teams(request.user).values("pk"))
    )
    context = {
        "section": "teams",
        "page_obj": paginate(request, teams.order_by("name")),
        "can_create": policy.can_create_team(request.user),
    }
    return render(request, "web/teams/list.html", context)


@signed_in
def team_create(request: SignedInRequest) -> HttpResponse:
    if not policy.can_create_team(request.user):
        raise PermissionDenied("Creating teams is reserved to administrators here.")
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = actions.create_team(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                owner=request.user,
                actor=request.user,
            )
        except (actions.ActionError, InvalidName) as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Team {team.name} created; you are its owner.")
            return redirect("web:team", team.pk)
    return render(request, "web/teams/create.html", {"section": "teams", "form": form})


def _member_context(request: SignedInRequest, team: Team) -> dict[str, Any]:
    return {
        "team": team,
        "can_manage": policy.can_manage_team(request.user, team),
        "role_form": RoleForm(),
    }


@signed_in
def team_detail(request: SignedInRequest, pk: int) -> HttpResponse:
    team = visible_team_or_404(request.user, pk)
    memberships = team.memberships.select_related("user").order_by("user__username")
    namespaces = with_namespace_counts(
        Namespace.objects.filter(
            pk__in=policy.visible_namespaces(request.user).filter(team=team).values("pk")
        )
    )
    context = {
        "section": "teams",
        **_member_context(request, team),
        "memberships": memberships,
        "namespaces": namespaces,
        "member_form": MemberForm(),
        "can_create_namespace": policy.can_create_namespace(request.user, team),
    }
    return render(request, "web/teams/detail.html", context)


@signed_in
def team_edit(request: SignedInRequest, pk: int) -> HttpResponse:
    team = _managed_team(request, pk)
    form = TeamEditForm(request.POST or None, initial={"description": team.description})
    if request.method == "POST" and form.is_valid():
        actions.update_team(
            team=team, description=form.cleaned_data["description"], actor=request.user
        )
        messages.success(request, "Team saved.")
        return redirect("web:team", team.pk)
    return render(request, "web/teams/edit.html", {"section": "teams", "team": team, "form": form})


@signed_in
def team_delete(request: SignedInRequest, pk: int) -> HttpResponse:
    team = _managed_team(request, pk)
    error = ""
    if request.method == "POST":
        try:
            actions.delete_team(team=team, actor=request.user)
        except actions.ActionError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Team {team.name} deleted.")
            return redirect("web:teams")
    has_namespaces = team.namespaces.exists()
    return render(
        request,
        "web/teams/delete.html",
        {"section": "teams", "team": team, "has_namespaces": has_namespaces, "error": error},
    )


@signed_in
@require_POST
def member_add(request: SignedInRequest, pk: int) -> HttpResponse:
    team = _managed_team(request, pk)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            actions.add_member(
                team=team,
                user=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
                actor=request.user,
            )
        except actions.ActionError as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(
                request, f"{form.cleaned_data['username'].username} joined {team.name}."
            )
            return redirect("web:team", team.pk)
    # Re-show the team page with the form's errors next to its fields.
    context = {
        "section": "teams",
        **_member_context(request, team),
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "namespaces": with_namespace_counts(
            Namespace.objects.filter(
                pk__in=policy.visible_namespaces(request.user).filter(team=team).values("pk")
            )
        ),
        "member_form": form,
        "can_create_namespace": policy.can_create_namespace(request.user, team),
    }
    return render(request, "web/teams/detail.html", context, status=400)


def _membership(request: SignedInRequest, pk: int, membership_pk: int) -> TeamMembership:
    team = _managed_team(request, pk)
    return get_object_or_404(
        TeamMembership.objects.select_related("user", "team"), pk=membership_pk, team=team
    )


@signed_in
@require_POST
def member_role(request: SignedInRequest, pk: int, membership_pk: int) -> HttpResponse:
    membership = _membership(request, pk, membership_pk)
    form = RoleForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            membership = actions.change_role(
                membership=membership, role=form.cleaned_data["role"], actor=request.user
            )
        except actions.ActionError as exc:
            error = str(exc)
            membership.refresh_from_db()
    else:
        error = "Choose owner, contributor or viewer."
    if request.htmx:
        context = {
            **_member_context(request, membership.team),
            "membership": membership,
            "error": error,
            "saved": not error,
        }
        return render(request, "web/teams/_member.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, f"{membership.user.username} is now {membership.get_role_display().lower()}."
        )
    return redirect("web:team", pk)


@signed_in
@require_POST
def member_remove(request: SignedInRequest, pk: int, membership_pk: int) -> HttpResponse:
    membership = _membership(request, pk, membership_pk)
    try:
        actions.remove_member(membership=membership, actor=request.user)
    except actions.ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.username} left {membership.team.name}.")
    return redirect("web:team", pk)
