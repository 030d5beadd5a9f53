"""Checking a user name and a password or application token, fast enough for every registry request.

Docker clients send the password with every token request, and the password hash costs a good
part of a second by design. A successful verification is therefore remembered for a short time
under an HMAC of the credentials (keyed with the secret key, so the cache never holds anything a
password can be recovered from) together with the user's ``credential_version``; changing the
password or disabling the user bumps that version and so forgets every remembered verification
in every process. Application tokens carry 256 random bits and are checked by digest lookup.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from portus.accounts.models import TOKEN_PREFIX, ApplicationToken, User, token_digest

# Writing last_used_at on every request would turn each token request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Failure(enum.Enum):
    BAD_CREDENTIALS = "invalid user name or password"
    DISABLED = "this account is disabled; ask an administrator to enable it"
    LOCKED = "too many failed sign-ins; this account is locked for a while, try again later"


@dataclass(frozen=True)
class Verification:
    user: User | None
    failure: Failure | None = None
    token: ApplicationToken | None = None


def _cache_key(username: str, password: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256)
    return "portus:cred:" + mac.hexdigest()


def _verify_token(username: str, secret: str) -> Verification | None:
    token = (
        ApplicationToken.objects.usable().select_related("user").filter(digest=token_digest(secret)).first()
    )
    if token is None or token.user.username != username:
        return None
    if not token.user.is_active:
        return Verification(None, Failure.DISABLED)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApplicationToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return Verification(token.user, token=token)


def _record_failure(user: User) -> None:
    attempts = settings.PORTUS.get("lockout.attempts")
    User.objects.filter(pk=user.pk).update(failed_sign_ins=F("failed_sign_ins") + 1)
    user.refresh_from_db(fields=["failed_sign_ins"])
    if attempts and user.failed_sign_ins >= attempts:
        until = timezone.now() + timedelta(minutes=settings.PORTUS.get("lockout.minutes"))
        User.objects.filter(pk=user.pk).update(locked_until=until, failed_sign_ins=0)


def verify(username: str, password: str, *, allow_tokens: bool = True) -> Verification:
    """Who USERNAME is if PASSWORD (or an application token) proves it."""
    if allow_tokens and password.startswith(TOKEN_PREFIX):
        found = _verify_token(username, password)
        if found is not None:
            return found
    ttl = settings.PORTUS.get("credential_cache.seconds")
    key = _cache_key(username, password)
    remembered = cache.get(key) if ttl else None
    if remembered is not None:
        user_id, version = remembered
        user = User.objects.filter(pk=user_id, username=username).first()
        if user and user.is_active and user.credential_version == version and not user.is_locked():
            return Verification(user)
        cache.delete(key)
    user = User.objects.filter(username=username).first()
    if user is None:
        make_password(password)  # spend the same time as a real check: no user enumeration by timing
        return Verification(None, Failure.BAD_CREDENTIALS)
    if user.is_locked():
        return Verification(None, Failure.LOCKED)
    if not user.check_password(password):
        _record_failure(user)
        return Verification(None, Failure.BAD_CREDENTIALS)
    if not user.is_active:
        return Verification(None, Failure.DISABLED)
    if user.failed_sign_ins:
        User.objects.filter(pk=user.pk).update(failed_sign_ins=0)
    if ttl:
        cache.set(key, (user.pk, user.credential_version), ttl)
    return Verification(user)
