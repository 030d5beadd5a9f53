"""Where a token request's CPU time goes: GET /v2/token through Portus's WSGI callable, in-process.

Builds a throw-away SQLite database (or uses PostgreSQL with PORTUS_DB_ADAPTER=postgresql and
PORTUS_DB_DATABASE, dropped and created afresh) in the large world of bench/token_throughput.py
(10,000 users, 5,000 teams, 20,000 namespaces, the caller in 200 teams), then calls
portus.wsgi.application with a WSGI environ, as gunicorn does, without a network or a server. For
each case (password remembered, application token, anonymous, password with 10 scopes) it prints
the CPU time per request (best of --rounds; load from other processes only adds time), and the
same for the bare Django JSON view (bench/bare_django.py, in a child process: it needs its own
settings), so the ratio is load-independent. With --profile it prints the top functions of a
cProfile run per case. Usage, from the repository root:

    python3 bench/token_profile.py [--world small|large] [--requests 2000] [--rounds 5] [--profile]

Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def environ(path: str, query: str, authorization: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "HTTP_USER_AGENT": "docker/27.0 go/go1.22",
        "HTTP_ACCEPT_ENCODING": "gzip",
    }
    if authorization:
        env["HTTP_AUTHORIZATION"] = authorization
    return env


def caller(application: Any, path: str, query: str, authorization: str | None) -> Callable[[], bytes]:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> bytes:
        statuses.clear()
        body = application(environ(path, query, authorization), start_response)
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close:
                close()
        if not statuses or not statuses[0].startswith("200"):
            raise SystemExit(f"{path}?{query[:80]} answered {statuses}: {data[:300]!r}")
        return data

    return call


def cpu_per_call(call: Callable[[], object], count: int, rounds: int) -> float:
    for _ in range(min(count, 200)):
        call()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            call()
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def bare_cpu(count: int, rounds: int) -> tuple[float, float]:
    """The bare view's CPU per request, measured in a child with the same harness."""
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(Path(__file__).resolve().parent)!r}]\n"
        "import token_profile as t\n"
        "from bench.bare_django import application\n"
        "call = t.caller(application, '/bare', '', None)\n"
        f"print(t.cpu_per_call(call, {count}, {rounds}), t.calls_per_request(call))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    cpu, calls = done.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(calls)


def profiled(call: Callable[[], object], count: int) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    return pstats.Stats(profiler, stream=io.StringIO())


def calls_per_request(call: Callable[[], object], count: int = 100) -> float:
    """Python function calls per request: counted, so the same however busy the machine is."""
    return profiled(call, count).total_calls / count  # type: ignore[attr-defined,no-any-return]


def profile(call: Callable[[], object], count: int, top: int) -> str:
    stats = profiled(call, count)
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def set_up(world: str) -> tuple[str, str]:
    """The named data through the actions, then the generated world; returns (password, app token)."""
    import token_throughput as tt
    from django.core.management import call_command

    from portus.accounts.actions import create_token, create_user
    from portus.registry.actions import add_member, create_namespace, create_registry, create_team

    call_command("migrate", verbosity=0)
    create_registry(name="bench", hostname=tt.REGISTRY_HOST)
    create_user(username="root", email="root@bench.test", password=tt.PASSWORD, admin=True)
    alice = create_user(username=tt.USER, email="alice@bench.test", password=tt.PASSWORD, admin=False)
    bob = create_user(username="bob", email="bob@bench.test", password=tt.PASSWORD, admin=False)
    create_user(username="carol", email="carol@bench.test", password=tt.PASSWORD, admin=False)
    team = create_team(name="acme", owner=bob, actor=bob)
    add_member(team=team, user=alice, role="contributor", actor=bob)
    create_namespace(name=tt.PUBLIC_NAMESPACE, team=team, visibility="public", actor=bob)
    _, token = create_token(user=alice, name="bench", actor=alice)
    for step in [tt.SMALL] + ([tt.LARGE] if world == "large" else []):
        tt.grow(step)
    return tt.PASSWORD, token


def cases(token: str) -> Iterable[tuple[str, str, str | None]]:
    import token_throughput as tt

    for case in tt.make_cases(token):
        if case.expected_access is None:
            continue
        path, _, query = case.path.partition("?")
        yield case.name, query, case.authorization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=["small", "large"], default="large")
    parser.add_argument("--requests", type=int, default=1000, help="requests per round and case")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions per case")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", help="only the cases whose name contains this text")
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="the tree whose portus package is measured (git archive COMMIT portus config | tar -x -C DIR)",
    )
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="portus-bench-profile-")
    os.environ.update(
        PORTUS_DATA_DIR=data_dir,
        PORTUS_ENV="production",
        PORTUS_SECRET_KEY_BASE=secrets.token_urlsafe(50),
        PORTUS_KEY_PATH=str(Path(data_dir) / "portus.key"),
        PORTUS_MACHINE_FQDN_VALUE="portus.bench.test",
        PORTUS_ALLOWED_HOSTS="127.0.0.1",
        PORTUS_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="portus.settings",
    )
    sys.path.insert(0, str(args.source.resolve()))
    import token_throughput as tt

    tt.write_signing_key(Path(data_dir) / "portus.key")
    postgres = os.environ.get("PORTUS_DB_ADAPTER") == "postgresql"
    if postgres:
        os.environ.setdefault("PORTUS_DB_DATABASE", tt.POSTGRES_DATABASE)
        tt.create_postgres_database(os.environ["PORTUS_DB_DATABASE"])  # dropped and created afresh
    warnings.filterwarnings("ignore", message="No directory at")
    import portus
    from portus.wsgi import application

    started = time.monotonic()
    _, token = set_up(args.world)
    print(f"portus from {Path(portus.__file__).parent}")
    print(
        f"{args.world} world built in {time.monotonic() - started:.0f} s; db {os.environ.get('PORTUS_DB_ADAPTER', 'sqlite3')}"
    )
    bare, bare_calls = bare_cpu(args.requests, args.rounds)
    print(f"  {'bare Django view':<20} {bare:7.1f} µs CPU/request   1.00                {bare_calls:6.0f} Python calls")
    for name, query, authorization in cases(token):
        if args.only and args.only not in name:
            continue
        call = caller(application, "/v2/token", query, authorization)
        cpu = cpu_per_call(call, args.requests, args.rounds)
        calls = calls_per_request(call)
        print(
            f"  {name:<20} {cpu:7.1f} µs CPU/request   {bare / cpu:.2f} of the bare view   {calls:6.0f} Python calls",
            flush=True,
        )
        if args.profile:
            print(profile(call, args.requests, args.top))


if __name__ == "__main__":
    main()
