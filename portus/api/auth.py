"""Who calls the API: an application token (Portus-Auth or Bearer), a browser session, or nobody."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyHeader
from ninja.security.apikey import APIKeyCookie
from ninja.security.http import HttpBearer
from ninja.utils import check_csrf

from portus import policy
from portus.accounts import throttle
from portus.accounts.credentials import Failure, verify_token
from portus.accounts.models import User
from portus.accounts.throttle import client_address


class _Anonymous:
    """The caller that sent no credentials; truthy so django-ninja lets the request through."""

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANONYMOUS"


ANONYMOUS = _Anonymous()


class RateLimited(AuthenticationError):
    """429: the caller's address made too many failed attempts; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: int):
        super().__init__(429, f"Too many failed sign-ins from your address: wait {retry_after} seconds and try again.")
        self.retry_after = retry_after


def _user_for_token(request: HttpRequest, secret: str, username: str | None = None) -> User:
    """The enabled owner of a usable token; 401 for anything else, with the same sentence for every
    failure so the answer tells nothing about which part was wrong. An address that failed too
    often (see portus.accounts.throttle) is answered 429 before anything is checked."""
    address = client_address(request)
    retry_after = throttle.standing(None, address).retry_after
    if retry_after is not None:
        raise RateLimited(retry_after)
    result = verify_token(secret.strip(), username)
    if result.failure is Failure.DISABLED:
        raise AuthenticationError(401, "This account is disabled; ask an administrator to enable it.")
    if result.failure is Failure.LOCKED:
        raise AuthenticationError(401, "This account is locked after failed sign-ins; try again later.")
    if result.user is None:
        throttle.count_address_failure(address)
        raise AuthenticationError(401, "Invalid or revoked application token; create a new one in your profile.")
    return result.user


def signed_in_with_token(request: HttpRequest) -> bool:
    """Whether an application token (rather than a browser session) signed REQUEST in.

    Read from the request itself: a token header, when present, either signs the request in or
    ends it with 401 before any route runs, and a session is only looked at without one."""
    return bool(request.headers.get("Portus-Auth") or request.headers.get("Authorization"))


class PortusAuth(APIKeyHeader):
    """``Portus-Auth: USER:APPLICATION_TOKEN``, as the original Portus API took it."""

    param_name = "Portus-Auth"

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        if key is None:
            return None
        username, sep, secret = key.partition(":")
        if not sep or not username or not secret:
            raise AuthenticationError(401, "The Portus-Auth header must be USER:APPLICATION_TOKEN.")
        return _user_for_token(request, secret, username)


class BearerToken(HttpBearer):
    """``Authorization: Bearer APPLICATION_TOKEN``."""

    def __call__(self, request: HttpRequest) -> User | None:
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
        return _user_for_token(request, token)


class BrowserSession(APIKeyCookie):
    """The signed-in browser; writes must carry the CSRF token like any form of the site."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = (
        "The session of a browser signed in to Portus; POST, PUT and DELETE also need the CSRF token "
        "(the csrftoken cookie, echoed in the X-CSRFToken header)."
    )

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, and only when a session actually signs the call in

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = getattr(request, "user", None)
        if key is None or not isinstance(user, User) or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise AuthenticationError(403, "CSRF check failed; reload the page and try again.")
        return user


SIGN_IN = (
    "Sign in: send 'Authorization: Bearer APPLICATION_TOKEN' or 'Portus-Auth: USER:APPLICATION_TOKEN' "
    "(create a token in your profile), or call from a browser signed in to Portus."
)


class NoCredentials:
    """The last entry of an auth list: lets a caller who sent no credentials through as ANONYMOUS
    while `admits` says so. The OpenAPI document lists it as the empty requirement ``{}`` ("no
    credentials needed") exactly when it admits, so the document follows the configuration."""

    def admits(self) -> bool:
        raise NotImplementedError

    def __call__(self, request: HttpRequest) -> _Anonymous:
        if not self.admits():
            raise AuthenticationError(401, SIGN_IN)
        return ANONYMOUS


class AnonymousBrowsing(NoCredentials):
    """Nobody, when the site allows anonymous browsing (what public namespaces are for)."""

    def admits(self) -> bool:
        return policy.can_browse_anonymously()


class Anyone(NoCredentials):
    """Nobody, always: for what load balancers and first installations call (_ping, health,
    version, bootstrap)."""

    def admits(self) -> bool:
        return True


anonymous = AnonymousBrowsing()
open_to_anyone = Anyone()

AuthCallback = Callable[[HttpRequest], User | _Anonymous | None]

# What each route declares as its `auth`; the OpenAPI document states it per operation.
# Routes that act as the caller: an application token or a browser session, else 401.
SIGNED_IN: list[AuthCallback] = [PortusAuth(), BearerToken(), BrowserSession()]
# Routes that answer anonymous callers with what anonymous visitors may see.
OPTIONAL: list[AuthCallback] = [*SIGNED_IN, anonymous]
# Routes that answer anyone whatever the configuration.
PUBLIC: list[AuthCallback] = [*SIGNED_IN, open_to_anyone]


def principal(request: HttpRequest) -> User | None:
    """The signed-in user behind REQUEST, or None for anonymous: whom the policy is asked about."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, User) else None


def signed_in(request: HttpRequest) -> User:
    """The caller of a route declared ``auth=SIGNED_IN``: django-ninja answered 401 to anyone else
    before the route ran."""
    user = principal(request)
    if user is None:
        # A route reading the caller without declaring SIGNED_IN: its OpenAPI entry would promise
        # anonymous callers an answer. Fail loudly rather than answer a 401 the document hides.
        raise RuntimeError(f"{request.method} {request.path} needs a signed-in caller; declare auth=SIGNED_IN.")
    return user
