"""Signing in and out, signing up, and resetting a forgotten password."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse_lazy

from portus.accounts.actions import create_user
from portus.web.forms import SignInForm, SignUpForm
from portus.web.views.action_form import ActionFormView

LOCAL_LOGIN_OFF = "Passwords are turned off here; sign in through one of the providers on the sign-in page."


def sign_in_providers(request: HttpRequest) -> list[tuple[str, str]]:
    """(name, login URL) of each provider configured in oauth.*; each button POSTs to its URL."""
    providers = get_social_adapter(request).list_providers(request)
    return [(provider.name, provider.get_login_url(request, process="login")) for provider in providers]


class SignInView(auth_views.LoginView):
    template_name = "web/auth/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.PORTUS.oauth.local_login.enabled:  # hidden is not enough: refuse the password too
            raise PermissionDenied(LOCAL_LOGIN_OFF)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "sign_in_providers": sign_in_providers(self.request)}

    def form_invalid(self, form: SignInForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        if form.retry_after is not None:  # too many failures from this address: say so, as HTTP does
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class SignOutView(auth_views.LogoutView):
    pass


class SignUp(ActionFormView):
    template_name = "web/auth/signup.html"
    form_class = SignUpForm
    error_field = "username"
    success_url = reverse_lazy("web:dashboard")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.PORTUS.signup.enabled:
            raise PermissionDenied("Sign-up is turned off here; ask an administrator to create your account.")
        if settings.PORTUS.ldap.enabled:
            # A local account would take the name of a directory user who has not signed in yet.
            raise PermissionDenied("Sign in with your LDAP account: the first sign-in creates your Portus account.")
        if not settings.PORTUS.oauth.local_login.enabled:
            raise PermissionDenied("Accounts with passwords are turned off here; sign in through a provider instead.")
        if request.user.is_authenticated:
            return redirect("web:dashboard")
        return super().dispatch(request, *args, **kwargs)

    def act(self, form: SignUpForm) -> str:
        data = form.cleaned_data
        user = create_user(username=data["username"], email=data["email"], password=data["password1"], signed_up=True)
        login(self.request, user, backend="portus.accounts.backends.PortusBackend")
        if user.admin:
            return "Welcome! You are the first user, so you are this Portus's administrator."
        return f"Welcome, {user.username}!"


def reset_mail_delivery() -> str:
    """How a reset link would travel: "smtp", "console" (development only: the server's output) or "none"."""
    if settings.PORTUS.email.smtp.enabled:
        return "smtp"
    # In production a console mail would put a valid reset link in the server's log: none is sent.
    return "none" if settings.PRODUCTION else "console"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "web/auth/password_reset.html"
    email_template_name = "web/auth/password_reset_email.txt"
    subject_template_name = "web/auth/password_reset_subject.txt"
    success_url = reverse_lazy("web:password-reset-done")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "delivery": reset_mail_delivery()}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if reset_mail_delivery() == "none":
            return self.get(request, *args, **kwargs)  # the page says to ask an administrator
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        # The link is built from the configured address, never from the request's Host header, which
        # whoever asks for the reset chooses (and would point the victim's link at their own server).
        base = urlsplit(settings.PORTUS_URL)
        self.domain_override = base.netloc
        self.use_https = base.scheme == "https"
        self.extra_email_context = {"portus_url": settings.PORTUS_URL}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/auth/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/auth/password_reset_confirm.html"
    success_url = reverse_lazy("web:password-reset-complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/auth/password_reset_complete.html"
