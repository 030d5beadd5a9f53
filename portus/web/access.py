"""Who may open a page at all, with Django's own decorators and mixins: signed in, browsing, admin."""

from __future__ import annotations

from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.mixins import UserPassesTestMixin
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from portus import policy
from portus.accounts.models import User


class PageRequest(HttpRequest):
    """A request as the middleware leaves it for a page: htmx details, maybe an anonymous user."""

    htmx: HtmxDetails
    user: User | AnonymousUser


class SignedInRequest(PageRequest):
    """A request that ``login_required`` or ``AdminRequiredMixin`` let through: a real account."""

    user: User


def _may_browse(user: User | AnonymousUser) -> bool:
    return user.is_authenticated or policy.can_browse_anonymously()


browsable = user_passes_test(_may_browse)
"""Open to anonymous visitors while ``anonymous_browsing`` is on (else sign in); the view still scopes."""


class AdminRequiredMixin(UserPassesTestMixin):
    """Administrators only: anonymous visitors are sent to sign in, other users get a 403."""

    request: HttpRequest  # set by the View this mixes into
    permission_denied_message = "Only administrators may open this page."

    def test_func(self) -> bool:
        return policy.can_manage_users(self.request.user)


def principal(request: HttpRequest) -> User | None:
    """The user for the policy: None for anonymous visitors."""
    return request.user if request.user.is_authenticated else None
