"""The one shape of every page that changes something: a form whose valid submission runs one action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View
from django.views.generic.edit import FormView

from portus.errors import ActionError
from portus.principal import Principal
from portus.registry.deletion import RegistryDeletionError
from portus.registry.names import InvalidName
from portus.web.access import PageRequest
from portus.web.forms import DescriptionForm

# What an action raises when it refuses: the message says why and what to do instead.
# RegistryDeletionError: the registry refused or could not be reached, and nothing was changed.
REFUSALS = (ActionError, InvalidName, RegistryDeletionError)


class LoadedView(View):
    """A view about objects named in its URL: ``load()`` fetches them before any handler runs."""

    @property
    def htmx(self) -> bool:
        """Whether htmx sent the request: it then wants a fragment of the page back."""
        return bool(cast(PageRequest, self.request).htmx)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method and request.method.lower() in self.http_method_names:
            self.load()
        return super().dispatch(request, *args, **kwargs)

    def load(self) -> None:
        """Fetch what the page is about, scoped by the policy; raise Http404 or PermissionDenied."""


class ActionFormView(LoadedView, FormView):
    """Validate the form, run ``act``, answer; a subclass says only what differs.

    ``act(form)`` runs the action and returns the sentence shown afterwards; a refusal from the
    action is shown like a form error, next to ``error_field`` (above the form when None). An htmx
    request gets ``fragment_template`` back, done or not (after success with a fresh form, so the
    form class must take no arguments). Otherwise success is a message and a redirect to
    ``get_success_url()``, and a refusal shows ``template_name`` again with ``invalid_status`` (or,
    for a form without a page of its own, a message and the same redirect).
    """

    form_class: Any = forms.Form
    template_name = ""
    fragment_template = ""
    error_field: str | None = None
    invalid_status = 200

    def act(self, form: Any) -> str:
        raise NotImplementedError

    def fragment_context(self, form: Any) -> dict[str, Any]:
        return {"form": form}

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            message = self.act(form)
        except REFUSALS as exc:
            form.add_error(self.error_field, str(exc))
            return self.form_invalid(form)
        return self.succeeded(message)

    def succeeded(self, message: str) -> HttpResponse:
        if self.htmx and self.fragment_template:
            return self.render_fragment(self.get_form_class()(), saved=True)
        if message:
            messages.success(self.request, message)
        return HttpResponseRedirect(self.get_success_url())

    def form_invalid(self, form: Any) -> HttpResponse:
        if self.htmx and self.fragment_template:
            return self.render_fragment(form, saved=False)
        if self.template_name:
            return self.render_to_response(self.get_context_data(form=form), status=self.invalid_status)
        for error in _errors(form):
            messages.error(self.request, error)
        return HttpResponseRedirect(self.get_success_url())

    def render_fragment(self, form: Any, *, saved: bool) -> HttpResponse:
        context = {"error": " ".join(_errors(form)), "saved": saved, **self.fragment_context(form)}
        return render(self.request, self.fragment_template, context)


def _errors(form: forms.Form) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


class ObjectPage(LoadedView):
    """A view about one object named by ``pk`` in the URL, as ``self.object``.

    ``lookup(user, pk)`` fetches it scoped by the policy (404 for what the user may not see);
    ``may(user, object)`` decides who may use the page (403 saying ``denied``). As in Django's
    ``SingleObjectMixin``, the template gets it as ``object`` and under its model's name
    ("namespace", "team") unless ``context_object_name`` says otherwise; success goes back to its
    page, the route ``object_url`` (by default the one named like the object).
    """

    lookup: Callable[[Principal, int], Any]
    may: Callable[[Principal, Any], bool] = staticmethod(lambda user, thing: True)
    denied = "You may not change this."
    context_object_name = ""
    object_url = ""

    def load(self) -> None:
        self.object = self.lookup(self.request.user, self.kwargs["pk"])
        if not self.allowed():
            raise PermissionDenied(self.denied)

    def allowed(self) -> bool:
        return self.may(self.request.user, self.object)

    @property
    def object_name(self) -> str:
        return self.context_object_name or self.object._meta.model_name

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        named = {"object": self.object, self.object_name: self.object}
        # A mixin: the view it is mixed into (a TemplateView or a FormView) has get_context_data.
        return super().get_context_data(**named, **kwargs)  # type: ignore[misc]

    def get_success_url(self) -> str:
        return reverse(self.object_url or f"web:{self.object_name}", args=[self.object.pk])


class DescriptionEdit(ObjectPage, ActionFormView):
    """Editing an object's Markdown description with ``update``, the action that saves it."""

    template_name = "web/description_edit.html"
    form_class = DescriptionForm
    update: Callable[..., Any]

    def get_initial(self) -> dict[str, Any]:
        return {"description": self.object.description}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(back=self.get_success_url(), **kwargs)

    def act(self, form: DescriptionForm) -> str:
        description = form.cleaned_data["description"]
        self.update(**{self.object_name: self.object}, description=description, actor=self.request.user)
        return "Description saved."


class ObjectDelete(ObjectPage, ActionFormView):
    """A confirmation page that deletes its object with ``delete``, the action, then goes to ``success_url``.

    The action takes the object as ``keyword`` (by default its name in the template).
    """

    delete: Callable[..., Any]
    keyword = ""

    def act(self, form: forms.Form) -> str:
        self.delete(**{self.keyword or self.object_name: self.object}, actor=self.request.user)
        return f"Deleted {self.object}."

    def get_success_url(self) -> str:
        return str(self.success_url)
