"""Administration: users and bots' tokens, registries and the first-run page, tasks, activity."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from portus.accounts import actions as account_actions
from portus.accounts.models import User
from portus.background.models import TaskStatus
from portus.errors import ActionError
from portus.principal import Principal
from portus.registry import actions, deletion
from portus.registry.images import namespace_storage
from portus.registry.models import Activity, EventState, Namespace, Registry, RegistryEvent, ReservedName
from portus.registry.reachability import Reachability, check_registry
from portus.security import scans
from portus.web.access import AdminRequiredMixin
from portus.web.activity_lines import LINE_OBJECTS, actor_recorded, describe
from portus.web.charts import storage_chart
from portus.web.forms import DeleteImagesForm, RegistryForm, UserChangeForm, UserCreateForm
from portus.web.lookups import paginate
from portus.web.views.action_form import ActionFormView, ObjectDelete, ObjectPage
from portus.web.views.profile import TokenCreateView, TokenRevokeView, tokens_context


class AdminPage(AdminRequiredMixin):
    """An administration page: administrators only, with the admin navigation and its ``tab``."""

    tab = "users"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Every admin page warns while an imported registry's unsigned notifications are accepted; the
        # registries page says it in full, with the button that ends it.
        unsigned = []
        if self.tab != "registries":
            unsigned = list(Registry.objects.filter(legacy_unsigned_notifications=True).values_list("name", flat=True))
        # A mixin: the view it is mixed into (a TemplateView or a FormView) has get_context_data.
        context: dict[str, Any] = super().get_context_data(section="admin", tab=self.tab, **kwargs)  # type: ignore[misc]
        return context | {"unsigned_registries": unsigned}


class UserList(AdminPage, TemplateView):
    template_name = "web/admin/users.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        query = self.request.GET.get("q", "").strip()
        users = User.objects.order_by("username")
        if query:
            users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
        return super().get_context_data(page_obj=paginate(self.request, users), query=query, **kwargs)


class UserCreate(AdminPage, ActionFormView):
    template_name = "web/admin/user_create.html"
    form_class = UserCreateForm

    def act(self, form: UserCreateForm) -> str:
        data = form.cleaned_data
        password = None if data["bot"] else data["password"]
        self.object = account_actions.create_user(**{**data, "password": password}, actor=self.request.user)
        return f"Created {'bot' if self.object.bot else 'user'} {self.object.username}."

    def get_success_url(self) -> str:
        return reverse("web:admin-user", args=[self.object.pk])


def _account(user: Principal, pk: int) -> User:
    return get_object_or_404(User, pk=pk)  # administrators see every account


class PersonPage(AdminPage, ObjectPage):
    """A page about one account, named by ``pk`` in the URL."""

    lookup = staticmethod(_account)
    context_object_name = "person"
    object_url = "web:admin-user"


class UserDetail(PersonPage, TemplateView):
    template_name = "web/admin/user.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        tokens = tokens_context(self.object) if self.object.bot else {}
        return super().get_context_data(**tokens, **kwargs)


class UserChange(PersonPage, ActionFormView):
    """Make admin, remove admin, enable, disable, unlock: one form button each."""

    http_method_names = ["post"]
    form_class = UserChangeForm

    def act(self, form: UserChangeForm) -> str:
        change, actor = form.cleaned_data["change"], self.request.user
        if change in ("make-admin", "remove-admin"):
            account_actions.set_admin(user=self.object, admin=change == "make-admin", actor=actor)
        elif change == "unlock":
            account_actions.unlock_user(user=self.object, actor=actor)
            return f"{self.object.username}: unlocked; failed sign-ins from every address are forgotten."
        else:
            account_actions.set_enabled(user=self.object, enabled=change == "enable", actor=actor)
        return f"{self.object.username}: done."


class UserDelete(PersonPage, ObjectDelete):
    template_name = "web/admin/user_delete.html"
    form_class = DeleteImagesForm
    success_url = reverse_lazy("web:admin-users")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        personal = Namespace.objects.filter(owner=self.object).first()
        has_repositories = personal is not None and personal.repositories.exists()
        return super().get_context_data(has_repositories=has_repositories, **kwargs)

    def act(self, form: forms.Form) -> str:
        deletion.delete_user(
            user=self.object, actor=self.request.user, delete_images=form.cleaned_data["delete_images"]
        )
        return f"Deleted {self.object}; the name stays reserved until you release it (Reserved names)."


class ReservedNameList(AdminPage, TemplateView):
    """Names of deleted users and namespaces, each with a button that releases it."""

    template_name = "web/admin/reserved_names.html"
    tab = "reserved"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(page_obj=paginate(self.request, ReservedName.objects.all()), **kwargs)


def _reserved_name(user: Any, pk: int) -> ReservedName:
    return get_object_or_404(ReservedName, pk=pk)  # administrators see every reserved name


class ReservedNameRelease(AdminPage, ObjectPage, ActionFormView):
    http_method_names = ["post"]
    lookup = staticmethod(_reserved_name)  # AdminPage lets administrators only in
    success_url = reverse_lazy("web:admin-reserved-names")

    def act(self, form: Any) -> str:
        actions.release_name(reserved=self.object, actor=self.request.user)
        return f"Released {self.object.name}: a new user or namespace may take it."

    def get_success_url(self) -> str:
        return str(self.success_url)


class BotTokenCreate(PersonPage, TokenCreateView):
    template_name = "web/admin/user.html"

    def load(self) -> None:
        super().load()
        self.owner = self.object


class BotTokenRevoke(PersonPage, TokenRevokeView):
    def load(self) -> None:
        super().load()
        self.owner = self.object


# -- registries -----------------------------------------------------------------------------


class RegistryList(AdminPage, TemplateView):
    template_name = "web/admin/registries.html"
    tab = "registries"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        registries = list(Registry.objects.order_by("name"))
        checked = None
        found = next((r for r in registries if str(r.pk) == self.request.GET.get("check")), None)
        if found is not None:
            checked = (found, check_registry(found.hostname, found.use_ssl))
        unsigned = [r for r in registries if r.legacy_unsigned_notifications]
        return super().get_context_data(registries=registries, checked=checked, unsigned=unsigned, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """End the grace period for unsigned notifications of one registry (after an import)."""
        registry = get_object_or_404(Registry, pk=request.POST.get("require_secret"))
        actions.end_unsigned_notifications(registry=registry, actor=request.user)
        messages.success(request, f"{registry.name}: notifications without its secret are refused from now on.")
        return redirect("web:admin-registries")


class RegistryCreate(AdminPage, ActionFormView):
    """Add a registry after checking it answers like one; the first-run page is this form."""

    template_name = "web/admin/registry_create.html"
    tab = "registries"
    form_class = RegistryForm
    error_field = "hostname"
    reachability: Reachability | None = None

    def act(self, form: RegistryForm) -> str:
        data = dict(form.cleaned_data)
        skip_check = data.pop("skip_check")
        self.reachability = check_registry(data["hostname"], data["use_ssl"])
        if not self.reachability.ok and not skip_check:
            raise ActionError(self.reachability.message)
        registry = actions.create_registry(**data, actor=self.request.user)
        return f"Registry {registry.name} added. {self.reachability.message}"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(reachability=self.reachability, **kwargs)

    def get_success_url(self) -> str:
        return reverse("web:admin-registries")


class FirstRun(RegistryCreate):
    template_name = "web/admin/first_run.html"

    # Once a registry exists there is nothing to set up: the administrator goes on to the dashboard.
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("web:dashboard") if Registry.objects.exists() else super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("web:dashboard") if Registry.objects.exists() else super().post(request, *args, **kwargs)

    def get_success_url(self) -> str:
        return reverse("web:dashboard")


# -- background tasks and activity ------------------------------------------------------------


class Tasks(AdminPage, TemplateView):
    template_name = "web/admin/tasks.html"
    tab = "tasks"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            now=timezone.now(),
            statuses=TaskStatus.objects.order_by("name"),
            pending_events=RegistryEvent.objects.filter(state=EventState.PENDING).count(),
            failed_events=RegistryEvent.objects.filter(state=EventState.FAILED).order_by("-id")[:10],
            scanners=scans.backend_statuses() if settings.PORTUS.background.security_scanning.enabled else [],
            **kwargs,
        )


class Storage(AdminPage, TemplateView):
    """Storage by namespace: one aggregate query over the stored image blobs."""

    template_name = "web/admin/storage.html"
    tab = "storage"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(storage=storage_chart(namespace_storage()), **kwargs)


class ActivityLog(AdminPage, TemplateView):
    template_name = "web/admin/activity.html"
    tab = "activity"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        query = self.request.GET.get("q", "").strip()
        lines = Activity.objects.select_related(*LINE_OBJECTS).order_by("-created_at", "-id")
        if query:
            lines = lines.filter(Q(action__icontains=query) | Q(target__icontains=query) | Q(actor__username=query))
        page_obj = paginate(self.request, lines)
        return super().get_context_data(
            page_obj=page_obj, lines=describe(page_obj, self.request.user), query=query, **kwargs
        )


class _Echo:
    def write(self, value: str) -> str:
        return value


class ActivityCsv(AdminRequiredMixin, View):
    """Every activity line as CSV, streamed so that a long log needs no memory."""

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        response = StreamingHttpResponse(_activity_rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="portus-activity-{timezone.now():%Y%m%d}.csv"'
        return response


def _activity_rows() -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(["time", "actor", "action", "target", "namespace", "team", "details"])
    lines = Activity.objects.select_related("actor", "namespace", "team").order_by("created_at", "id")
    for line in lines.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                line.created_at.isoformat(),
                (line.actor.username if line.actor else "") if actor_recorded(line) else "(not recorded)",
                line.action,
                _cell(line.target),
                _cell(line.namespace.name if line.namespace else ""),
                _cell(line.team.name if line.team else ""),
                _cell(str(line.data or "")),
            ]
        )


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheets: quote it so opening runs nothing.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
