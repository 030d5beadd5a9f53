"""Benchmark of GET /v2/token under wrk: password logins, application tokens, anonymous pulls.

Run from the repository root:  python3 bench/token_throughput.py [--db postgresql] [--duration 10]

It makes a throw-away data directory (and, for PostgreSQL, a throw-away database), migrates it,
creates a registry, users, a team namespace and an application token, starts the production server
(`portusctl serve`, gunicorn) on a free loopback port, checks that every case answers 200 with a
token holding exactly the access the policy grants, warms up, runs wrk for each case, prints
requests/s with p50/p99 latency and the ratio to a trivial JSON view, and stops the server.
Not a test: the figures depend on the machine and on whatever else runs on it.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REGISTRY_HOST = "127.0.0.1:5000"  # only the token "service"; no registry needs to run
USER = "alice"
PASSWORD = "bench-password-" + secrets.token_hex(4)
PUBLIC_NAMESPACE = "opensource"
TARGET_TOKENS_PER_SECOND = 1500


@dataclass
class Case:
    name: str
    path: str
    authorization: str | None
    expected_access: list[dict[str, Any]] | None  # None: not a token (the baseline)


@dataclass
class Result:
    case: Case
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_us: float = 0.0  # server CPU time (all workers) per request: steadier than req/s on a busy machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def token_path(scope: str, account: str | None) -> str:
    query = [("service", REGISTRY_HOST), ("scope", scope)]
    if account:
        query.append(("account", account))  # docker and skopeo send it with credentials
    return "/v2/token?" + urllib.parse.urlencode(query)


def bench_environment(data_dir: Path, db: str, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTUS_")}
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


def set_up(env: dict[str, str], data_dir: Path) -> str:
    """Key, schema and data through the real portusctl commands; returns alice's app token."""
    from portus.registry.signing import write_key_pair

    write_key_pair(data_dir / "portus.key", data_dir / "portus.crt", "ES256", "portus.bench.test")
    portusctl(env, "migrate", "--verbosity", "0")
    portusctl(env, "registry", "add", "--name", "bench", "--hostname", REGISTRY_HOST)
    for name in (USER, "bob", "carol"):
        portusctl(env, "user", "create", name, "--email", f"{name}@bench.test", "--password", PASSWORD)
    portusctl(env, "team", "create", "acme", "--owner", "bob")
    portusctl(env, "team", "add-member", "acme", USER, "--role", "contributor")
    portusctl(env, "namespace", "create", PUBLIC_NAMESPACE, "--team", "acme", "--visibility", "public")
    return portusctl(env, "token", "create", USER, "--name", "bench").strip()


def start_server(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "portus.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--threads", str(threads)]
    with open(log, "ab") as handle:
        server = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ping", timeout=1) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"the server did not answer on port {port} within 30 s; see {log}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def fetch(port: int, case: Case) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{case.path}")
    if case.authorization:
        request.add_header("Authorization", case.authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_sample(port: int, case: Case, data_dir: Path) -> None:
    """Refuse to benchmark a case that answers anything but the token the policy grants."""
    import jwt
    from cryptography import x509

    status, body = fetch(port, case)
    if status != 200:
        raise SystemExit(f"{case.name}: expected 200, got {status}: {body[:300]!r}")
    if case.expected_access is None:
        return
    answer = json.loads(body)
    certificate = x509.load_pem_x509_certificate((data_dir / "portus.crt").read_bytes())
    claims = jwt.decode(
        answer["token"],
        certificate.public_key(),
        algorithms=["ES256", "RS256"],
        audience=REGISTRY_HOST,
        issuer="portus.bench.test",
    )
    if claims["access"] != case.expected_access:
        raise SystemExit(f"{case.name}: the token grants {claims['access']}, expected {case.expected_access}")


def lua_script(case: Case, directory: Path) -> Path:
    path = directory / f"{re.sub(r'[^a-z0-9]+', '-', case.name)}.lua"
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
    """User plus system CPU time of the gunicorn master and its workers, from /proc."""
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
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def run_wrk(
    port: int,
    case: Case,
    args: argparse.Namespace,
    script: Path,
    seconds: int,
    server: subprocess.Popen[bytes],
) -> Result:
    cpu_before = server_cpu_seconds(server)
    command = [
        "wrk",
        "-t",
        str(args.wrk_threads),
        "-c",
        str(args.connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{case.path}",
    ]
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


def print_table(title: str, results: list[Result], spreads: list[tuple[float, float]] | None = None) -> None:
    baseline = results[0].requests_per_second
    print(title)
    header = f"  {'case':<18} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs /_ping':>9} {'CPU/req':>8}"
    print(header + ("  req/s min-max" if spreads else ""))
    for index, result in enumerate(results):
        ratio = result.requests_per_second / baseline if baseline else 0.0
        line = (
            f"  {result.case.name:<18} {result.requests_per_second:>7.0f} {result.p50_ms:>7.2f} "
            f"{result.p99_ms:>7.2f} {ratio:>9.2f} {result.server_cpu_us:>5.0f} us"
        )
        if spreads:
            low, high = spreads[index]
            line += f"  {low:.0f}-{high:.0f}"
        print(line, flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite3", "postgresql"], default="sqlite3")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per case (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per case (default 3)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: portusctl's)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every case this many times, interleaved")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the server log")
    parser.add_argument("--only", help="run only the cases whose name contains this text (the baseline always runs)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    sys.path.insert(0, str(REPO_ROOT))
    from portus.cli.server import default_workers

    workers = args.workers or default_workers()
    data_dir = Path(tempfile.mkdtemp(prefix="portus-bench-token-"))
    database = f"portus_bench_{os.getpid()}"
    env = bench_environment(data_dir, args.db, database)
    if args.db == "postgresql":
        create_postgres_database(database)
    server = None
    try:
        plain_token = set_up(env, data_dir)
        personal = f"repository:{USER}/app:pull,push"
        public = f"repository:{PUBLIC_NAMESPACE}/busybox:pull"
        cases = [
            Case("baseline /_ping", "/_ping", None, None),
            Case(
                "token, password",
                token_path(personal, USER),
                basic(USER, PASSWORD),
                [{"type": "repository", "name": f"{USER}/app", "actions": ["pull", "push"]}],
            ),
            Case(
                "token, app token",
                token_path(personal, USER),
                basic(USER, plain_token),
                [{"type": "repository", "name": f"{USER}/app", "actions": ["pull", "push"]}],
            ),
            Case(
                "token, anonymous",
                token_path(public, None),
                None,
                [
                    {
                        "type": "repository",
                        "name": f"{PUBLIC_NAMESPACE}/busybox",
                        "actions": ["pull"],
                    }
                ],
            ),
        ]
        if args.only:
            cases = [cases[0]] + [case for case in cases[1:] if args.only in case.name]
        port = free_port()
        log = data_dir / "server.log"
        print(
            f"server: portusctl serve, {workers} workers x {args.threads} threads, db {args.db}; "
            f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s; "
            f"load average before: {load_average()}",
            flush=True,
        )
        server = start_server(env, port, workers, args.threads, log)
        scripts = {case.name: lua_script(case, data_dir) for case in cases}
        for case in cases:
            check_sample(port, case, data_dir)
        for case in cases:  # every worker hashes the password once, imports, connects
            run_wrk(port, case, args, scripts[case.name], args.warmup, server)
        rounds: list[list[Result]] = []
        for number in range(args.rounds):
            measured = []
            for case in cases:
                result = run_wrk(port, case, args, scripts[case.name], args.duration, server)
                if result.errors:
                    raise SystemExit(f"{case.name}: {result.errors} failed requests in the run; see {log}")
                measured.append(result)
            rounds.append(measured)
            if args.rounds > 1:
                print_table(f"round {number + 1} (load average {load_average()})", measured)
        for case in cases:  # still the right answer after the load
            check_sample(port, case, data_dir)
    finally:
        if server is not None:
            stop_server(server)
        if args.db == "postgresql":
            create_postgres_database(database, drop=True)
        if args.keep:
            print(f"data directory kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    best = [max(column, key=lambda r: r.requests_per_second) for column in zip(*rounds, strict=True)]
    spreads = [
        (min(r.requests_per_second for r in column), max(r.requests_per_second for r in column))
        for column in zip(*rounds, strict=True)
    ]
    title = f"best of {args.rounds} rounds" if args.rounds > 1 else "result"
    print_table(f"{title}; load average after: {load_average()}", best, spreads)
    baseline = best[0].requests_per_second
    shortfalls = [
        r.case.name
        for r in best[1:]
        if "anonymous" not in r.case.name
        if r.requests_per_second < TARGET_TOKENS_PER_SECOND or r.requests_per_second < baseline / 2
    ]
    if shortfalls:
        print(f"below the target (>= {TARGET_TOKENS_PER_SECOND}/s and >= half of /_ping): {', '.join(shortfalls)}")
    else:
        print(f"target met: password and app-token logins >= {TARGET_TOKENS_PER_SECOND}/s and >= half of /_ping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
