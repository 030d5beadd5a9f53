"""In-process cost of GET /v2/token, and what Manager.raw() would cost instead of portus/sql_rows.py.

Runs N token requests through Django's test client (the whole middleware chain, no network) against
a throw-away SQLite database, for a remembered password, an application token and an anonymous pull,
and prints the CPU time per request (steadier than wall time on a shared machine). Then it times the
reads those requests make (the user row, the token with its user, the namespaces with the caller's
roles) written with portus.sql_rows and written with Manager.raw() on the same SQL, and prints what
raw() would add to each kind of request, as a share of it. Usage, from the repository root:

    python3 bench/token_rows.py [--requests 2000] [--rounds 5]

To compare two versions of the code on the first part, point --source at each tree
(git archive COMMIT portus config | tar -x -C /tmp/before):

    python3 bench/token_rows.py --source /tmp/before

Not a test: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "registry.bench:5000"
PASSWORD = "bench-password-1234"


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def cpu_per_call(call: Callable[[], object], count: int, rounds: int) -> float:
    """Best of ROUNDS, in µs of CPU per call: load from other processes only ever adds time."""
    for _ in range(min(count, 200)):
        call()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            call()
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="the tree whose portus package is measured")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round and case")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    sys.path.insert(0, str(args.source.resolve()))
    os.environ["PORTUS_DATA_DIR"] = tempfile.mkdtemp(prefix="portus-bench-rows-")
    os.environ["PORTUS_ENV"] = "development"
    os.environ["PORTUS_DEBUG"] = "false"
    os.environ["PORTUS_ALLOWED_HOSTS"] = "testserver"
    os.environ["PORTUS_LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "portus.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    import portus
    from portus.accounts.actions import create_token, create_user
    from portus.registry.actions import add_member, create_namespace, create_registry, create_team

    call_command("migrate", verbosity=0)
    create_registry(name="bench", hostname=SERVICE)
    alice = create_user(username="alice", email="alice@bench.test", password=PASSWORD, admin=False)
    bob = create_user(username="bob", email="bob@bench.test", password=PASSWORD, admin=False)
    team = create_team(name="acme", owner=bob, actor=bob)
    add_member(team=team, user=alice, role="contributor", actor=bob)
    create_namespace(name="acme", team=team, visibility="public", actor=bob)
    _, token = create_token(user=alice, name="bench", actor=alice)

    scope = "repository:acme/app:pull,push"
    cases = {
        "password (remembered)": (basic("alice", PASSWORD), ["pull", "push"]),
        "application token": (basic("alice", token), ["pull", "push"]),
        "anonymous pull": (None, ["pull"]),
    }
    client = Client()
    per_case: dict[str, float] = {}
    print(f"portus from {Path(portus.__file__).parent}; best of {args.rounds} rounds of {args.requests}")
    for name, (authorization, actions) in cases.items():
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

        def ask(client: Client = client, headers: dict[str, str] = headers) -> object:
            return client.get("/v2/token", {"service": SERVICE, "scope": scope}, **headers)

        answer = ask()
        assert answer.status_code == 200, answer.content  # type: ignore[attr-defined]
        claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})  # type: ignore[attr-defined]
        assert claims["access"] == [{"type": "repository", "name": "acme/app", "actions": actions}], claims
        per_case[name] = cpu_per_call(ask, args.requests, args.rounds)
        print(f"{name:22} {per_case[name]:7.1f} µs CPU/request = {1e6 / per_case[name]:6.0f} requests per CPU second")

    try:
        from portus.sql_rows import fetch_joined, fetch_models, quote, select_list, table
    except ImportError:
        return  # a tree without sql_rows: nothing to compare the reads with
    reads = raw_against_sql_rows(alice, token, fetch_joined, fetch_models, quote, select_list, table)
    print("reads of the token path, µs CPU each:")
    for name, (fixed, raw) in reads.items():
        print(f"  {name:32} sql_rows {fixed:6.1f}   Manager.raw() {raw:6.1f}   (+{raw - fixed:.1f})")
    extra = {name: raw - fixed for name, (fixed, raw) in reads.items()}
    uses = {
        "password (remembered)": ["user", "namespaces with roles"],
        "application token": ["token with its user", "namespaces with roles"],
        "anonymous pull": ["namespaces with roles"],
    }
    print("what Manager.raw() would add to each request:")
    for name, used in uses.items():
        added = sum(extra[read] for read in used)
        print(f"  {name:22} +{added:5.1f} µs = {added / per_case[name]:5.1%} of its CPU time")


def raw_against_sql_rows(
    alice: object, token: str, fetch_joined: Any, fetch_models: Any, quote: Any, select_list: Any, table: Any
) -> dict[str, tuple[float, float]]:
    """The three reads of the token path, with sql_rows and with Manager.raw() on the same SQL."""
    from portus.accounts.models import ApplicationToken, User, token_digest
    from portus.registry.models import Namespace, Registry, TeamMembership

    user_id, digest = alice.pk, token_digest(token)  # type: ignore[attr-defined]
    registry_id = Registry.objects.get().pk
    users, tokens = table(User), table(ApplicationToken)
    user_sql = f"FROM {users} u WHERE u.id = %s AND u.username = %s"
    token_sql = f"FROM {tokens} t INNER JOIN {users} u ON u.id = t.user_id WHERE t.digest = %s AND u.username = %s"
    namespace_sql = (
        f"FROM {table(Namespace)} ns INNER JOIN {table(Registry)} r ON r.id = ns.registry_id"
        f" LEFT OUTER JOIN {table(TeamMembership)} m ON m.team_id = ns.team_id AND m.user_id = %s"
        f" WHERE ns.registry_id = %s AND (r.hostname = %s OR r.external_hostname = %s) AND ns.{quote('name')} IN (%s)"
    )
    namespace_params = [user_id, registry_id, SERVICE, SERVICE, "acme"]
    pairs = {
        "user": (
            lambda: fetch_models(User, f"SELECT {select_list(User, 'u')} {user_sql}", [user_id, "alice"]),
            lambda: list(User.objects.raw(f"SELECT u.* {user_sql}", [user_id, "alice"])),
        ),
        # raw() builds one model per row: the token's columns come as unconverted extras.
        "token with its user": (
            lambda: fetch_joined(
                [ApplicationToken, User],
                f"SELECT {select_list(ApplicationToken, 't')}, {select_list(User, 'u')} {token_sql}",
                [digest, "alice"],
            ),
            lambda: list(
                User.objects.raw(
                    f"SELECT u.*, t.id AS token_id, t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at,"
                    f" t.last_used_at AS token_last_used_at {token_sql}",
                    [digest, "alice"],
                )
            ),
        ),
        "namespaces with roles": (
            lambda: fetch_joined(
                [Namespace],
                f"SELECT {select_list(Namespace, 'ns')}, m.{quote('role')} {namespace_sql}",
                namespace_params,
            ),
            lambda: list(
                Namespace.objects.raw(
                    f"SELECT ns.*, m.{quote('role')} AS member_role {namespace_sql}", namespace_params
                )
            ),
        ),
    }
    count, rounds = 2000, 7
    return {
        name: (cpu_per_call(fixed, count, rounds), cpu_per_call(raw, count, rounds))
        for name, (fixed, raw) in pairs.items()
    }


if __name__ == "__main__":
    main()
