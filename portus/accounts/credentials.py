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
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from portus.accounts import ldap, throttle
from portus.accounts.hashers import bcrypt_matches
from portus.accounts.models import TOKEN_PREFIX, ApplicationToken, User, token_digest
from portus.sql_rows import fetch_joined, fetch_models, select_list, table

# Writing last_used_at on every request would turn each token request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Failure(enum.Enum):
    BAD_CREDENTIALS = "invalid user name or password"
    DISABLED = "this account is disabled; ask an administrator to enable it"
    LOCKED = "too many failed sign-ins; this account is locked for a while, try again later or reset your password"
    THROTTLED = "too many failed sign-ins from your address; wait and try again"
    UNREACHABLE = "the LDAP directory cannot be reached; try again later, or tell an administrator"
    PASSWORDS_OFF = (
        "passwords are not accepted here; create an application token on your Portus profile page "
        "and give it as the password"
    )


@dataclass(frozen=True)
class Verification:
    user: User | None
    failure: Failure | None = None
    token: ApplicationToken | None = None  # the application token that proved it, if one did
    retry_after: int | None = None  # THROTTLED: seconds until the address may try again


# Exactly what ApplicationToken.generate() makes: such a credential is a token and nothing else.
TOKEN_SHAPE = re.compile(r"prt_[A-Za-z0-9_-]{43}\Z")


def _cache_key(username: str, password: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256)
    return "portus:cred:" + mac.hexdigest()


# Every registry request reads the user (and token) row afresh: that is what makes a password
# change, disabling or revocation take effect at once. Fixed SQL, because it runs so often.


def _fresh_user(user_id: int, username: str) -> User | None:
    # Only identifiers are formatted in; the values go as parameters.
    columns = select_list(User, "u")
    sql = f"SELECT {columns} FROM {table(User)} u WHERE u.id = %s AND u.username = %s"  # noqa: S608
    found = fetch_models(User, sql, [user_id, username])
    return found[0] if found else None


def _fresh_token(digest: str, username: str | None) -> tuple[ApplicationToken, User] | None:
    """The token with DIGEST (if USERNAME owns it, when given), with its user, in one query."""
    columns = f"{select_list(ApplicationToken, 't')}, {select_list(User, 'u')}"
    sql = (
        f"SELECT {columns} FROM {table(ApplicationToken)} t"  # noqa: S608
        f" INNER JOIN {table(User)} u ON u.id = t.user_id WHERE t.digest = %s"
    )
    params = [digest]
    if username is not None:
        sql, params = sql + " AND u.username = %s", [*params, username]
    found = fetch_joined([ApplicationToken, User], sql, params)
    if not found:
        return None
    token, user = found[0]
    # Compared here too: a case-insensitive MySQL collation would let "ALICE" match "alice".
    if username is not None and user.username != username:
        return None
    return token, user


def verify_token(secret: str, username: str | None = None) -> Verification:
    """Who the usable application token SECRET belongs to, and only if that is USERNAME when given:
    the registry's token endpoint and the API both ask this. BAD_CREDENTIALS for an unknown, revoked
    or expired token or another owner; DISABLED for a disabled owner."""
    found = verify_token_digest(token_digest(secret), username)
    if found.failure is Failure.BAD_CREDENTIALS and username is not None and not secret.startswith(TOKEN_PREFIX):
        # Perhaps a token imported from the original Portus, not yet presented since the import.
        user = User.objects.filter(username=username).first()
        token = _imported_token(user, secret) if user is not None else None
        if token is not None:
            return verify_token_digest(token.digest, username)
    return found


def verify_token_digest(digest: str, username: str | None = None) -> Verification:
    """verify_token, for the token whose SHA-256 digest is DIGEST."""
    now = timezone.now()
    found = _fresh_token(digest, username)
    if found is None or not found[0].is_usable(now):
        return Verification(None, Failure.BAD_CREDENTIALS)
    token, user = found
    token.user = user
    if not user.is_active:
        return Verification(None, Failure.DISABLED)
    if user.is_locked(now):  # locked means locked, whatever the credential
        return Verification(None, Failure.LOCKED)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApplicationToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return Verification(user, token=token)


def _imported_token(user: User, secret: str) -> ApplicationToken | None:
    """The usable token imported from the original Portus that SECRET is, for USER; None for any other.

    The original kept only a bcrypt hash of each secret (and gave them no prefix), so a secret is
    matched against the user's imported tokens once, through bcrypt; the first match stores its
    SHA-256 digest like any other token's, and from then on it is found by digest lookup."""
    imported = list(user.application_tokens.usable().filter(imported_at__isnull=False))
    if not imported:
        return None
    digest = token_digest(secret)
    for token in imported:
        if not token.imported_hash and hmac.compare_digest(token.digest, digest):
            return token
    for token in imported:
        if token.imported_hash and bcrypt_matches(secret, token.imported_hash):
            ApplicationToken.objects.filter(pk=token.pk, imported_hash=token.imported_hash).update(
                digest=digest, imported_hash=""
            )
            token.digest, token.imported_hash = digest, ""
            return token
    return None


def _count_failure(user: User | None, tag: str, address: str) -> None:
    counted = throttle.count_password_failure(tag, address)
    if user is None:
        return
    changes: dict[str, object] = {"failed_sign_ins": F("failed_sign_ins") + 1}
    if counted.account_locked:
        changes["locked_until"] = timezone.now() + timedelta(minutes=settings.PORTUS.lockout.minutes)
    User.objects.filter(pk=user.pk).update(**changes)


def _succeeded(user: User, tag: str, address: str, standing: throttle.Standing) -> Verification:
    # Reads nothing more: the user row and the standing are already at hand, and a write happens
    # only when there were failures to forget.
    if standing.failures:
        throttle.forget_failures(tag, address)
    if user.failed_sign_ins:
        User.objects.filter(pk=user.pk).update(failed_sign_ins=0)
    return Verification(user)


def _refused(standing: throttle.Standing, user: User | None) -> Verification | None:
    if standing.retry_after is not None:
        return Verification(None, Failure.THROTTLED, retry_after=standing.retry_after)
    if standing.locked or (user is not None and user.is_locked()):
        return Verification(None, Failure.LOCKED)
    return None


def verify(
    username: str, password: str, *, address: str = "", allow_tokens: bool = True, allow_passwords: bool = True
) -> Verification:
    """Who USERNAME is if PASSWORD (or an application token) proves it, asked from the client ADDRESS
    (see portus.accounts.throttle for what is counted against it). With allow_passwords False only an
    application token can prove it (registry.token_passwords.enabled: false)."""
    if allow_tokens and password.startswith(TOKEN_PREFIX):
        found = verify_token(password, username)
        if found.failure is not Failure.BAD_CREDENTIALS:
            return found
        if TOKEN_SHAPE.match(password):
            # A revoked, expired or mistyped token is no password guess: it counts toward the
            # address's budget but never locks the account, and costs no password hash.
            throttle.count_address_failure(address)
            return found
        # Otherwise a password that merely starts like a token: checked as a password below.
    if not allow_passwords:
        # Refused before any hash or lookup: the answer says nothing about the password or the account.
        return Verification(None, Failure.PASSWORDS_OFF)
    ttl = settings.PORTUS.credential_cache.seconds
    key = _cache_key(username, password)
    remembered = cache.get(key) if ttl else None
    if remembered is not None and remembered[0] == "token":
        # An imported token remembered after its bcrypt check: a digest lookup from now on, so a
        # revocation or expiry takes effect at once.
        found = verify_token(password, username)
        if found.user is not None:
            return found
        cache.delete(key)
    elif remembered is not None:
        user_id, version = remembered
        user = _fresh_user(user_id, username)
        # An LDAP user's remembered password is the directory's: it stops working when LDAP is turned off.
        if user and user.is_active and user.credential_version == version and (ldap.enabled() or not user.ldap):
            # The throttles apply to remembered passwords too: otherwise a guesser who is refused
            # would still learn the right password from the one answer that succeeds.
            tag = throttle.account_tag(username, user)
            standing = throttle.standing(tag, address)
            return _refused(standing, user) or _succeeded(user, tag, address, standing)
        cache.delete(key)
    user = User.objects.filter(username=username).first()
    tag = throttle.account_tag(username, user)
    standing = throttle.standing(tag, address)
    refused = _refused(standing, user)
    if refused is not None:
        return refused
    if ldap.enabled() and (user is None or user.ldap) and not (user is not None and user.bot):
        return _verify_in_directory(username, password, user, tag, address, standing, key if ttl else None)
    if user is not None and user.bot and allow_tokens:
        token = _imported_token(user, password)
        if token is not None:  # the original's bot tokens had no prefix either
            return _imported_token_accepted(user, token, key, ttl)
    if user is None or user.bot:
        # Spend the same time as a real check: no user enumeration by timing. Bots sign in with
        # application tokens only, whatever password an older version may have stored.
        make_password(password)
        _count_failure(None, tag, address)
        return Verification(None, Failure.BAD_CREDENTIALS)
    if not user.check_password(password):
        token = _imported_token(user, password) if allow_tokens else None
        if token is not None:
            return _imported_token_accepted(user, token, key, ttl)
        _count_failure(user, tag, address)
        return Verification(None, Failure.BAD_CREDENTIALS)
    if not user.is_active:
        return Verification(None, Failure.DISABLED)
    if ttl:
        cache.set(key, (user.pk, user.credential_version), ttl)
    return _succeeded(user, tag, address, standing)


def _verify_in_directory(
    username: str,
    password: str,
    user: User | None,
    tag: str,
    address: str,
    standing: throttle.Standing,
    cache_key: str | None,
) -> Verification:
    """The LDAP directory checks the password of a user Portus does not know or who signs in through it;
    a failure counts exactly as a wrong local password does, a success is remembered the same way."""
    answer = ldap.authenticate(username, password)
    if answer.unreachable:
        # Not the caller's mistake: counted toward nothing.
        return Verification(None, Failure.UNREACHABLE)
    if answer.user is None:
        _count_failure(user, tag, address)
        return Verification(None, Failure.BAD_CREDENTIALS)
    user = answer.user
    if not user.is_active:
        return Verification(None, Failure.DISABLED)
    if cache_key is not None:
        cache.set(cache_key, (user.pk, user.credential_version), settings.PORTUS.credential_cache.seconds)
    return _succeeded(user, tag, address, standing)


def _imported_token_accepted(user: User, token: ApplicationToken, key: str, ttl: int) -> Verification:
    """An imported token matched: remembered under the credentials' key (the next check is a digest
    lookup), then checked like any other token (owner enabled, not locked; last use written)."""
    if ttl:
        cache.set(key, ("token", token.pk), ttl)
    return verify_token_digest(token.digest, user.username)
