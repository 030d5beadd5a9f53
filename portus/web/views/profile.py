"""The profile page: email and display name, password, avatar, application tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portus import policy
from portus.accounts import actions as account_actions
from portus.accounts.models import User
from portus.errors import ActionError
from portus.web.access import SignedInRequest, signed_in
from portus.web.forms import PasswordChangeForm, ProfileForm, TokenForm


def expiry_from(choice: str) -> dt.datetime | None:
    return timezone.now() + dt.timedelta(days=int(choice)) if choice else None


def tokens_context(
    owner: User, form: TokenForm | None = None, secret: str = "", created: Any = None
) -> dict[str, Any]:
    return {
        "owner": owner,
        "tokens": owner.application_tokens.order_by("-created_at"),
        "token_form": form or TokenForm(),
        "secret": secret,
        "created": created,
        "now": timezone.now(),
    }


def handle_token_create(
    request: SignedInRequest, owner: User, template: str, redirect_to: str
) -> HttpResponse:
    """Create a token for OWNER; the secret is shown in the response once and kept nowhere."""
    form = TokenForm(request.POST)
    secret, created = "", None
    if form.is_valid():
        try:
            created, secret = account_actions.create_token(
                user=owner,
                name=form.cleaned_data["name"],
                expires_at=expiry_from(form.cleaned_data["expires_in"]),
                actor=request.user,
            )
        except ActionError as exc:
            form.add_error("name", str(exc))
        else:
            form = TokenForm()
    context = tokens_context(owner, form, secret, created)
    if request.htmx:
        return render(request, "web/profile/_tokens.html", context)
    if secret:
        # Without JavaScript, show the page with the secret in it rather than redirecting it away.
        return render(request, template, {**page_context(request, owner), **context})
    for error in form.errors.get("name", []):
        messages.error(request, str(error))
    return redirect(redirect_to)


def page_context(request: SignedInRequest, owner: User) -> dict[str, Any]:
    return {
        "section": "profile",
        "profile_form": ProfileForm(
            initial={"email": owner.email, "display_name": owner.display_name}
        ),
        "password_form": PasswordChangeForm(owner),
        **tokens_context(owner),
    }


@signed_in
def profile(request: SignedInRequest) -> HttpResponse:
    user = request.user
    context = page_context(request, user)
    status = 200
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            account_actions.update_profile(
                user=user,
                email=form.cleaned_data["email"],
                display_name=form.cleaned_data["display_name"],
                actor=user,
            )
            messages.success(request, "Profile saved.")
            return redirect("web:profile")
        context["profile_form"], status = form, 400
    return render(request, "web/profile/profile.html", context, status=status)


@signed_in
@require_POST
def password_change(request: SignedInRequest) -> HttpResponse:
    user = request.user
    form = PasswordChangeForm(user, request.POST)
    if form.is_valid():
        account_actions.change_password(
            user=user, password=form.cleaned_data["password1"], actor=user
        )
        update_session_auth_hash(request, user)  # stay signed in here; other sessions end
        messages.success(
            request, "Password changed. Docker clients must sign in again with the new one."
        )
        return redirect("web:profile")
    context = {**page_context(request, user), "password_form": form}
    return render(request, "web/profile/profile.html", context, status=400)


@signed_in
@require_POST
def token_create(request: SignedInRequest) -> HttpResponse:
    return handle_token_create(request, request.user, "web/profile/profile.html", "web:profile")


def revoke(request: SignedInRequest, owner: User, token_pk: int) -> None:
    if not policy.can_manage_tokens(request.user, owner):
        raise Http404("No such token.")
    token = owner.application_tokens.filter(pk=token_pk).first()
    if token is None:
        raise Http404("No such token.")
    account_actions.revoke_token(token=token, actor=request.user)
    messages.success(
        request, f"Token {token.name} revoked; clients using it are refused from now on."
    )


@signed_in
@require_POST
def token_revoke(request: SignedInRequest, token_pk: int) -> HttpResponse:
    revoke(request, request.user, token_pk)
    if request.htmx:
        return render(request, "web/profile/_tokens.html", tokens_context(request.user))
    return redirect("web:profile")
