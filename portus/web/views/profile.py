"""The profile page: email and display name, password, avatar, application tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.urls import reverse_lazy
from django.utils import timezone

from portus import policy
from portus.accounts import actions as account_actions
from portus.accounts.models import ApplicationToken, User
from portus.accounts.social import provider_name
from portus.accounts.throttle import client_address
from portus.errors import ActionError
from portus.registry.models import Registry
from portus.web.forms import PasswordChangeForm, ProfileForm, TokenForm, proves_identity
from portus.web.views.action_form import ActionFormView


def expiry_from(choice: str) -> dt.datetime | None:
    return timezone.now() + dt.timedelta(days=int(choice)) if choice else None


def tokens_context(
    owner: User, form: TokenForm | None = None, secret: str = "", created: ApplicationToken | None = None
) -> dict[str, Any]:
    return {
        "owner": owner,
        "tokens": owner.application_tokens.order_by("-created_at"),
        "token_form": form or TokenForm(),
        "secret": secret,
        "created": created,
        "now": timezone.now(),
        # The hosts people push to, for the login commands beside the tokens.
        "registries": Registry.objects.order_by("name"),
    }


class TokenCreateView(ActionFormView):
    """Create a token for ``owner``; the secret is shown in the response once and kept nowhere."""

    http_method_names = ["post"]
    form_class = TokenForm
    error_field = "name"
    fragment_template = "web/profile/_tokens.html"
    invalid_status = 400
    owner: User
    secret = ""
    created: ApplicationToken | None = None

    def act(self, form: TokenForm) -> str:
        if not policy.can_manage_tokens(self.request.user, self.owner):
            raise ActionError("Administrators create tokens for bots only; people make their own.")
        self.created, self.secret = account_actions.create_token(
            user=self.owner,
            name=form.cleaned_data["name"],
            expires_at=expiry_from(form.cleaned_data["expires_in"]),
            actor=self.request.user,
        )
        return ""

    def fragment_context(self, form: TokenForm) -> dict[str, Any]:
        return tokens_context(self.owner, form, self.secret, self.created)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        return {**context, **self.fragment_context(context["form"])}

    def succeeded(self, message: str) -> HttpResponse:
        if self.htmx:
            return super().succeeded(message)
        # Without JavaScript, show the page with the secret in it rather than redirecting it away.
        return self.render_to_response(self.get_context_data(form=TokenForm()))


class TokenRevokeView(ActionFormView):
    http_method_names = ["post"]
    fragment_template = "web/profile/_tokens.html"
    owner: User

    def act(self, form: Any) -> str:
        token = self.owner.application_tokens.filter(pk=self.kwargs["token_pk"]).first()
        if token is None or not policy.can_manage_tokens(self.request.user, self.owner):
            raise Http404("No such token.")
        account_actions.revoke_token(token=token, actor=self.request.user)
        return f"Token {token.name} revoked; clients using it are refused from now on."

    def fragment_context(self, form: Any) -> dict[str, Any]:
        return tokens_context(self.owner)


def _account_label(account: SocialAccount) -> str:
    """Who the provider account is, as the provider calls them (login, user name or address)."""
    data = account.extra_data or {}
    claims = data.get("userinfo") or data.get("id_token") or data
    for key in ("login", "username", "preferred_username", "email"):
        if claims.get(key):
            return str(claims[key])
    return ""


def sign_in_context(request: Any, owner: User) -> dict[str, Any]:
    """The provider accounts linked to OWNER, and the providers they may still link (by their connect URL)."""
    linked = list(SocialAccount.objects.filter(user=owner).order_by("provider", "pk"))
    providers = get_social_adapter(request).list_providers(request)
    taken = {account.provider for account in linked}
    return {
        "linked_accounts": [(account, provider_name(account.provider), _account_label(account)) for account in linked],
        "linkable_providers": [
            (provider.name, provider.get_login_url(request, process="connect"))
            for provider in providers
            if provider.sub_id not in taken
        ],
        "has_password": owner.has_usable_password(),
    }


def _profile_initial(user: User) -> dict[str, str]:
    return {"email": user.email, "display_name": user.display_name}


class ProfilePage(LoginRequiredMixin, ActionFormView):
    """The profile page; each of its forms posts to its own view, named by ``form_slot``."""

    template_name = "web/profile/profile.html"
    invalid_status = 400
    success_url = reverse_lazy("web:profile")
    form_slot = "profile_form"

    def load(self) -> None:
        # LoginRequiredMixin let only a signed-in user through; narrowing the request type on this class
        # would clash with the token views it is mixed with, which the admin pages share.
        self.owner: User = self.request.user  # type: ignore[assignment]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = {
            "section": "profile",
            "profile_form": ProfileForm(initial=_profile_initial(self.owner)),
            "password_form": PasswordChangeForm(self.owner),
            **tokens_context(self.owner),
            **sign_in_context(self.request, self.owner),
        }
        return {**page, **context, self.form_slot: context["form"]}


class Profile(ProfilePage):
    form_class = ProfileForm
    error_field = "current_password"

    def get_initial(self) -> dict[str, Any]:
        return _profile_initial(self.owner)

    def act(self, form: ProfileForm) -> str:
        email_changes = form.cleaned_data["email"] != self.owner.email
        password = form.cleaned_data["current_password"]
        if email_changes and not proves_identity(self.owner, password, client_address(self.request)):
            # The email receives password resets: changing it is as good as changing the password.
            raise ActionError("Give your current password to change your email.")
        account_actions.update_profile(
            user=self.owner,
            email=form.cleaned_data["email"],
            display_name=form.cleaned_data["display_name"],
            actor=self.owner,
        )
        return "Profile saved."


class PasswordChange(ProfilePage):
    http_method_names = ["post"]
    form_class = PasswordChangeForm
    form_slot = "password_form"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.owner, "address": client_address(self.request)}

    def act(self, form: PasswordChangeForm) -> str:
        account_actions.change_password(user=self.owner, password=form.cleaned_data["password1"], actor=self.owner)
        update_session_auth_hash(self.request, self.owner)  # stay signed in here; other sessions end
        return "Password changed. Docker clients must sign in again with the new one."


class ProfileTokenCreate(ProfilePage, TokenCreateView):
    form_slot = "token_form"


class ProfileTokenRevoke(ProfilePage, TokenRevokeView):
    pass


class ProviderUnlink(ProfilePage):
    """Unlink one of the user's own provider accounts (never the last way to sign in)."""

    http_method_names = ["post"]

    def act(self, form: Any) -> str:
        account = SocialAccount.objects.filter(user=self.owner, pk=self.kwargs["account_pk"]).first()
        if account is None:
            raise Http404("No such linked account.")
        account_actions.unlink_provider(account=account, actor=self.owner)
        return f"{provider_name(account.provider)} unlinked; it no longer signs you in."
