"""A namespace's outgoing webhooks: the list, adding and changing one, its headers and secret, deleting it,
and its deliveries with a retrigger button; for the namespace's owners and admins only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, Model, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.generic import TemplateView

from portus import policy
from portus.web.forms import WebhookEditForm, WebhookEnabledForm, WebhookForm, WebhookHeaderForm
from portus.web.lookups import paginate, visible_namespace_or_404
from portus.web.views.action_form import ActionFormView, ObjectPage
from portus.webhooks import actions
from portus.webhooks.actions import WebhookFields
from portus.webhooks.models import Webhook, WebhookDelivery

# Characters of each logged header block and body shown on the deliveries page (the API has the rest).
SHOWN_LOG = 8000
HEADER_PREFIX = "header"
Found = TypeVar("Found", bound=Model)


class WebhooksPage(LoginRequiredMixin, ObjectPage):
    """A page about a namespace's webhooks: a webhook carries credentials and says where every push goes,
    so only the namespace's owners and admins see them (policy.can_manage_webhooks)."""

    lookup = staticmethod(visible_namespace_or_404)
    may = staticmethod(policy.can_manage_webhooks)
    denied = "Only the owners of this namespace (and administrators) may see and change its webhooks."
    context_object_name = "namespace"
    object_url = "web:namespace-webhooks"
    extra_context: Mapping[str, Any] | None = {"section": "namespaces"}


class WebhookPage(WebhooksPage):
    """A page about one webhook of the namespace, as ``self.webhook``."""

    def load(self) -> None:
        super().load()
        found = policy.manageable_webhooks(self.request.user).filter(
            namespace=self.object, pk=self.kwargs["webhook_pk"]
        )
        webhook = found.select_related("namespace__registry").first()
        if webhook is None:
            raise Http404("No such webhook.")
        self.webhook = webhook

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**{"webhook": self.webhook, **kwargs})

    def get_success_url(self) -> str:
        return reverse("web:webhook", args=[self.object.pk, self.webhook.pk])


def _one_or_404(queryset: QuerySet[Found], pk: int, what: str) -> Found:
    """The row PK of QUERYSET (a webhook's headers or deliveries), else a 404 naming WHAT."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise Http404(f"No such {what}.")
    return found


class WebhookList(WebhooksPage, TemplateView):
    template_name = "web/webhooks/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        latest = WebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-pk")
        webhooks = (
            policy.manageable_webhooks(self.request.user)
            .filter(namespace=self.object)
            .annotate(
                header_count=Count("headers"),
                last_state=Subquery(latest.values("state")[:1]),
                last_at=Subquery(latest.values("created_at")[:1]),
            )
        )
        return super().get_context_data(webhooks=webhooks, **kwargs)


class SecretShownOnce(ActionFormView):
    """Success shows the new signing secret in the answer itself (no redirect takes it away); it is kept
    sealed and never shown again."""

    secret = ""
    shown: Webhook

    def succeeded(self, message: str) -> HttpResponse:
        context = self.get_context_data(form=None, webhook=self.shown, secret=self.secret, message=message)
        return render(self.request, "web/webhooks/secret.html", context)


class WebhookCreate(WebhooksPage, SecretShownOnce):
    template_name = "web/webhooks/form.html"
    form_class = WebhookForm
    invalid_status = 400

    def act(self, form: WebhookForm) -> str:
        self.shown, self.secret = actions.create_webhook(
            namespace=self.object, fields=WebhookFields(**form.cleaned_data), actor=self.request.user
        )
        return f"Webhook {self.shown.name} added."


def _edit_context(webhook: Webhook) -> dict[str, Any]:
    # Prefixed: its fields sit on the same page as the settings' own "name".
    return {"headers": webhook.headers.all(), "header_form": WebhookHeaderForm(prefix=HEADER_PREFIX)}


class WebhookEdit(WebhookPage, ActionFormView):
    """The webhook's page: its settings, headers and secret; the password is never sent back."""

    template_name = "web/webhooks/form.html"
    form_class = WebhookEditForm
    invalid_status = 400

    def get_initial(self) -> dict[str, Any]:
        hook = self.webhook
        return {
            "name": hook.name,
            "url": hook.url,
            "request_method": hook.request_method,
            "content_type": hook.content_type,
            "username": hook.username,
            "enabled": hook.enabled,
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**_edit_context(self.webhook), **kwargs)

    def act(self, form: WebhookEditForm) -> str:
        data = dict(form.cleaned_data)
        clear = data.pop("clear_password")
        # Empty: keep the stored password (the page never holds it); ticked: remove it.
        data["password"] = "" if clear else (data["password"] or None)
        actions.update_webhook(webhook=self.webhook, fields=WebhookFields(**data), actor=self.request.user)
        return f"Webhook {self.webhook.name} saved."


class WebhookEnabled(WebhookPage, ActionFormView):
    """Turning a webhook on or off from the list."""

    http_method_names = ["post"]
    form_class = WebhookEnabledForm

    def act(self, form: WebhookEnabledForm) -> str:
        enabled = form.cleaned_data["enabled"]
        actions.update_webhook(webhook=self.webhook, fields=WebhookFields(enabled=enabled), actor=self.request.user)
        return f"Webhook {self.webhook.name} {'enabled' if enabled else 'disabled: it is sent nothing'}."

    def get_success_url(self) -> str:
        return reverse("web:namespace-webhooks", args=[self.object.pk])


class WebhookHeaderSet(WebhookPage, ActionFormView):
    http_method_names = ["post"]
    form_class = WebhookHeaderForm
    prefix = HEADER_PREFIX

    def act(self, form: WebhookHeaderForm) -> str:
        name, value = form.cleaned_data["name"], form.cleaned_data["value"]
        header = actions.set_header(webhook=self.webhook, name=name, value=value, actor=self.request.user)
        return f"Header {header.name} set; every delivery sends it."


class WebhookHeaderRemove(WebhookPage, ActionFormView):
    http_method_names = ["post"]

    def act(self, form: forms.Form) -> str:
        header = _one_or_404(self.webhook.headers.all(), self.kwargs["header_pk"], "header")
        actions.remove_header(header=header, actor=self.request.user)
        return f"Header {header.name} removed."


class WebhookSecret(WebhookPage, SecretShownOnce):
    """A new signing secret; receivers checking the old one refuse deliveries until they get the new one."""

    http_method_names = ["post"]

    def act(self, form: forms.Form) -> str:
        self.shown = self.webhook
        self.secret = actions.regenerate_secret(webhook=self.webhook, actor=self.request.user)
        return f"Webhook {self.webhook.name} has a new signing secret."


class WebhookDelete(WebhookPage, ActionFormView):
    template_name = "web/webhooks/delete.html"

    def act(self, form: forms.Form) -> str:
        actions.delete_webhook(webhook=self.webhook, actor=self.request.user)
        return f"Webhook {self.webhook.name} deleted, with its deliveries."

    def get_success_url(self) -> str:
        return reverse("web:namespace-webhooks", args=[self.object.pk])


class DeliveryList(WebhookPage, TemplateView):
    template_name = "web/webhooks/deliveries.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = paginate(self.request, self.webhook.deliveries.all())
        return super().get_context_data(page_obj=page, shown_log=SHOWN_LOG, **kwargs)


class DeliveryRetrigger(WebhookPage, ActionFormView):
    """Send a delivery's body again, as a new delivery the worker sends (the old one's log stays)."""

    http_method_names = ["post"]

    def act(self, form: forms.Form) -> str:
        delivery = _one_or_404(self.webhook.deliveries.all(), self.kwargs["delivery_pk"], "delivery")
        actions.retrigger_delivery(delivery=delivery, actor=self.request.user)
        return "Queued the delivery again; the worker sends it shortly."

    def get_success_url(self) -> str:
        return reverse("web:webhook-deliveries", args=[self.object.pk, self.webhook.pk])
