"""Instructions per token request, served by gunicorn and in-process, against the bare Django view (callgrind).

Requests/s and CPU times on a shared 2-core machine swing by a factor of two between rounds of the
same code, so a change worth 10 % cannot be seen in bench/token_throughput.py's figures. Instructions
are counted, not timed: the same code, data and requests give the same count whatever else the
machine is doing. This benchmark counts them with valgrind's callgrind, for every case of
bench/token_throughput.py (the bare Django view, /_ping, and the token cases), two ways:

  * served: the same gunicorn command line as `portusctl serve` (one worker, so every request reaches
    the process being counted), under callgrind; a warm-up, then the counters are zeroed
    (callgrind_control -z), --requests requests are sent over two keep-alive connections in turn, and
    the worker's counters are dumped (callgrind_control -d): instructions per request, gunicorn's part
    (HTTP parsing, the thread hand-offs, writing the answer) included;
  * in-process: the WSGI callable called with a WSGI environ in one process, as gunicorn calls it
    (bench/token_profile.py's harness), counted the same way.

It prints both, their difference (what serving adds), and the served count of the bare view divided
by each case's: the load-independent counterpart of the throughput ratio issue 14 asks for. The two
differ by what instructions cost: a token request touches more memory than the bare view, and on a
busy machine its instructions cost more each. With --db postgresql the database server's work is
not counted (another process); psycopg's client work is.

Requires valgrind (Debian package valgrind). About 5 minutes for the small world on two cores.
Run from the repository root:  python3 bench/token_instructions.py [--world large] [--db postgresql]
"""

from __future__ import annotations

import argparse
import functools
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import token_throughput as tt  # noqa: E402 - the benchmark whose world and cases are counted here
from cold_start import worker_pids  # noqa: E402

# Under valgrind a worker imports and warms up about fifty times slower than natively.
START_SECONDS = 900
DUMP_SECONDS = 120
SUMMARY_RE = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.M)


# --- callgrind ------------------------------------------------------------------------------------


def under_callgrind(command: list[str], out_dir: Path) -> list[str]:
    return [
        "valgrind",
        "--quiet",
        "--tool=callgrind",
        "--trace-children=yes",  # portusctl serve execs gunicorn
        f"--callgrind-out-file={out_dir}/callgrind.%p",
        *command,
    ]


def callgrind_control(option: str, pid: int) -> None:
    done = subprocess.run(["callgrind_control", option, str(pid)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"callgrind_control {option} {pid} failed: {done.stdout}{done.stderr}")


def dumped_instructions(out_dir: Path, pid: int, dumps_before: int) -> int:
    """The instructions in the newest dump of PID (callgrind.PID.N), once it is complete."""
    deadline = time.monotonic() + DUMP_SECONDS
    while time.monotonic() < deadline:
        dumps = sorted(out_dir.glob(f"callgrind.{pid}.*"), key=lambda p: int(p.suffix[1:]))
        if len(dumps) > dumps_before:
            found = SUMMARY_RE.search(dumps[-1].read_bytes())
            if found:
                return int(found.group(1))
        time.sleep(0.2)
    raise SystemExit(f"no callgrind dump of process {pid} appeared in {out_dir}")


def count(pid: int, out_dir: Path, run: Callable[[], None]) -> int:
    """Instructions process PID executes while RUN() sends its requests."""
    dumps_before = len(list(out_dir.glob(f"callgrind.{pid}.*")))
    callgrind_control("-z", pid)
    run()
    callgrind_control("-d", pid)
    return dumped_instructions(out_dir, pid, dumps_before)


# --- served ---------------------------------------------------------------------------------------


def start(
    command: list[str], env: dict[str, str], port: int, probe: str, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """The server under callgrind, answering PROBE; returns it and its one worker's pid."""
    with open(log, "ab") as handle:
        server = subprocess.Popen(command, env=env, cwd=tt.REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{command[:6]} exited with {server.returncode}; see {log}")
        try:
            status, _ = get(port, probe, None)
            if status == 200:
                workers = sorted(worker_pids(server.pid))
                if len(workers) != 1:
                    raise SystemExit(f"expected one gunicorn worker under {server.pid}, found {workers}")
                return server, workers[0]
        except (OSError, http.client.HTTPException):
            time.sleep(1)
    tt.stop_server(server)
    raise SystemExit(f"{command[:6]} did not answer within {START_SECONDS} s; see {log}")


def get(port: int, path: str, authorization: str | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        return send(connection, path, authorization)
    finally:
        connection.close()


def send(connection: http.client.HTTPConnection, path: str, authorization: str | None) -> tuple[int, bytes]:
    connection.request("GET", path, headers={"Authorization": authorization} if authorization else {})
    response = connection.getresponse()
    return response.status, response.read()


def requests_over(port: int, case: tt.Case, number: int) -> None:
    """NUMBER requests of CASE over two keep-alive connections in turn (one at a time: no concurrency)."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(2)]
    try:
        for i in range(number):
            status, body = send(connections[i % 2], case.path, case.authorization)
            if status != 200:
                raise SystemExit(f"{case.name}: answered {status}: {body[:300]!r}")
    finally:
        for connection in connections:
            connection.close()


def by_server(cases: list[tt.Case]) -> Iterator[tuple[str, list[tt.Case]]]:
    """The bare view's cases, then Portus's, each with the server kind they need (skipped if none)."""
    for kind in ("bare", "portus"):
        mine = [case for case in cases if case.server == kind]
        if mine:
            yield kind, mine


def served(
    cases: list[tt.Case], env: dict[str, str], data_dir: Path, args: argparse.Namespace, public_key: object
) -> dict[str, int]:
    out_dir = data_dir / "callgrind-served"
    out_dir.mkdir()
    found: dict[str, int] = {}
    for kind, mine in by_server(cases):
        port = tt.free_port()
        if kind == "bare":
            command = tt.bare_command(port, 1, args.threads)
            server_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
        else:
            command, server_env = tt.portus_command(port, 1, args.threads), env
        server, worker = start(
            under_callgrind(command, out_dir),
            server_env,
            port,
            mine[0].path.split("?")[0] if kind == "bare" else "/_ping",
            data_dir / "served.log",
        )
        try:
            for case in mine:
                # The first password request hashes it: a second natively, a minute under callgrind.
                tt.check_sample(port, case, public_key, timeout=START_SECONDS)
                requests_over(port, case, args.warmup)
                total = count(worker, out_dir, functools.partial(requests_over, port, case, args.requests))
                found[case.name] = round(total / args.requests)
                print(f"  served      {case.name:<20} {found[case.name]:>12,} instructions/request", flush=True)
        finally:
            tt.stop_server(server)
    return found


# --- in-process -----------------------------------------------------------------------------------

CHILD = """
import sys
sys.path[:0] = [{root!r}, {bench!r}]
import token_profile
if {bare!r}:
    from bench.bare_django import application
else:
    import warnings
    warnings.filterwarnings("ignore", message="No directory at")
    from portus.wsgi import application
calls = {{}}
for entry in sys.stdin.readline().rstrip("\\n").split("\\t"):
    name, path, authorization = entry.split("|")
    path, _, query = path.partition("?")
    calls[name] = token_profile.caller(application, path, query, authorization or None)
    for _ in range({warmup}):
        calls[name]()
print("ready", flush=True)
for line in sys.stdin:
    for _ in range({requests}):
        calls[line.strip()]()
    print("done", flush=True)
"""


def ask(child: subprocess.Popen[str], name: str) -> None:
    """Have the in-process CHILD run its requests of the case NAME, and wait until it has."""
    assert child.stdin and child.stdout
    child.stdin.write(name + "\n")
    child.stdin.flush()
    if child.stdout.readline().strip() != "done":
        raise SystemExit(f"the in-process child stopped during {name}")


def in_process(cases: list[tt.Case], env: dict[str, str], data_dir: Path, args: argparse.Namespace) -> dict[str, int]:
    out_dir = data_dir / "callgrind-in-process"
    out_dir.mkdir()
    found: dict[str, int] = {}
    for kind, mine in by_server(cases):
        code = CHILD.format(
            root=str(tt.REPO_ROOT),
            bench=str(Path(__file__).resolve().parent),
            bare=kind == "bare",
            warmup=args.warmup,
            requests=args.requests,
        )
        child_env = env if kind == "portus" else {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
        child = subprocess.Popen(
            under_callgrind([sys.executable, "-c", code], out_dir),
            env=child_env,
            cwd=tt.REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin and child.stdout
        try:
            child.stdin.write("\t".join(f"{c.name}|{c.path}|{c.authorization or ''}" for c in mine) + "\n")
            child.stdin.flush()
            if child.stdout.readline().strip() != "ready":
                raise SystemExit(f"the in-process child ({kind}) did not start; exit status {child.poll()}")
            for case in mine:
                total = count(child.pid, out_dir, functools.partial(ask, child, case.name))
                found[case.name] = round(total / args.requests)
                print(f"  in-process  {case.name:<20} {found[case.name]:>12,} instructions/request", flush=True)
        finally:
            child.stdin.close()
            child.wait(timeout=120)
    return found


# --- main -----------------------------------------------------------------------------------------


def print_table(cases: list[tt.Case], served_counts: dict[str, int], in_process_counts: dict[str, int]) -> None:
    bare = served_counts["bare Django view"]
    print(f"  {'case':<20} {'served':>12} {'vs bare':>8} {'in-process':>12} {'serving':>10}")
    for case in cases:
        total, inner = served_counts[case.name], in_process_counts.get(case.name)
        serving = f"{total - inner:>10,}" if inner is not None else f"{'-':>10}"
        inner_cell = f"{inner:>12,}" if inner is not None else f"{'-':>12}"
        print(f"  {case.name:<20} {total:>12,} {bare / total:>8.3f} {inner_cell} {serving}")
    print(
        "  instructions per request (callgrind). served: one gunicorn worker, requests one at a time over two\n"
        "  keep-alive connections; vs bare: the bare view's served count / the case's (>= 0.5 is issue 14's bar\n"
        "  for throughput); in-process: the WSGI callable without a server; serving: the difference"
    )


def main() -> int:
    parser = tt.argument_parser(__doc__)
    parser.add_argument(
        "--db", choices=["sqlite3", "postgresql"], default=os.environ.get("PORTUS_DB_ADAPTER", "sqlite3")
    )
    parser.add_argument("--world", choices=["small", "large"], default="small")
    parser.add_argument("--requests", type=int, default=200, help="counted requests per case (default 200)")
    parser.add_argument("--warmup", type=int, default=50, help="requests per case before counting (default 50)")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads of the gunicorn worker (default: portusctl's)"
    )
    parser.add_argument("--only", help="only the token cases whose name contains this text (the baselines always run)")
    parser.add_argument("--no-in-process", action="store_true", help="count the served requests only")
    args = parser.parse_args()
    tt.ensure_django()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install valgrind")
    sys.path.insert(0, str(tt.REPO_ROOT))
    from portus.cli.server import SERVE_THREADS

    args.threads = args.threads or SERVE_THREADS
    data_dir = Path(tempfile.mkdtemp(prefix="portus-bench-instructions-"))
    env = tt.bench_environment(data_dir, args.db, tt.POSTGRES_DATABASE)
    for name in [k for k in os.environ if k.startswith("PORTUS_") or k == "DJANGO_SETTINGS_MODULE"]:
        del os.environ[name]
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portus.settings"
    env["DJANGO_SETTINGS_MODULE"] = "portus.settings"
    if args.db == "postgresql":
        tt.create_postgres_database(tt.POSTGRES_DATABASE)
    try:
        public_key = tt.write_signing_key(data_dir / "portus.key")
        app_token = tt.set_up(env)
        import django

        warnings.filterwarnings("ignore", message="No directory at")
        django.setup()
        counts: dict[str, int] = {}
        for world in [tt.SMALL] + ([tt.LARGE] if args.world == "large" else []):
            counts = tt.grow(world)
        from django.db import connections

        connections.close_all()
        cases = tt.make_cases(app_token)
        if args.only:
            cases = [case for case in cases if case.expected_access is None or args.only in case.name]
        print(
            f"{args.world} world {counts}; db {args.db}; gunicorn 1 worker x {args.threads} threads under callgrind; "
            f"{args.requests} requests per case after {args.warmup}",
            flush=True,
        )
        served_counts = served(cases, env, data_dir, args, public_key)
        in_process_counts = {} if args.no_in_process else in_process(cases, env, data_dir, args)
        print_table(cases, served_counts, in_process_counts)
    finally:
        if args.db == "postgresql":
            tt.create_postgres_database(tt.POSTGRES_DATABASE, drop=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
