"""The credential check behind every token request: remembered verifications, tokens, lockout."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import pytest
import time_machine
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.utils import timezone

from portus.accounts.actions import change_password, create_token, revoke_token, set_enabled
from portus.accounts.credentials import Failure, verify, verify_token
from portus.accounts.models import ApplicationToken, User
from tests.conftest import PASSWORD, World


def spoil_stored_hash(user: User) -> None:
    """Change the stored hash behind Portus's back (no credential_version bump): from now on only a
    remembered verification can let the old password in: this is how the tests see the cache."""
    User.objects.filter(pk=user.pk).update(password=make_password("something-else-entirely"))


def cache_entries() -> list[tuple[str, Any]]:
    """Every key and value in the test cache (LocMemCache), unpickled."""
    store = getattr(cache, "_cache", None)
    if store is None:
        pytest.skip("the test cache is not LocMemCache; cannot look inside it")
    return [(key, pickle.loads(value)) for key, value in store.items()]  # noqa: S301 (our own cache)


# -- remembered verifications ----------------------------------------------------------------------


def test_a_verified_password_is_remembered(world: World) -> None:
    assert verify("owner", PASSWORD).user == world.owner
    spoil_stored_hash(world.owner)
    assert verify("owner", PASSWORD).user == world.owner  # remembered, the hash was not checked again


def test_a_remembered_password_is_forgotten_after_a_password_change(world: World) -> None:
    assert verify("owner", PASSWORD).user == world.owner
    change_password(user=world.owner, password="a-brand-new-password", actor=world.owner)
    assert verify("owner", PASSWORD).failure == Failure.BAD_CREDENTIALS
    assert verify("owner", "a-brand-new-password").user == world.owner


def test_a_remembered_password_is_forgotten_when_the_user_is_disabled(world: World) -> None:
    assert verify("viewer", PASSWORD).user == world.viewer
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    result = verify("viewer", PASSWORD)
    assert result.user is None and result.failure == Failure.DISABLED
    # Enabling again does not bring back a stale verification: the password is checked afresh.
    set_enabled(user=world.viewer, enabled=True, actor=world.admin)
    spoil_stored_hash(world.viewer)
    assert verify("viewer", PASSWORD).user is None


def test_a_remembered_password_is_forgotten_by_forget_credentials(world: World) -> None:
    assert verify("outsider", PASSWORD).user == world.outsider
    world.outsider.forget_credentials()
    spoil_stored_hash(world.outsider)
    assert verify("outsider", PASSWORD).user is None


def test_a_remembered_password_expires(world: World, portus_config) -> None:
    portus_config("credential_cache.seconds", 60)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert verify("owner", PASSWORD).user == world.owner
        spoil_stored_hash(world.owner)
        traveller.shift(dt.timedelta(seconds=30))
        assert verify("owner", PASSWORD).user == world.owner
        traveller.shift(dt.timedelta(seconds=31))
        assert verify("owner", PASSWORD).user is None


def test_nothing_is_remembered_when_the_cache_is_off(world: World, portus_config) -> None:
    portus_config("credential_cache.seconds", 0)
    assert verify("owner", PASSWORD).user == world.owner
    spoil_stored_hash(world.owner)
    assert verify("owner", PASSWORD).user is None


def test_a_wrong_password_is_never_remembered_as_right(world: World) -> None:
    assert verify("owner", "not-the-password").user is None
    assert verify("owner", "not-the-password").user is None
    assert verify("owner", PASSWORD).user == world.owner


def test_a_remembered_password_does_not_let_in_another_user(world: World) -> None:
    assert verify("owner", PASSWORD).user == world.owner
    spoil_stored_hash(world.viewer)
    assert verify("viewer", PASSWORD).user is None  # same password, other user: checked, and wrong


def test_the_cache_never_holds_the_password(world: World) -> None:
    secret = "Very-Distinctive-Passw0rd"
    change_password(user=world.owner, password=secret, actor=world.owner)
    cache.clear()
    assert verify("owner", secret).user == world.owner
    entries = cache_entries()
    assert entries, "a successful verification should be remembered"
    for key, value in entries:
        blob = (key + repr(value)).encode()
        assert secret.encode() not in blob
        assert secret.lower().encode() not in blob.lower()
        # Nor the stored hash, which would let anyone reading the cache attack the password offline.
        assert User.objects.get(pk=world.owner.pk).password.encode() not in blob


# -- application tokens ----------------------------------------------------------------------------


def test_application_tokens_are_stored_as_digests_and_checked_by_digest(world: World) -> None:
    token, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    stored = ApplicationToken.objects.filter(pk=token.pk).values().get()
    assert plain not in repr(stored)
    assert stored["digest"] != plain and len(stored["digest"]) == 64
    result = verify("contributor", plain)
    assert result.user == world.contributor
    assert result.token is not None and result.token.pk == token.pk
    # Checked by digest: the password hash plays no part.
    spoil_stored_hash(world.contributor)
    assert verify("contributor", plain).user == world.contributor


def test_an_application_token_only_works_for_its_owner(world: World) -> None:
    _, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    assert verify("viewer", plain).user is None
    assert verify("contributor", plain[:-1]).user is None


def test_a_revoked_token_stops_working_at_once(world: World) -> None:
    token, plain = create_token(user=world.contributor, name="ci", actor=world.contributor)
    assert verify("contributor", plain).user == world.contributor
    assert verify("contributor", plain).user == world.contributor  # and again: remembered or not
    revoke_token(token=token, actor=world.contributor)
    assert verify("contributor", plain).user is None


def test_an_expired_token_stops_working(world: World) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        _, plain = create_token(
            user=world.contributor,
            name="short",
            expires_at=start + dt.timedelta(hours=1),
            actor=world.contributor,
        )
        assert verify("contributor", plain).user == world.contributor
        traveller.shift(dt.timedelta(hours=1, seconds=1))
        assert verify("contributor", plain).user is None


def test_a_token_of_a_disabled_user_is_refused(world: World) -> None:
    _, plain = create_token(user=world.viewer, name="ci", actor=world.viewer)
    assert verify("viewer", plain).user == world.viewer
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    result = verify("viewer", plain)
    assert result.user is None and result.failure == Failure.DISABLED


def test_tokens_are_refused_at_the_sign_in_form(world: World) -> None:
    _, plain = create_token(user=world.viewer, name="ci", actor=world.viewer)
    assert verify("viewer", plain, allow_tokens=False).user is None


def test_last_used_is_recorded_for_a_token(world: World) -> None:
    token, plain = create_token(user=world.viewer, name="ci", actor=world.viewer)
    assert token.last_used_at is None
    verify("viewer", plain)
    token.refresh_from_db()
    assert token.last_used_at is not None


# -- lockout ---------------------------------------------------------------------------------------


def test_lockout_after_lockout_attempts_failures_even_with_the_right_password(world: World, portus_config) -> None:
    portus_config("lockout.attempts", 3)
    portus_config("lockout.minutes", 10)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(2):
            assert verify("viewer", "wrong-password").failure == Failure.BAD_CREDENTIALS
        assert verify("viewer", PASSWORD).user == world.viewer  # two failures: not locked yet
        cache.clear()
        for _ in range(3):
            assert verify("viewer", "wrong-password").failure == Failure.BAD_CREDENTIALS
        assert verify("viewer", PASSWORD).failure == Failure.LOCKED
        traveller.shift(dt.timedelta(minutes=9))
        assert verify("viewer", PASSWORD).failure == Failure.LOCKED
        traveller.shift(dt.timedelta(minutes=1, seconds=1))
        assert verify("viewer", PASSWORD).user == world.viewer


def test_a_success_resets_the_failure_count(world: World, portus_config) -> None:
    portus_config("lockout.attempts", 3)
    for _ in range(2):
        verify("viewer", "wrong-password")
    cache.clear()
    assert verify("viewer", PASSWORD).user == world.viewer
    for _ in range(2):
        verify("viewer", "wrong-password")
    cache.clear()
    assert verify("viewer", PASSWORD).user == world.viewer


def test_a_remembered_password_does_not_bypass_a_lockout(world: World, portus_config) -> None:
    portus_config("lockout.attempts", 2)
    assert verify("viewer", PASSWORD).user == world.viewer  # now remembered
    verify("viewer", "wrong-password")
    verify("viewer", "wrong-password")
    assert verify("viewer", PASSWORD).failure == Failure.LOCKED


def test_an_unknown_user_is_a_plain_bad_credentials(db: None) -> None:
    assert verify("nobody", PASSWORD).failure == Failure.BAD_CREDENTIALS


def test_the_api_and_the_token_endpoint_share_one_token_check(world: World) -> None:
    token, plain = create_token(user=world.viewer, name="ci", actor=world.viewer)
    assert verify_token(plain).user == world.viewer  # the API's Bearer token names no user
    assert verify_token(plain, "viewer").user == world.viewer
    assert verify_token(plain, "owner").failure == Failure.BAD_CREDENTIALS
    assert verify_token(plain + "x").failure == Failure.BAD_CREDENTIALS
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    assert verify_token(plain).failure == Failure.DISABLED
    set_enabled(user=world.viewer, enabled=True, actor=world.admin)
    revoke_token(token=token, actor=world.viewer)
    assert verify_token(plain).failure == Failure.BAD_CREDENTIALS
