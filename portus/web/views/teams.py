"""Teams: the list, creating one, a team's page with members and namespaces, editing, deleting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse, reverse_lazy

from portus import policy
from portus.principal import Principal
from portus.registry import actions
from portus.registry.models import Namespace, Team, TeamMembership
from portus.web.access import SignedInRequest
from portus.web.forms import MemberForm, RoleForm, TeamForm
from portus.web.lookups import paginate, visible_team_or_404, with_namespace_counts, with_team_counts
from portus.web.views.action_form import ActionFormView, DescriptionEdit, ObjectDelete, ObjectPage


@login_required
def team_list(request: SignedInRequest) -> HttpResponse:
    teams = with_team_counts(Team.objects.filter(pk__in=policy.visible_teams(request.user).values("pk")))
    context = {
        "section": "teams",
        "page_obj": paginate(request, teams.order_by("name")),
        "can_create": policy.can_create_team(request.user),
    }
    return render(request, "web/teams/list.html", context)


class TeamCreate(LoginRequiredMixin, ActionFormView):
    request: SignedInRequest
    template_name = "web/teams/create.html"
    form_class = TeamForm
    error_field = "name"
    extra_context: Mapping[str, Any] | None = {"section": "teams"}

    def load(self) -> None:
        if not policy.can_create_team(self.request.user):
            raise PermissionDenied("Creating teams is reserved to administrators here.")

    def act(self, form: TeamForm) -> str:
        user = self.request.user
        self.object = actions.create_team(**form.cleaned_data, owner=user, actor=user)
        return f"Team {self.object.name} created; you are its owner."

    def get_success_url(self) -> str:
        return reverse("web:team", args=[self.object.pk])


def _member_context(user: Principal, team: Team) -> dict[str, Any]:
    """What a member row needs: the team, whether USER may manage it, the role choices."""
    return {"team": team, "can_manage": policy.can_manage_team(user, team), "role_form": RoleForm()}


def team_context(user: Principal, team: Team) -> dict[str, Any]:
    namespaces = Namespace.objects.filter(pk__in=policy.visible_namespaces(user).filter(team=team).values("pk"))
    return {
        "section": "teams",
        **_member_context(user, team),
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "namespaces": with_namespace_counts(namespaces),
        "can_create_namespace": policy.can_create_namespace(user, team),
    }


@login_required
def team_detail(request: SignedInRequest, pk: int) -> HttpResponse:
    team = visible_team_or_404(request.user, pk)
    context = {**team_context(request.user, team), "form": MemberForm()}
    return render(request, "web/teams/detail.html", context)


class TeamPage(LoginRequiredMixin, ObjectPage):
    """A page that changes one team: for its owners (and administrators) only."""

    lookup = staticmethod(visible_team_or_404)
    may = staticmethod(policy.can_manage_team)
    denied = "Only the owners of this team may change it."
    extra_context: Mapping[str, Any] | None = {"section": "teams"}


class TeamEdit(TeamPage, DescriptionEdit):
    update = staticmethod(actions.update_team)


class TeamDelete(TeamPage, ObjectDelete):
    template_name = "web/teams/delete.html"
    delete = staticmethod(actions.delete_team)
    success_url = reverse_lazy("web:teams")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(has_namespaces=self.object.namespaces.exists(), **kwargs)


class MemberAdd(TeamPage, ActionFormView):
    """Add a member; a refusal shows the team page again with the form's errors next to its fields."""

    http_method_names = ["post"]
    template_name = "web/teams/detail.html"
    invalid_status = 400
    form_class = MemberForm
    error_field = "username"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **team_context(self.request.user, self.object)}

    def act(self, form: MemberForm) -> str:
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        actions.add_member(team=self.object, user=user, role=role, actor=self.request.user)
        return f"{user.username} joined {self.object.name}."


class MembershipPage(TeamPage, ActionFormView):
    """A button about one membership of the team."""

    http_method_names = ["post"]

    def load(self) -> None:
        super().load()
        memberships = TeamMembership.objects.select_related("user", "team")
        self.membership = get_object_or_404(memberships, pk=self.kwargs["membership_pk"], team=self.object)


class MemberRole(MembershipPage):
    form_class = RoleForm
    fragment_template = "web/teams/_member.html"

    def act(self, form: RoleForm) -> str:
        role = form.cleaned_data["role"]
        self.membership = actions.change_role(membership=self.membership, role=role, actor=self.request.user)
        return f"{self.membership.user.username} is now {self.membership.get_role_display().lower()}."

    def fragment_context(self, form: RoleForm) -> dict[str, Any]:
        return {**_member_context(self.request.user, self.object), "membership": self.membership}


class MemberRemove(MembershipPage):
    def act(self, form: Any) -> str:
        actions.remove_member(membership=self.membership, actor=self.request.user)
        return f"{self.membership.user.username} left {self.object.name}."
