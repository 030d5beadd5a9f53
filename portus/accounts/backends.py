"""Django authentication backend for the sign-in form: passwords only, with lockout."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from portus.accounts.credentials import verify
from portus.accounts.models import User


class PortusBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None or password is None:
            return None
        result = verify(username, password, allow_tokens=False)
        if request is not None and result.failure is not None:
            request.portus_sign_in_failure = result.failure  # type: ignore[attr-defined]
        return result.user
