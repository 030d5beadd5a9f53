"""Signing in and out, signing up, and resetting a forgotten password."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from portus.accounts.actions import create_user
from portus.errors import ActionError
from portus.web.forms import SignInForm, SignUpForm


class SignInView(auth_views.LoginView):
    template_name = "web/auth/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.PORTUS.enabled("signup"):
        raise PermissionDenied(
            "Sign-up is turned off here; ask an administrator to create your account."
        )
    if request.user.is_authenticated:
        return redirect("web:dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = create_user(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ActionError as exc:
            form.add_error("username", str(exc))
        else:
            login(request, user, backend="portus.accounts.backends.PortusBackend")
            if user.admin:
                messages.success(
                    request,
                    "Welcome! You are the first user, so you are this Portus's administrator.",
                )
            else:
                messages.success(request, f"Welcome, {user.username}!")
            return redirect("web:dashboard")
    return render(request, "web/auth/signup.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "web/auth/password_reset.html"
    email_template_name = "web/auth/password_reset_email.txt"
    subject_template_name = "web/auth/password_reset_subject.txt"
    success_url = reverse_lazy("web:password-reset-done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/auth/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/auth/password_reset_confirm.html"
    success_url = reverse_lazy("web:password-reset-complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/auth/password_reset_complete.html"
