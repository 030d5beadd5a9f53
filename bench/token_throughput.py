"""Benchmark of GET /v2/token under wrk, against a bare Django view, in a small and a large world.

Run from the repository root:  python3 bench/token_throughput.py [--world both] [--duration 10]
(it re-runs itself with .venv/bin/python, or $PORTUS_VENV/bin/python, when Django is not importable).

What it does, all in one run:

  * makes a throw-away data directory (SQLite) or the database portus_bench_tokens (with --db
    postgresql or PORTUS_DB_ADAPTER=postgresql; dropped and re-created), a signing key, and migrates;
  * creates, through the real portusctl commands, a registry, the admin root, alice, bob and carol, the team acme
    with its public namespace, and an application token for alice;
  * builds the small world (10 more teams with a namespace each, alice in 11 teams) and, for
    --world large or both, grows it with bulk inserts to the large world: 10,000 users (each with a
    personal namespace), 5,000 teams, 20,000 namespaces, alice in 200 teams;
  * counts the SQL queries of every token case in-process, through the real URL (/v2/token) with
    Django's test client and CaptureQueriesContext: the first request and the repeated one;
  * starts Portus (`portusctl serve`, gunicorn) and a bare Django JSON view (bench/bare_django.py:
    no apps, no middleware, no database) with the same gunicorn command line, each on a free
    loopback port; checks that every case answers 200 with exactly the access the policy grants;
    warms up; runs wrk on every case with the same settings;
  * measures, before the servers start, every case's CPU time per request in-process: Portus's WSGI
    callable (and the bare view's, in a child) called with a WSGI environ as gunicorn calls it, best
    of a few rounds (bench/token_profile.py's harness);
  * prints, per case, requests/s, p50 and p99 latency, the ratio to the bare view and to /_ping,
    the server's CPU time per request (gunicorn master and workers, user + system, from /proc;
    steadier than requests/s on a busy machine), the in-process CPU time and the difference (what
    serving costs: gunicorn's HTTP parsing, its threads and event loop, the socket) and the queries
    per request; then the large world against the small one (flat: same queries, throughput within 10%).

Cases: the bare view, /_ping, a token by password, by application token, anonymously (public
namespace), and by password for 10 scopes in one request (alice's first 10 teams' namespaces).
Not a test: the figures depend on the machine and on whatever else runs on it. It writes only in
the temporary directory (and the PostgreSQL database), never in the checkout.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # token_profile's in-process harness
REGISTRY_HOST = "127.0.0.1:5000"  # only the token "service"; no registry needs to run
USER = "alice"
PASSWORD = "bench-password-" + secrets.token_hex(4)
PUBLIC_NAMESPACE = "opensource"
TEAM_PREFIX = "team-"  # the generated teams; each has a namespace of the same name
USER_PREFIX = "user-"  # the generated users
MANY_SCOPES = 10
TARGET_TOKENS_PER_SECOND = 1500
FLAT_TOLERANCE = 0.10
POSTGRES_DATABASE = "portus_bench_tokens"
# A worker imports Portus's URL map and templates before its first request: tens of seconds on a busy machine.
SERVER_START_SECONDS = 180
ROLES = ("owner", "contributor", "viewer")  # alice's role in generated team i is ROLES[i % 3]


@dataclass(frozen=True)
class World:
    name: str
    users: int  # totals, including root, alice, bob and carol
    teams: int  # including acme
    namespaces: int | None  # None: one per team and per user, nothing more
    caller_teams: int  # alice's teams, acme included


SMALL = World("small", users=4, teams=1 + MANY_SCOPES, namespaces=None, caller_teams=1 + MANY_SCOPES)
LARGE = World("large", users=10_000, teams=5_000, namespaces=20_000, caller_teams=200)


@dataclass
class Case:
    name: str
    path: str
    authorization: str | None
    expected_access: list[dict[str, Any]] | None  # None: not a token (the bare view, /_ping)
    server: str = "portus"


@dataclass
class Result:
    case: Case
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_us: float = 0.0  # server CPU time (master and workers) per request


@dataclass
class Measured:
    world: World
    counts: dict[str, int]
    results: list[Result]
    spreads: list[tuple[float, float]]
    queries: dict[str, tuple[int, int]] = field(default_factory=dict)  # first, repeated
    in_process: dict[str, float] = field(default_factory=dict)  # CPU µs per request through the WSGI callable


# --- running with the project's venv -------------------------------------------------------------


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring's first line as the description, the rest as the epilog."""
    text = doc or ""
    return argparse.ArgumentParser(
        description=text.splitlines()[0] if text else "",
        epilog=text.split("\n\n", 1)[1] if "\n\n" in text else "",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def ensure_django() -> None:
    """Re-run the script that was started (this one, or one that imports it) with the project's venv when the
    current Python lacks Django."""
    try:
        import django  # noqa: F401
    except ImportError:
        candidates = [os.environ.get("PORTUS_VENV"), os.environ.get("VIRTUAL_ENV"), str(REPO_ROOT / ".venv")]
        for candidate in filter(None, candidates):
            python = Path(candidate) / "bin" / "python"
            if python.exists() and Path(sys.prefix).resolve() != Path(candidate).resolve():
                os.execv(python, [str(python), str(Path(sys.argv[0]).resolve()), *sys.argv[1:]])  # noqa: S606
        raise SystemExit(
            "Django is not importable from this Python, and there is no .venv in the checkout: create it "
            "(python3 -m venv .venv && .venv/bin/pip install -e .) or set PORTUS_VENV to a venv that has it."
        ) from None


# --- set-up --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def token_path(scopes: list[str], account: str | None) -> str:
    query = [("service", REGISTRY_HOST), *(("scope", scope) for scope in scopes)]
    if account:
        query.append(("account", account))  # docker and skopeo send it with credentials
    return "/v2/token?" + urllib.parse.urlencode(query)


def bench_environment(data_dir: Path, db: str, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTUS_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        PORTUS_ENV="production",
        PORTUS_DATA_DIR=str(data_dir),
        PORTUS_SECRET_KEY_BASE=secrets.token_urlsafe(50),
        PORTUS_KEY_PATH=str(data_dir / "portus.key"),
        PORTUS_MACHINE_FQDN_VALUE="portus.bench.test",
        PORTUS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO_ROOT),
    )
    if db == "postgresql":
        env.update(PORTUS_DB_ADAPTER="postgresql", PORTUS_DB_DATABASE=database)
    return env


def create_postgres_database(name: str, drop: bool = False) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}"')


def write_signing_key(path: Path) -> Any:
    """An EC P-256 private key (Portus writes its certificate); returns the public key to check tokens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(pem)
    return key.public_key()


def portusctl(env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "portus.cli", *arguments],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"portusctl {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def set_up(env: dict[str, str]) -> str:
    """Schema and the named data through the real portusctl commands; returns alice's app token."""
    portusctl(env, "migrate", "--verbosity", "0")
    portusctl(env, "registry", "add", "--name", "bench", "--hostname", REGISTRY_HOST)
    # The installation's admin comes first: alice is a plain user (first_user_admin would make her one).
    portusctl(env, "user", "create", "root", "--email", "root@bench.test", "--password", PASSWORD, "--admin")
    for name in (USER, "bob", "carol"):
        portusctl(env, "user", "create", name, "--email", f"{name}@bench.test", "--password", PASSWORD)
    portusctl(env, "team", "create", "acme", "--owner", "bob")
    portusctl(env, "team", "add-member", "acme", USER, "--role", "contributor")
    portusctl(env, "namespace", "create", PUBLIC_NAMESPACE, "--team", "acme", "--visibility", "public")
    return portusctl(env, "token", "create", USER, "--name", "bench").strip()


# --- the world, with bulk inserts (models by app label: the script survives module moves) --------


def grow(world: World) -> dict[str, int]:
    """Add generated users, teams, namespaces and alice's memberships until the world's totals are met."""
    from django.apps import apps
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    user_model = apps.get_model("accounts", "User")
    team_model = apps.get_model("registry", "Team")
    membership_model = apps.get_model("registry", "TeamMembership")
    namespace_model = apps.get_model("registry", "Namespace")
    registry = apps.get_model("registry", "Registry").objects.get(hostname=REGISTRY_HOST)
    batch = 2000
    with transaction.atomic():
        unusable = make_password(None)
        start = user_model.objects.count()
        new_users = user_model.objects.bulk_create(
            [
                user_model(
                    username=f"{USER_PREFIX}{i:05d}", email=f"{USER_PREFIX}{i:05d}@bench.test", password=unusable
                )
                for i in range(start, world.users)
            ],
            batch_size=batch,
        )
        namespace_model.objects.bulk_create(
            [
                namespace_model(registry=registry, name=u.username, kind="personal", owner=u, visibility="private")
                for u in new_users
            ],
            batch_size=batch,
        )
        generated_users = list(user_model.objects.filter(username__startswith=USER_PREFIX).order_by("id"))
        bob, carol, alice = (user_model.objects.get(username=n) for n in ("bob", "carol", USER))

        start = team_model.objects.filter(name__startswith=TEAM_PREFIX).count()
        total = team_model.objects.count()
        new_teams = team_model.objects.bulk_create(
            [team_model(name=f"{TEAM_PREFIX}{i:05d}") for i in range(start, start + world.teams - total)],
            batch_size=batch,
        )
        memberships = []
        for offset, team in enumerate(new_teams):
            index = start + offset
            owner = generated_users[index % len(generated_users)] if generated_users else bob
            viewer = generated_users[(index + 1) % len(generated_users)] if generated_users else carol
            memberships += [
                membership_model(team=team, user=owner, role="owner"),
                membership_model(team=team, user=viewer, role="viewer"),
            ]
        membership_model.objects.bulk_create(memberships, batch_size=batch)
        visibilities = ("private", "protected", "public")
        namespace_model.objects.bulk_create(
            [
                namespace_model(registry=registry, name=t.name, kind="team", team=t, visibility=visibilities[i % 3])
                for i, t in enumerate(new_teams)
            ],
            batch_size=batch,
        )
        if world.namespaces is not None:
            missing = world.namespaces - namespace_model.objects.count()
            teams = list(team_model.objects.filter(name__startswith=TEAM_PREFIX).order_by("name"))
            namespace_model.objects.bulk_create(
                [
                    namespace_model(
                        registry=registry,
                        name=f"{teams[i % len(teams)].name}-{2 + i // len(teams)}",
                        kind="team",
                        team=teams[i % len(teams)],
                        visibility=visibilities[i % 3],
                    )
                    for i in range(max(missing, 0))
                ],
                batch_size=batch,
            )
        joined = set(membership_model.objects.filter(user=alice).values_list("team_id", flat=True))
        wanted = world.caller_teams - len(joined)
        candidates = team_model.objects.filter(name__startswith=TEAM_PREFIX).exclude(id__in=joined).order_by("name")
        membership_model.objects.bulk_create(
            [
                membership_model(team=t, user=alice, role=ROLES[int(t.name.removeprefix(TEAM_PREFIX)) % 3])
                for t in candidates[: max(wanted, 0)]
            ],
            batch_size=batch,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a database that grew over time has them
    return {
        "users": user_model.objects.count(),
        "teams": team_model.objects.count(),
        "namespaces": namespace_model.objects.count(),
        "memberships": membership_model.objects.count(),
        "alice's teams": membership_model.objects.filter(user=alice).count(),
    }


def make_cases(app_token: str) -> list[Case]:
    personal = [f"repository:{USER}/app:pull,push"]
    owned = [{"type": "repository", "name": f"{USER}/app", "actions": ["pull", "push"]}]
    teams = [f"{TEAM_PREFIX}{i:05d}" for i in range(MANY_SCOPES)]
    many = [f"repository:{team}/app:pull,push" for team in teams]
    many_access = [
        {
            "type": "repository",
            "name": f"{team}/app",
            "actions": ["pull"] if ROLES[i % 3] == "viewer" else ["pull", "push"],
        }
        for i, team in enumerate(teams)
    ]
    public = f"{PUBLIC_NAMESPACE}/busybox"
    return [
        Case("bare Django view", "/bare", None, None, server="bare"),
        Case("/_ping", "/_ping", None, None),
        Case("token, password", token_path(personal, USER), basic(USER, PASSWORD), owned),
        Case("token, app token", token_path(personal, USER), basic(USER, app_token), owned),
        Case(
            "token, anonymous",
            token_path([f"repository:{public}:pull"], None),
            None,
            [{"type": "repository", "name": public, "actions": ["pull"]}],
        ),
        Case(f"token, {MANY_SCOPES} scopes", token_path(many, USER), basic(USER, PASSWORD), many_access),
    ]


def count_queries(case: Case) -> tuple[int, int]:
    """SQL queries of the first and of a repeated request, in-process, through the real URL and middleware."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    extra = {"HTTP_AUTHORIZATION": case.authorization} if case.authorization else {}
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(case.path, **extra)
        if response.status_code != 200:
            raise SystemExit(
                f"{case.name}: in-process request answered {response.status_code}: {response.content[:300]!r}"
            )
        counts.append(len(captured))
    return counts[0], counts[1]


def in_process_cpu(cases: list[Case], requests: int, rounds: int) -> dict[str, float]:
    """CPU µs per request of every case through the WSGI callable gunicorn calls, without the server
    (the bare view's in a child: it needs its own settings); best of ROUNDS, after a warm-up."""
    import token_profile

    from portus.wsgi import application

    found = {}
    for case in cases:
        if case.server == "bare":
            found[case.name] = token_profile.bare_cpu(requests, rounds)[0]
            continue
        path, _, query = case.path.partition("?")
        call = token_profile.caller(application, path, query, case.authorization)
        found[case.name] = token_profile.cpu_per_call(call, requests, rounds)
    return found


# --- servers and wrk -----------------------------------------------------------------------------


def portus_command(port: int, workers: int, threads: int) -> list[str]:
    command = [sys.executable, "-m", "portus.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    return command + ["--workers", str(workers), "--threads", str(threads)]


def bare_command(port: int, workers: int, threads: int) -> list[str]:
    """Portus's own gunicorn command line, serving bench/bare_django.py instead of Portus."""
    from portus.cli.server import ServerOptions, gunicorn_command

    command = gunicorn_command(ServerOptions(f"127.0.0.1:{port}", workers, threads))
    if "portus.wsgi:application" not in command:
        raise SystemExit(f"cannot find Portus's application in its gunicorn command: {command}")
    # Portus's gunicorn hooks (warm-up, metrics clean-up) load Portus: the bare view goes without them.
    if "--config" in command:
        at = command.index("--config")
        del command[at : at + 2]
    return ["bench.bare_django:application" if part == "portus.wsgi:application" else part for part in command]


def start_server(command: list[str], env: dict[str, str], port: int, probe: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        server = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{command[:4]} exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"{command[:4]} did not answer on port {port} within {SERVER_START_SECONDS} s; see {log}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def fetch(port: int, case: Case, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{case.path}")
    if case.authorization:
        request.add_header("Authorization", case.authorization)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_sample(port: int, case: Case, public_key: Any, timeout: float = 10) -> None:
    """Refuse to benchmark a case that answers anything but the token the policy grants."""
    import jwt

    status, body = fetch(port, case, timeout)
    if status != 200:
        raise SystemExit(f"{case.name}: expected 200, got {status}: {body[:300]!r}")
    if case.expected_access is None:
        return
    claims = jwt.decode(
        json.loads(body)["token"],
        public_key,
        algorithms=["ES256"],
        audience=REGISTRY_HOST,
        issuer="portus.bench.test",
    )
    if claims["access"] != case.expected_access:
        raise SystemExit(f"{case.name}: the token grants {claims['access']}, expected {case.expected_access}")


def lua_script(case: Case, directory: Path) -> Path:
    path = directory / f"{re.sub(r'[^a-z0-9]+', '-', case.name.lower()).strip('-')}.lua"
    lines = ['wrk.method = "GET"']
    if case.authorization:
        lines.append(f'wrk.headers["Authorization"] = "{case.authorization}"')
    path.write_text("\n".join(lines) + "\n")
    return path


DURATION_RE = re.compile(r"([\d.]+)(us|ms|s|m)\b")


def milliseconds(text: str) -> float:
    match = DURATION_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def server_cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """User plus system CPU time of the gunicorn master and its workers, from /proc/PID/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == server.pid or ppid == server.pid:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def run_wrk(
    port: int, server: subprocess.Popen[bytes], case: Case, args: argparse.Namespace, script: Path, seconds: int
) -> Result:
    cpu_before = server_cpu_seconds(server)
    command = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{seconds}s"]
    command += ["--latency", "--timeout", "5s", "-s", str(script), f"http://127.0.0.1:{port}{case.path}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = server_cpu_seconds(server) - cpu_before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rate and p50 and p99 and total):
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        # Sync workers close each connection after the answer; wrk counts those as read errors.
        errors += int(socket_errors.group(1)) + int(socket_errors.group(4))
    requests = int(total.group(1))
    return Result(
        case,
        float(rate.group(1)),
        milliseconds(p50.group(1)),
        milliseconds(p99.group(1)),
        requests,
        errors,
        cpu / requests * 1e6 if requests else 0.0,
    )


# --- one world, measured -------------------------------------------------------------------------


def measure(
    world: World,
    counts: dict[str, int],
    cases: list[Case],
    args: argparse.Namespace,
    env: dict[str, str],
    data_dir: Path,
    public_key: Any,
    workers: int,
) -> Measured:
    queries = {case.name: count_queries(case) for case in cases if case.expected_access is not None}
    in_process = in_process_cpu(cases, args.in_process_requests, 3) if args.in_process_requests else {}
    from django.db import connections

    connections.close_all()  # the servers have the database to themselves
    log = data_dir / f"server-{world.name}.log"
    ports = {"portus": free_port(), "bare": free_port()}
    bare_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        servers["portus"] = start_server(
            portus_command(ports["portus"], workers, args.threads), env, ports["portus"], "/_ping", log
        )
        servers["bare"] = start_server(
            bare_command(ports["bare"], workers, args.threads), bare_env, ports["bare"], "/bare", log
        )
        scripts = {case.name: lua_script(case, data_dir) for case in cases}
        for case in cases:
            check_sample(ports[case.server], case, public_key)
        for case in cases:  # every worker hashes the password once, imports, connects
            run_wrk(ports[case.server], servers[case.server], case, args, scripts[case.name], args.warmup)
        rounds: list[list[Result]] = []
        for number in range(args.rounds):
            measured = []
            for case in cases:
                result = run_wrk(
                    ports[case.server], servers[case.server], case, args, scripts[case.name], args.duration
                )
                if result.errors:
                    raise SystemExit(f"{case.name}: {result.errors} failed requests in the run; see {log}")
                measured.append(result)
            rounds.append(measured)
            if args.rounds > 1:
                print_table(
                    f"{world.name} world, round {number + 1} (load average {load_average()})",
                    measured,
                    queries,
                    in_process,
                )
        for case in cases:  # still the right answer after the load
            check_sample(ports[case.server], case, public_key)
    finally:
        for server in servers.values():
            stop_server(server)
    best = [max(column, key=lambda r: r.requests_per_second) for column in zip(*rounds, strict=True)]
    spreads = [
        (min(r.requests_per_second for r in column), max(r.requests_per_second for r in column))
        for column in zip(*rounds, strict=True)
    ]
    return Measured(world, counts, best, spreads, queries, in_process)


# --- printing ------------------------------------------------------------------------------------


def print_table(
    title: str,
    results: list[Result],
    queries: dict[str, tuple[int, int]],
    in_process: dict[str, float],
    spreads: list[tuple[float, float]] | None = None,
) -> None:
    bare = next(r.requests_per_second for r in results if r.case.server == "bare")
    ping = next((r.requests_per_second for r in results if r.case.path == "/_ping"), 0.0)
    if title:
        print(title)
    header = (
        f"  {'case':<18} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs bare':>8} {'vs /_ping':>9} "
        f"{'CPU/req':>8} {'in-proc':>8} {'serving':>8} {'queries':>8}"
    )
    print(header + ("  req/s min-max" if spreads else ""))
    for index, result in enumerate(results):
        first, again = queries.get(result.case.name, (None, None))
        shown = f"{first}/{again}" if first is not None else "-"
        line = (
            f"  {result.case.name:<18} {result.requests_per_second:>7.0f} {result.p50_ms:>7.2f} "
            f"{result.p99_ms:>7.2f} {result.requests_per_second / bare:>8.2f} "
            f"{result.requests_per_second / ping if ping else 0.0:>9.2f} {result.server_cpu_us:>5.0f} us "
            f"{cpu_cell(in_process.get(result.case.name))} "
            f"{cpu_cell(result.server_cpu_us - in_process[result.case.name] if result.case.name in in_process else None)} "
            f"{shown:>8}"
        )
        if spreads:
            low, high = spreads[index]
            line += f"  {low:.0f}-{high:.0f}"
        print(line, flush=True)


def cpu_cell(microseconds: float | None) -> str:
    return f"{microseconds:>5.0f} us" if microseconds is not None else f"{'-':>8}"


def print_world(measured: Measured, rounds: int) -> None:
    sizes = ", ".join(f"{value:,} {name}" for name, value in measured.counts.items())
    title = f"best of {rounds} rounds" if rounds > 1 else "result"
    print(f"\n{measured.world.name} world ({sizes}); {title}; load average after: {load_average()}")
    print_table("", measured.results, measured.queries, measured.in_process, measured.spreads if rounds > 1 else None)
    print("  CPU/req: the server's (gunicorn master and workers) per request; in-proc: the same request through the")
    print("  WSGI callable without a server (best of 3 rounds); serving: the difference (gunicorn, threads, socket)")
    print("  queries: first request / repeated request (credentials remembered), counted in-process")
    bare = next(r.requests_per_second for r in measured.results if r.case.server == "bare")
    logins = [r for r in measured.results if r.case.expected_access is not None and "anonymous" not in r.case.name]
    short = [
        r.case.name
        for r in logins
        if r.requests_per_second < TARGET_TOKENS_PER_SECOND or r.requests_per_second < bare / 2
    ]
    if short:
        print(f"  below the target (>= {TARGET_TOKENS_PER_SECOND}/s and >= half of the bare view): {', '.join(short)}")
    else:
        print(f"  target met: logins >= {TARGET_TOKENS_PER_SECOND}/s and >= half of the bare Django view")


def print_flatness(small: Measured, large: Measured) -> None:
    print(f"\nlarge world against small (flat: same queries, req/s within {FLAT_TOLERANCE:.0%})")
    print(f"  {'case':<18} {'req/s':>13} {'ratio':>6} {'CPU/req us':>11} {'queries':>9}  verdict")
    for before, after in zip(small.results, large.results, strict=True):
        name = before.case.name
        if before.case.expected_access is None:
            continue
        ratio = after.requests_per_second / before.requests_per_second
        q_small, q_large = small.queries[name][1], large.queries[name][1]
        flat = q_small == q_large and ratio >= 1 - FLAT_TOLERANCE
        print(
            f"  {name:<18} {before.requests_per_second:>6.0f}>{after.requests_per_second:<6.0f} {ratio:>6.2f} "
            f"{before.server_cpu_us:>5.0f}>{after.server_cpu_us:<5.0f} {q_small:>4}>{q_large:<4}  "
            f"{'flat' if flat else 'NOT FLAT'}",
            flush=True,
        )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--db",
        choices=["sqlite3", "postgresql"],
        default=os.environ.get("PORTUS_DB_ADAPTER", "sqlite3"),
        help=f"database (default: $PORTUS_DB_ADAPTER or sqlite3); PostgreSQL uses the database {POSTGRES_DATABASE} "
        "on 127.0.0.1 as user postgres, dropped and re-created",
    )
    parser.add_argument(
        "--world",
        choices=["small", "large", "both"],
        default="both",
        help="which world to measure (default both: small, then grown to large, and the comparison)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per case (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per case (default 2)")
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers, both servers (default: portusctl's)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per gunicorn worker, both servers (default: portusctl's)"
    )
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every case this many times, interleaved; best kept"
    )
    parser.add_argument(
        "--in-process-requests",
        type=int,
        default=1000,
        help="requests per round of the in-process CPU measurement (default 1000; 0: skip it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the server logs")
    parser.add_argument(
        "--only", help="run only the token cases whose name contains this text (the baselines always run)"
    )
    args = parser.parse_args()
    ensure_django()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    sys.path.insert(0, str(REPO_ROOT))
    from portus.cli.server import SERVE_THREADS, default_workers

    workers = args.workers or default_workers()
    args.threads = args.threads or SERVE_THREADS
    data_dir = Path(tempfile.mkdtemp(prefix="portus-bench-token-"))
    env = bench_environment(data_dir, args.db, POSTGRES_DATABASE)
    # This process counts queries and builds the world through Django: the servers' own settings.
    for name in [k for k in os.environ if k.startswith("PORTUS_") or k == "DJANGO_SETTINGS_MODULE"]:
        del os.environ[name]
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portus.settings"
    if args.db == "postgresql":
        create_postgres_database(POSTGRES_DATABASE)
    worlds = {"small": [SMALL], "large": [SMALL, LARGE], "both": [SMALL, LARGE]}[args.world]
    measured: list[Measured] = []
    try:
        public_key = write_signing_key(data_dir / "portus.key")
        app_token = set_up(env)
        import django

        warnings.filterwarnings("ignore", message="No directory at")  # static files: not collected here
        django.setup()
        cases = make_cases(app_token)
        if args.only:
            cases = [case for case in cases if case.expected_access is None or args.only in case.name]
        print(
            f"servers: portusctl serve and bench/bare_django.py on the same gunicorn command line, {workers} workers "
            f"x {args.threads} threads; db {args.db}; wrk -t{args.wrk_threads} -c{args.connections} "
            f"-d{args.duration}s; load average before: {load_average()}",
            flush=True,
        )
        for world in worlds:
            started = time.monotonic()
            counts = grow(world)
            print(f"{world.name} world built in {time.monotonic() - started:.1f} s: {counts}", flush=True)
            if args.world == "large" and world is SMALL:
                continue
            measured.append(measure(world, counts, cases, args, env, data_dir, public_key, workers))
            print_world(measured[-1], args.rounds)
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if args.db == "postgresql":
            create_postgres_database(POSTGRES_DATABASE, drop=True)
        if args.keep:
            print(f"data directory kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    if len(measured) == 2:
        print_flatness(*measured)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
