"""PORTUS_REDIS_URL: separate Portus processes share the credential memory and the throttle counts through a real
Redis (127.0.0.1:6379, database 3, a key prefix of this test's own), while sessions stay in the database.

Each step runs in a fresh Python process on this test's database: without Redis every one of them would start
with an empty cache, so whatever one process finds was written by another."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PASSWORD, World, require
from tests.support.background import ROOT, worker_env

REDIS_URL = "redis://127.0.0.1:6379/3"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"

# One process: verify each (user name, password, address) of argv[1] and print what came of it. With
# argv[2] == "no-hash" a password hash is not allowed: a success must come from the credential memory.
STEP = """
import json, os, sys
import django
django.setup()
from django.conf import settings
from django.core.cache import caches
cache = caches["default"]
from portus.accounts.credentials import verify
from portus.accounts.models import User

if sys.argv[2] == "no-hash":
    def refuse(self, raw):
        raise RuntimeError("hashed")
    User.check_password = refuse
results = []
for username, password, address in json.loads(sys.argv[1]):
    try:
        found = verify(username, password, address=address)
        results.append(found.failure.name if found.failure else "OK")
    except RuntimeError as exc:
        results.append(str(exc).upper())
print(json.dumps({
    "backend": type(cache).__module__ + "." + type(cache).__name__,
    "key_prefix": cache.key_prefix,
    "sessions": settings.SESSION_ENGINE,
    "results": results,
}))
"""


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix nobody else uses; its keys (and only they) are deleted afterwards."""
    try:
        import redis
    except ImportError:
        require(False, "the redis package is not installed (pip install 'portus[redis]')")
        raise
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require(False, f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"portus-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def keys_under(prefix: str) -> list[str]:
    import redis

    with redis.Redis.from_url(REDIS_URL) as client:
        return sorted(key.decode() for key in client.scan_iter(match=f"{prefix}:*"))


def step(attempts: list[tuple[str, str, str]], prefix: str | None, *, no_hash: bool = False) -> dict[str, Any]:
    """One Portus process: small limits through PORTUS_* variables, the cache in Redis when PREFIX is given."""
    # The address budget is counted in fixed windows aligned to the epoch; a window of 10^9 seconds (its
    # next edge is in 2033) keeps the processes of one test inside one window however slow the machine is.
    extra = {
        "PORTUS_LOCKOUT_ATTEMPTS": "3",
        "PORTUS_LOCKOUT_ACCOUNT_ATTEMPTS": "7",
        "PORTUS_RATE_LIMIT_FAILURES": "5",
        "PORTUS_RATE_LIMIT_SECONDS": str(10**9),
    }
    if prefix is not None:
        extra |= {"PORTUS_REDIS_URL": REDIS_URL, "PORTUS_REDIS_KEY_PREFIX": prefix}
    env = {k: v for k, v in worker_env(**extra).items() if prefix is not None or k != "PORTUS_REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-c", STEP, json.dumps(attempts), "no-hash" if no_hash else "hash"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def results(attempts: list[tuple[str, str, str]], prefix: str | None, *, no_hash: bool = False) -> list[str]:
    return list(step(attempts, prefix, no_hash=no_hash)["results"])


def test_with_portus_redis_url_the_cache_is_redis_under_its_prefix_and_sessions_stay_in_the_database(
    redis_prefix: str, transactional_db: None
) -> None:
    shown = step([], redis_prefix)
    assert shown["backend"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["key_prefix"] == redis_prefix
    assert shown["sessions"] == "django.contrib.sessions.backends.db"
    plain = step([], None)
    assert plain["backend"] == "django.core.cache.backends.locmem.LocMemCache"


def test_wrong_passwords_in_two_processes_add_up_to_one_lockout(
    redis_prefix: str, world: World, transactional_db: None
) -> None:
    wrong = ("viewer", "wrong-password", ATTACKER)
    assert results([wrong, wrong], redis_prefix) == ["BAD_CREDENTIALS"] * 2
    # The third failure is counted in another process: that address is now locked out of the account,
    # even with the right password, and the owner elsewhere is not.
    assert results([wrong, ("viewer", PASSWORD, ATTACKER), ("viewer", PASSWORD, OWNER)], redis_prefix) == [
        "BAD_CREDENTIALS",
        "LOCKED",
        "OK",
    ]
    assert any(":portus:throttle:pair:viewer:" in key for key in keys_under(redis_prefix))


def test_without_redis_each_process_counts_only_its_own_failures(world: World, transactional_db: None) -> None:
    wrong = ("viewer", "wrong-password", ATTACKER)
    assert results([wrong, wrong], None) == ["BAD_CREDENTIALS"] * 2
    assert results([wrong, ("viewer", PASSWORD, ATTACKER)], None) == ["BAD_CREDENTIALS", "OK"]


def test_the_rate_limit_of_an_address_is_shared_by_the_processes(
    redis_prefix: str, world: World, transactional_db: None
) -> None:
    guesses = [(name, "wrong-password", ATTACKER) for name in ("admin", "owner", "viewer", "nobody", "someone")]
    assert results(guesses[:3], redis_prefix) == ["BAD_CREDENTIALS"] * 3
    assert results(guesses[3:], redis_prefix) == ["BAD_CREDENTIALS"] * 2
    # Five failures over two processes: the address's budget is spent, whichever process answers next.
    assert results([("admin", PASSWORD, ATTACKER), ("admin", PASSWORD, OWNER)], redis_prefix) == ["THROTTLED", "OK"]


def test_a_password_checked_in_one_process_is_remembered_by_another(
    redis_prefix: str, world: World, transactional_db: None
) -> None:
    assert results([("admin", PASSWORD, OWNER)], redis_prefix) == ["OK"]
    # Another process may not hash: the admin's password comes from the shared memory, while the viewer's,
    # never checked before, needs the hash (the guard works).
    assert results([("admin", PASSWORD, OWNER), ("viewer", PASSWORD, OWNER)], redis_prefix, no_hash=True) == [
        "OK",
        "HASHED",
    ]
    # The memory holds no password, in its keys or its values: keyed digests and user ids.
    import redis

    with redis.Redis.from_url(REDIS_URL) as client:
        stored = [(key, client.get(key) or b"") for key in client.scan_iter(match=f"{redis_prefix}:*")]
    assert stored and not any(PASSWORD.encode() in key + value for key, value in stored)
