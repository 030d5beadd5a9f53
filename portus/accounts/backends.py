"""Django authentication backend for the sign-in form: people's passwords only, with the throttles."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from portus.accounts.credentials import Failure, verify
from portus.accounts.models import User
from portus.accounts.throttle import client_address


class SignInRefused(Exception):
    """The password may be right, but the account cannot sign in now (locked, disabled, too
    many failures from this address, or the LDAP directory unreachable).

    Raised through django.contrib.auth.authenticate(), which lets anything but PermissionDenied
    through, so the sign-in form can say why instead of "wrong password"."""

    def __init__(self, failure: Failure, retry_after: int | None = None):
        super().__init__(failure.value)
        self.failure = failure
        self.retry_after = retry_after


class PortusBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None or password is None:
            return None
        address = client_address(request) if request is not None else ""
        # Application tokens never open a browser session, and bots never sign in on the pages
        # (verify refuses a bot's password).
        result = verify(username, password, address=address, allow_tokens=False)
        if result.failure in (Failure.LOCKED, Failure.DISABLED, Failure.THROTTLED, Failure.UNREACHABLE):
            raise SignInRefused(result.failure, result.retry_after)
        return result.user
