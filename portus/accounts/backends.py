"""Django authentication backend for the sign-in form: passwords only, with lockout."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from portus.accounts.credentials import Failure, verify
from portus.accounts.models import User


class SignInRefused(Exception):
    """The password may be right, but the account cannot sign in now (locked or disabled).

    Raised through django.contrib.auth.authenticate(), which lets anything but PermissionDenied
    through, so the sign-in form can say why instead of "wrong password"."""

    def __init__(self, failure: Failure):
        super().__init__(failure.value)
        self.failure = failure


class PortusBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None or password is None:
            return None
        result = verify(username, password, allow_tokens=False)
        if result.failure in (Failure.LOCKED, Failure.DISABLED):
            raise SignInRefused(result.failure)
        return result.user
