"""Counting failed sign-ins: per client address (rate limit), per account and address (lockout), per account.

Three counters, all in Django's cache (per process with the default LocMemCache, shared by every
process when PORTUS_REDIS_URL is set):

- **address**: failed credential checks from one client address over all accounts, in fixed windows
  of ``rate_limit.seconds``; past ``rate_limit.failures`` the address is answered 429 until the
  window ends. This bounds how many password hashes one address makes Portus compute.
- **account and address**: failed passwords for one account from one address; at
  ``lockout.attempts`` that address is locked out of that account for ``lockout.minutes``. The
  owner signing in from another address is not affected, so an attacker cannot lock anyone out.
  The count decays: it is forgotten ``lockout.minutes`` after the last failure.
- **account**: failed passwords for one account from all addresses; at ``lockout.account_attempts``
  the whole account is locked (``User.locked_until``, every credential refused) for
  ``lockout.minutes``, and then unlocks itself. The ceiling stops a guesser with many addresses.

Account names that do not exist are counted the same way, so the answers never tell whether a
user exists. The keys of an existing account carry its ``credential_version`` and
``lockout_epoch``: a new password or an administrator's unlock starts every count afresh.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from portus.accounts.models import User

PREFIX = "portus:throttle:"


def client_address(request: HttpRequest) -> str:
    """The address the throttles count for REQUEST: the peer's IPv4 address, or the /64 network of
    an IPv6 one (a single host usually holds a whole /64, so counting single addresses there would
    count nothing)."""
    return address_of(request.META.get("REMOTE_ADDR"))


# Longer than any address in text form (an IPv6 address with an IPv4 tail and a zone): not remembered.
LONGEST_ADDRESS = 64


def address_of(remote_addr: object) -> str:
    """client_address, for the REMOTE_ADDR value of a request."""
    raw = str(remote_addr or "")
    if len(raw) > LONGEST_ADDRESS:
        return _normalized_address(raw)
    return _remembered_address(raw)


def _normalized_address(raw: str) -> str:
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# ipaddress parses in Python, on every token request; the answer depends on the text alone, and a
# process sees the same few client addresses (or proxies) again and again.
_remembered_address = functools.lru_cache(maxsize=4096)(_normalized_address)


def account_tag(username: str, user: User | None) -> str:
    """What the account counters are keyed by: an existing account's name with the versions that
    reset them; an unknown name by itself."""
    if user is None:
        return f"{username}:-"
    return f"{username}:{user.credential_version}.{user.lockout_epoch}"


def _address_window(address: str, now: float) -> tuple[str, float]:
    seconds = settings.PORTUS.rate_limit.seconds
    window = int(now // seconds)
    return f"{PREFIX}addr:{address}:{window}", (window + 1) * seconds


def _pair_keys(tag: str, address: str) -> tuple[str, str]:
    base = f"{PREFIX}pair:{tag}:{address}"
    return base + ":n", base + ":locked"


def _account_keys(tag: str) -> tuple[str, str]:
    base = f"{PREFIX}account:{tag}"
    return base + ":n", base + ":locked"


@dataclass(frozen=True)
class Standing:
    """What the counters say about one attempt, read in one cache round trip."""

    retry_after: int | None  # the address is over its budget: seconds until it may try again
    locked: bool  # this address is locked out of this account (or an unknown name is "locked")
    failures: bool  # failures are counted for this account from this address (a success resets them)


def standing(tag: str | None, address: str) -> Standing:
    """Where ADDRESS stands, and for the account TAG when given."""
    now = time.time()
    window_key, window_end = _address_window(address, now)
    keys = [window_key]
    if tag is not None:
        keys += [*_pair_keys(tag, address), _account_keys(tag)[1]]
    found = cache.get_many(keys)
    limit = settings.PORTUS.rate_limit.failures
    retry_after = None
    if limit and found.get(window_key, 0) >= limit:
        retry_after = max(1, int(window_end - now + 0.999))
    if tag is None:
        return Standing(retry_after, False, False)
    pair_count, pair_locked, account_locked = (keys[1], keys[2], keys[3])
    return Standing(
        retry_after,
        locked=pair_locked in found or account_locked in found,
        failures=pair_count in found,
    )


def _increment(key: str, timeout: float) -> int:
    cache.add(key, 0, timeout)
    try:
        value = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        value = 1
    cache.touch(key, timeout)
    return int(value)


def count_address_failure(address: str) -> None:
    """A failed credential check from ADDRESS (a password or an application token)."""
    window_key, window_end = _address_window(address, time.time())
    _increment(window_key, window_end - time.time() + 1)


@dataclass(frozen=True)
class Counted:
    address_locked: bool  # this failure locked ADDRESS out of the account
    account_locked: bool  # this failure reached the ceiling: the account is locked for everyone


def count_password_failure(tag: str, address: str) -> Counted:
    """A wrong password for the account TAG from ADDRESS (counted toward the address budget too)."""
    count_address_failure(address)
    lockout = settings.PORTUS.lockout
    if not lockout.attempts and not lockout.account_attempts:
        return Counted(False, False)
    span = max(1, lockout.minutes * 60)
    pair_count, pair_locked = _pair_keys(tag, address)
    account_count, account_locked = _account_keys(tag)
    address_locked = account_reached = False
    if lockout.attempts and _increment(pair_count, span) >= lockout.attempts:
        cache.set(pair_locked, True, span)
        cache.delete(pair_count)
        address_locked = True
    if lockout.account_attempts and _increment(account_count, span) >= lockout.account_attempts:
        cache.set(account_locked, True, span)
        cache.delete(account_count)
        account_reached = True
    return Counted(address_locked, account_reached)


def forget_failures(tag: str, address: str) -> None:
    """A success for TAG from ADDRESS: its count for this address starts over."""
    cache.delete(_pair_keys(tag, address)[0])
