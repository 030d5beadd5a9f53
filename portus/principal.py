"""Who acts: the principal the policy is asked about, and the actor an action records."""

from __future__ import annotations

from typing import Final, TypeAlias

from django.contrib.auth.models import AnonymousUser

from portus.accounts.models import INTERNAL_ACCOUNT, User


class Internal:
    """Portus's own account, used to read the registry (catalog, manifests) during synchronization."""

    username = INTERNAL_ACCOUNT
    is_authenticated = True

    def __repr__(self) -> str:
        return "INTERNAL"


INTERNAL: Final = Internal()

# A signed-in user, an anonymous caller (None, or Django's AnonymousUser on a request), or INTERNAL.
Principal: TypeAlias = User | AnonymousUser | Internal | None
# Whom an action records as having done it: the request's user, or None when Portus itself acts (events, sync,
# portusctl); an anonymous user is recorded as nobody (the pages and the API let no anonymous caller act).
Actor: TypeAlias = User | AnonymousUser | None
