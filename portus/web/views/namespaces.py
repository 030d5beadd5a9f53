"""Namespaces: the list by kind, creating one, and a namespace's page with its settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy

from portus import policy
from portus.accounts.models import User
from portus.registry import actions, deletion
from portus.registry.images import namespace_storage
from portus.registry.models import ActivityDaily, Namespace, NamespaceKind, Repository, TeamMembership
from portus.web.access import PageRequest, SignedInRequest, browsable, principal
from portus.web.charts import activity_chart
from portus.web.forms import DeleteImagesForm, NamespaceForm, TransferForm, VisibilityForm
from portus.web.lookups import (
    paginate,
    visible_namespace_or_404,
    visible_namespace_with_roles_or_404,
    with_namespace_counts,
)
from portus.web.views.action_form import ActionFormView, DescriptionEdit, ObjectDelete, ObjectPage


@login_required
def namespace_list(request: SignedInRequest) -> HttpResponse:
    user = request.user
    visible = with_namespace_counts(Namespace.objects.filter(pk__in=policy.visible_namespaces(user).values("pk")))
    member_teams = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    others = visible.exclude(kind=NamespaceKind.GLOBAL).exclude(owner_id=user.pk).exclude(team_id__in=member_teams)
    can_create = policy.teams_for_new_namespaces(user).exists()
    context = {
        "section": "namespaces",
        "global_namespaces": visible.filter(kind=NamespaceKind.GLOBAL),
        "personal": visible.filter(owner_id=user.pk),
        "team_namespaces": visible.filter(team_id__in=member_teams),
        "page_obj": paginate(request, others.order_by("name")),
        "can_create": can_create,
        "why_no_create": "" if can_create else why_no_namespace_can_be_created(user),
        "can_create_team": policy.can_create_team(user),
    }
    return render(request, "web/namespaces/list.html", context)


def why_no_namespace_can_be_created(user: User) -> str:
    """Why USER has no "New namespace" button: namespaces belong to teams, and USER creates in none."""
    if not policy.is_admin(user) and not settings.PORTUS.user_permission.create_namespace.enabled:
        return "Only administrators create namespaces on this installation (user_permission.create_namespace is off)."
    if policy.is_admin(user) or not TeamMembership.objects.filter(user_id=user.pk).exists():
        if policy.is_admin(user):
            return "Every namespace belongs to a team, and there is no team yet."
        return "Every namespace belongs to a team, and you are in no team yet."
    return (
        "Every namespace belongs to a team, and you are a viewer in all of yours: "
        "a team owner can make you a contributor."
    )


class NamespaceCreate(LoginRequiredMixin, ActionFormView):
    template_name = "web/namespaces/create.html"
    form_class = NamespaceForm
    error_field = "name"
    extra_context: Mapping[str, Any] | None = {"section": "namespaces"}

    def load(self) -> None:
        self.teams = policy.teams_for_new_namespaces(self.request.user)
        if not self.teams.exists():
            raise PermissionDenied("You may create namespaces only for teams in which you are an owner or contributor.")

    def get_initial(self) -> dict[str, Any]:
        return {"team": self.request.GET["team"]} if self.request.GET.get("team") else {}

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "teams": self.teams}

    def act(self, form: NamespaceForm) -> str:
        self.object = actions.create_namespace(**form.cleaned_data, actor=self.request.user)
        return f"Namespace {self.object.name} created."

    def get_success_url(self) -> str:
        return reverse("web:namespace", args=[self.object.pk])


@browsable
def namespace_detail(request: PageRequest, pk: int) -> HttpResponse:
    user = principal(request)
    # One query: the namespace, its repository count (the paginator's) and the caller's role in its team
    # (the four policy questions below then ask the database nothing).
    namespace, team_roles = visible_namespace_with_roles_or_404(user, pk)
    repositories = Repository.objects.filter(namespace=namespace).with_counts().order_by("name")
    context = {
        "section": "namespaces",
        "namespace": namespace,
        "page_obj": paginate(request, repositories, count=namespace.repository_count),  # type: ignore[attr-defined]
        "can_manage": policy.can_manage_namespace(user, namespace, team_roles),
        "can_change_visibility": policy.can_change_visibility(user, namespace, team_roles=team_roles),
        "can_push": policy.can_push(user, namespace, team_roles),
        "can_manage_webhooks": policy.can_manage_webhooks(user, namespace, team_roles),
        "activity_chart": activity_chart(ActivityDaily.objects.filter(namespace=namespace)),
        "storage": namespace_storage([namespace]).get(namespace.pk, 0),
    }
    return render(request, "web/namespaces/detail.html", context)


class NamespacePage(LoginRequiredMixin, ObjectPage):
    """A page that changes one namespace: for the owners of its team (and administrators)."""

    lookup = staticmethod(visible_namespace_or_404)
    may = staticmethod(policy.can_manage_namespace)
    denied = "Only the owners of this namespace's team may edit it."
    extra_context: Mapping[str, Any] | None = {"section": "namespaces"}


class TeamNamespacePage(NamespacePage, ActionFormView):
    """Moving and deleting: only team namespaces; global and personal ones always exist."""

    def allowed(self) -> bool:
        return self.object.kind == NamespaceKind.TEAM and super().allowed()


class NamespaceEdit(NamespacePage, DescriptionEdit):
    update = staticmethod(actions.update_namespace_description)


class NamespaceVisibility(NamespacePage, ActionFormView):
    http_method_names = ["post"]
    form_class = VisibilityForm
    fragment_template = "web/namespaces/_visibility.html"
    denied = "You may not change who can pull from this namespace."

    def allowed(self) -> bool:
        wanted = self.request.POST.get("visibility", "")
        return policy.can_change_visibility(self.request.user, self.object, wanted)

    def act(self, form: VisibilityForm) -> str:
        visibility = form.cleaned_data["visibility"]
        actions.change_visibility(namespace=self.object, visibility=visibility, actor=self.request.user)
        return f"{self.object.display_name} is now {self.object.get_visibility_display().lower()}."

    def fragment_context(self, form: VisibilityForm) -> dict[str, Any]:
        return {"namespace": self.object, "can_change_visibility": True}


class NamespaceTransfer(TeamNamespacePage):
    template_name = "web/namespaces/transfer.html"
    form_class = TransferForm
    denied = "Only the owners of a team namespace may move it to another team."

    def load(self) -> None:
        super().load()
        self.teams = policy.teams_for_new_namespaces(self.request.user).exclude(namespaces=self.object)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "teams": self.teams}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(has_teams=self.teams.exists(), **kwargs)

    def act(self, form: TransferForm) -> str:
        team = form.cleaned_data["team"]
        actions.transfer_namespace(namespace=self.object, team=team, actor=self.request.user)
        return f"{self.object.name} now belongs to {team.name}."


class NamespaceDelete(TeamNamespacePage, ObjectDelete):
    template_name = "web/namespaces/delete.html"
    denied = "Only the owners of a team namespace may delete it."
    form_class = DeleteImagesForm
    success_url = reverse_lazy("web:namespaces")

    def act(self, form: forms.Form) -> str:
        deletion.delete_namespace(
            namespace=self.object, actor=self.request.user, delete_images=form.cleaned_data["delete_images"]
        )
        return f"Deleted {self.object}; its name stays reserved until an administrator releases it."

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(has_repositories=self.object.repositories.exists(), **kwargs)
