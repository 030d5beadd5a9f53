"""Sign-in through OAuth providers and OpenID Connect: the Portus rules django-allauth lacks, as its adapters.

Who may come in (organisation, team, group, workspace, Google domain, e-mail domain, per provider), who may
create an account (``signup.enabled``, or a provider marked ``trusted``), the user name chosen at the first
sign-in (the namespace rules), the account created through create_user (so the personal namespace follows),
and the refusals an account's state calls for (disabled, locked, bot). Linking to an existing account by
e-mail is allauth's, and only for addresses the provider says are verified.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from portus.accounts import ldap as directory
from portus.accounts.actions import create_user
from portus.accounts.models import User, validate_username
from portus.accounts.providers import BITBUCKET_API, OIDC_APP_ID, github_api, gitlab_url
from portus.config import ProviderSection
from portus.errors import ActionError
from portus.registry.actions import refuse_reserved_name

# The oauth.* section each allauth provider id (or the OpenID Connect app's id) is configured by.
SECTIONS = {
    "google": "google_oauth2",
    "github": "github",
    "gitlab": "gitlab",
    "bitbucket_oauth2": "bitbucket",
    OIDC_APP_ID: "openid_connect",
}
PROVIDER_NAMES = {
    "google": "Google",
    "github": "GitHub",
    "gitlab": "GitLab",
    "bitbucket_oauth2": "Bitbucket",
}
REFUSED_TEMPLATE = "socialaccount/refused.html"
CHECK_FAILED = "{provider} did not answer the membership check ({detail}); try again in a moment."


class Refused(Exception):
    """Why this provider account may not sign in here: a sentence for the person."""


def section_of(provider: str) -> ProviderSection:
    section: ProviderSection = getattr(settings.PORTUS.oauth, SECTIONS[provider])
    return section


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider) or settings.PORTUS.oauth.openid_connect.name


# -- who may come in -----------------------------------------------------------------------------------------------


def _get(session: requests.Session, url: str, token: str, provider: str, **params: str) -> requests.Response:
    try:
        return session.get(url, headers={"Authorization": f"Bearer {token}"}, params=params or None)
    except requests.RequestException as exc:
        raise Refused(CHECK_FAILED.format(provider=provider, detail=type(exc).__name__)) from None


def _member(response: requests.Response, provider: str) -> bool:
    """GitHub and GitLab answer a membership question with 200 (and an active state) or 404."""
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        raise Refused(CHECK_FAILED.format(provider=provider, detail=f"HTTP {response.status_code}"))
    return bool(response.json().get("state") == "active")


def _github(login: SocialLogin, token: str, session: requests.Session) -> None:
    config = settings.PORTUS.oauth.github
    api = github_api(config.server)
    org, team = config.organization, config.team
    if team:
        username = quote(str(login.account.extra_data.get("login", "")), safe="")
        url = f"{api}/orgs/{quote(org, safe='')}/teams/{quote(team, safe='')}/memberships/{username}"
        if not _member(_get(session, url, token, "GitHub"), "GitHub"):
            raise Refused(f"Only members of the {org}/{team} team on GitHub may sign in here.")
    elif org:
        url = f"{api}/user/memberships/orgs/{quote(org, safe='')}"
        if not _member(_get(session, url, token, "GitHub"), "GitHub"):
            raise Refused(f"Only members of the {org} organization on GitHub may sign in here.")


def _gitlab(login: SocialLogin, token: str, session: requests.Session) -> None:
    config = settings.PORTUS.oauth.gitlab
    if not config.group:
        return
    user_id = quote(str(login.account.extra_data.get("id", "")), safe="")
    url = f"{gitlab_url(config.server)}/api/v4/groups/{quote(config.group, safe='')}/members/all/{user_id}"
    if not _member(_get(session, url, token, "GitLab"), "GitLab"):
        raise Refused(f"Only members of the {config.group} group on GitLab may sign in here.")


def _google(login: SocialLogin) -> None:
    hd = settings.PORTUS.oauth.google_oauth2.options.hd
    if hd and str(login.account.extra_data.get("hd", "")).lower() != hd.lower():
        raise Refused(f"Only accounts of the {hd} Google Workspace domain may sign in here.")


def _bitbucket(token: str, session: requests.Session) -> None:
    team = settings.PORTUS.oauth.bitbucket.options.team
    if not team:
        return
    url = f"{BITBUCKET_API}/user/permissions/workspaces"
    response = _get(session, url, token, "Bitbucket", q=f'workspace.slug="{team}"', pagelen="100")
    if response.status_code != 200:
        raise Refused(CHECK_FAILED.format(provider="Bitbucket", detail=f"HTTP {response.status_code}"))
    slugs = {str(entry.get("workspace", {}).get("slug", "")) for entry in response.json().get("values", [])}
    if team not in slugs:
        raise Refused(f"Only members of the {team} workspace on Bitbucket may sign in here.")


def confirmed_addresses(login: SocialLogin, token: str, session: requests.Session) -> set[str]:
    """The e-mail addresses the provider vouches for. allauth knows GitHub's, Google's and OpenID Connect's
    verified flags; GitLab's primary address counts once confirmed, Bitbucket's addresses when confirmed."""
    addresses = {address.email.lower() for address in login.email_addresses if address.verified}
    data = login.account.extra_data
    if login.account.provider == "gitlab" and data.get("email") and data.get("confirmed_at"):
        addresses.add(str(data["email"]).lower())
    if login.account.provider == "bitbucket_oauth2":
        response = _get(session, f"{BITBUCKET_API}/user/emails", token, "Bitbucket")
        if response.status_code == 200:
            for entry in response.json().get("values", []):
                if entry.get("is_confirmed") and entry.get("email"):
                    addresses.add(str(entry["email"]).lower())
    return addresses


def check_restrictions(login: SocialLogin, session: requests.Session) -> None:
    """Raise Refused unless the provider account meets its provider's restrictions in oauth.*."""
    provider = login.account.provider
    token = login.token.token if login.token else ""
    if provider == "github":
        _github(login, token, session)
    elif provider == "gitlab":
        _gitlab(login, token, session)
    elif provider == "google":
        _google(login)
    elif provider == "bitbucket_oauth2":
        _bitbucket(token, session)
    domain = section_of(provider).domain.lower().lstrip("@")
    if domain and not any(a.rpartition("@")[2] == domain for a in confirmed_addresses(login, token, session)):
        raise Refused(
            f"Only people with an e-mail address at {domain}, verified by {provider_name(provider)}, may sign in here."
        )


def adopt_imported_bitbucket_account(login: SocialLogin) -> None:
    """The original Portus knew a Bitbucket account by its uuid, allauth knows it by its account_id: an
    imported link (portus.importer) is moved to the account_id before allauth looks the account up, so the
    person lands on their imported user. Both come from the same answer of Bitbucket's API."""
    if login.account.provider != "bitbucket_oauth2":
        return
    account_uuid = str(login.account.extra_data.get("uuid") or "")
    if account_uuid and account_uuid != login.account.uid:
        SocialAccount.objects.filter(provider="bitbucket_oauth2", uid=account_uuid).update(uid=login.account.uid)


def check_account(user: User) -> None:
    """An existing account a provider would sign in to: its state decides, as for a password."""
    if user.bot:
        raise Refused("This account is a bot: bots sign in with application tokens only.")
    if not user.is_active:
        raise Refused("This account is disabled; ask an administrator to enable it.")
    if user.is_locked():
        raise Refused("This account is locked after too many failed sign-ins; try again later.")


# -- the user name proposed at the first sign-in -------------------------------------------------------------------


def proposed_username(login: SocialLogin, data: dict[str, Any]) -> str:
    """The provider's user name (OpenID Connect: the configured claim), made to fit the namespace rules;
    empty when nothing fits. The person may change it before the account is created."""
    raw = str(data.get("username") or "")
    if login.account.provider == OIDC_APP_ID:
        extra = login.account.extra_data
        claims = extra.get("userinfo") or extra.get("id_token") or {}
        raw = str(claims.get(settings.PORTUS.oauth.openid_connect.username_claim) or "")
    if not raw:
        raw = str(data.get("email") or "").partition("@")[0]
    candidate = re.sub(r"[^a-z0-9._-]+", "-", raw.lower())
    candidate = re.sub(r"[._-]{2,}", "-", candidate).strip("._-")[:64].strip("._-")
    try:
        validate_username(candidate)
    except ValidationError:
        return ""
    return candidate


def refuse_directory_name(username: str) -> None:
    """With LDAP on, a name the directory knows is its user's, who may not have signed in yet: an account
    made through a provider must not take it (their directory password would then open nothing)."""
    try:
        known = directory.knows(username)
    except directory.DirectoryUnreachable:
        raise forms.ValidationError(
            "The directory cannot be reached to check that this name is free; try again in a moment."
        ) from None
    if known:
        raise forms.ValidationError(
            "This name belongs to a directory account: sign in with your directory password instead, "
            "or choose another name."
        )


# -- the adapters --------------------------------------------------------------------------------------------------


def refused_page(request: HttpRequest, provider: str, reason: str) -> HttpResponse:
    context = {"provider_name": provider_name(provider), "reason": reason}
    return render(request, REFUSED_TEMPLATE, context, status=403)


class PortusAccountAdapter(DefaultAccountAdapter):
    """What allauth's account side asks of the site: its sign-up rule and its user-name rules."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return settings.PORTUS.signup.enabled

    def clean_username(self, username: str, shallow: bool = False) -> str:
        username = username.strip()
        try:
            validate_username(username)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages[0]) from None
        if not shallow:
            if User.objects.filter(username=username).exists():
                raise forms.ValidationError("This user name is taken; choose another.")
            try:
                refuse_reserved_name(username)
            except ActionError as exc:
                raise forms.ValidationError(str(exc)) from None
            if directory.enabled():
                refuse_directory_name(username)
        return username

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return str(settings.LOGIN_REDIRECT_URL)


class PortusSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return settings.PORTUS.signup.enabled or section_of(sociallogin.account.provider).trusted

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        # Runs after allauth found the account (by this provider account, or by a verified address) and
        # before anyone is signed in or linked: a refusal here changes nothing.
        try:
            with self.get_requests_session() as session:
                check_restrictions(sociallogin, session)
            if sociallogin.is_existing and sociallogin.user is not None:
                check_account(sociallogin.user)
        except Refused as exc:
            raise ImmediateHttpResponse(refused_page(request, sociallogin.account.provider, str(exc))) from None

    def authenticate_by_email(self, sociallogin: SocialLogin) -> tuple[Any, str] | None:
        found: tuple[Any, str] | None = super().authenticate_by_email(sociallogin)
        if found is not None:
            # allauth removes the password of an account found by an address Portus never verified (its
            # holder may not own the address); a verification remembered for the registry must not outlive it.
            found[0].forget_credentials()
        return found

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]) -> Any:
        # Called for every provider answer, before allauth looks the provider account up.
        adopt_imported_bitbucket_account(sociallogin)
        user = super().populate_user(request, sociallogin, data)
        user.username = proposed_username(sociallogin, data)
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> User:
        """Create the account as every account is created (activity row, personal namespace), then link it."""
        proposed = sociallogin.user
        chosen = form.cleaned_data if form is not None else {}
        try:
            user = create_user(
                username=chosen.get("username") or proposed.username,
                email=chosen.get("email") or proposed.email or "",
                password=None,  # signs in through the provider; a password can be set by a reset
                display_name=" ".join(filter(None, [proposed.first_name, proposed.last_name]))[:150],
                signed_up=True,
            )
        except ActionError as exc:
            raise ImmediateHttpResponse(refused_page(request, sociallogin.account.provider, str(exc))) from None
        sociallogin.user = user
        sociallogin.save(request)
        return user

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount: SocialAccount) -> str:
        return reverse("web:profile")

    def validate_disconnect(self, account: SocialAccount, accounts: Any) -> None:
        # allauth's own page is not offered; portus.accounts.actions.unlink_provider holds the rule.
        raise ValidationError("Unlink providers on your profile page.")
