"""Who may open a page at all: signed-in users, anonymous visitors when browsing is on, admins."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.middleware import HtmxDetails

from portus import policy
from portus.accounts.models import User

View = Callable[..., HttpResponseBase]


class PageRequest(HttpRequest):
    """A request as the middleware leaves it for a page: htmx details, maybe an anonymous user."""

    htmx: HtmxDetails
    user: User | AnonymousUser  # type: ignore[assignment]


class SignedInRequest(PageRequest):
    """A request that ``signed_in`` or ``admin_only`` let through: the user is a real account."""

    user: User  # type: ignore[assignment]


def signed_in(view: View) -> View:
    """Anonymous visitors go to the sign-in page and come back afterwards."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def browsable(view: View) -> View:
    """Open to anonymous visitors while ``anonymous_browsing`` is on; the view still scopes."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated and not policy.can_browse_anonymously():
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def admin_only(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not policy.can_manage_users(request.user):
            raise PermissionDenied("Only administrators may open this page.")
        return view(request, *args, **kwargs)

    return wrapper


def principal(request: HttpRequest) -> User | None:
    """The user for the policy: None for anonymous visitors."""
    return request.user if request.user.is_authenticated else None
