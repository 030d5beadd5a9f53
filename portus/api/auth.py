"""Who calls the API: an application token (Portus-Auth or Bearer), a browser session, or nobody."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyHeader
from ninja.security.apikey import APIKeyCookie
from ninja.security.http import HttpBearer
from ninja.utils import check_csrf

from portus import policy
from portus.accounts.credentials import Failure, verify_token
from portus.accounts.models import User


class _Anonymous:
    """The caller that sent no credentials; truthy so django-ninja lets the request through."""

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANONYMOUS"


ANONYMOUS = _Anonymous()


def _user_for_token(secret: str, username: str | None = None) -> User:
    """The enabled owner of a usable token; 401 for anything else, with the same sentence for every
    failure so the answer tells nothing about which part was wrong."""
    result = verify_token(secret.strip(), username)
    if result.failure is Failure.DISABLED:
        raise AuthenticationError(401, "This account is disabled; ask an administrator to enable it.")
    if result.user is None:
        raise AuthenticationError(401, "Invalid or revoked application token; create a new one in your profile.")
    return result.user


class PortusAuth(APIKeyHeader):
    """``Portus-Auth: USER:APPLICATION_TOKEN``, as the original Portus API took it."""

    param_name = "Portus-Auth"

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        if key is None:
            return None
        username, sep, secret = key.partition(":")
        if not sep or not username or not secret:
            raise AuthenticationError(401, "The Portus-Auth header must be USER:APPLICATION_TOKEN.")
        return _user_for_token(secret, username)


class BearerToken(HttpBearer):
    """``Authorization: Bearer APPLICATION_TOKEN``."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError(
                401,
                "Send 'Authorization: Bearer APPLICATION_TOKEN' or 'Portus-Auth: USER:APPLICATION_TOKEN'.",
            )
        return self.authenticate(request, value)

    def authenticate(self, request: HttpRequest, token: str) -> User:
        return _user_for_token(token)


class BrowserSession(APIKeyCookie):
    """The signed-in browser; writes must carry the CSRF token like any form of the site."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, and only when a session actually signs the call in

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = getattr(request, "user", None)
        if key is None or user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise AuthenticationError(403, "CSRF check failed; reload the page and try again.")
        return user  # type: ignore[no-any-return]


def anonymous(request: HttpRequest) -> _Anonymous:
    """The last resort: nobody. Refused when the site does not allow anonymous browsing."""
    if not policy.can_browse_anonymously():
        raise AuthenticationError(401, "Sign in: send 'Authorization: Bearer APPLICATION_TOKEN'.")
    return ANONYMOUS


def open_to_anyone(request: HttpRequest) -> _Anonymous:
    """For what load balancers and first installations call: _ping, health, version, bootstrap."""
    return ANONYMOUS


SIGNED_IN: list[Callable[[HttpRequest], Any]] = [PortusAuth(), BearerToken(), BrowserSession()]
OPTIONAL: list[Callable[[HttpRequest], Any]] = [*SIGNED_IN, anonymous]
PUBLIC: list[Callable[[HttpRequest], Any]] = [*SIGNED_IN, open_to_anyone]


def principal(request: HttpRequest) -> User | None:
    """The signed-in user behind REQUEST, or None for anonymous: whom the policy is asked about."""
    auth = getattr(request, "auth", None)
    return None if auth is None or auth is ANONYMOUS else auth  # type: ignore[no-any-return]


def signed_in(request: HttpRequest) -> User:
    """The caller, who must be signed in for this endpoint."""
    user = principal(request)
    if user is None:
        raise AuthenticationError(401, "Sign in first: send 'Authorization: Bearer APPLICATION_TOKEN'.")
    return user
