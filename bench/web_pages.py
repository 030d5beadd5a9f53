"""Benchmark of page rendering: a repository with 2,000 tags, a namespace with 10,000 repositories.

Run from the repository root:  python3 bench/web_pages.py [--runs 30] [--db postgresql]

It makes a throw-away data directory (SQLite by default; --db postgresql uses a throw-away
database portus_bench_web on 127.0.0.1), migrates it, fills one repository with 2,000 tags on
1,000 images and one namespace with 10,000 repositories (3 tags each), then requests each page
through Django's full request handling (middleware, session, policy, queries, templates) in this
process and prints the server time per request (median, p95, max), the CPU time per request (median)
and the number of queries
(--show-queries prints each page's SQL statements too).
The target is at most 150 ms each. Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import load, portusctl, prepare_environment  # noqa: E402

TARGET_MS = 150.0
BENCH_DATABASE = "portus_bench_web"


def fill() -> dict[str, str]:
    from portus.accounts.actions import create_user
    from portus.registry.actions import add_member, create_namespace, create_registry, create_team
    from portus.registry.models import Repository, Tag

    create_registry(name="bench", hostname="127.0.0.1:5000")
    owner = create_user(username="owner", password="bench-password-1", admin=False)
    member = create_user(username="member", password="bench-password-1", admin=False)
    team = create_team(name="bench", owner=owner, actor=owner)
    add_member(team=team, user=member, role="viewer", actor=owner)
    namespace = create_namespace(name="bench", team=team, actor=owner)
    big = create_namespace(name="huge", team=team, actor=owner)

    repository = Repository.objects.create(namespace=namespace, name="many-tags")
    Tag.objects.bulk_create(
        (
            Tag(
                repository=repository,
                name=f"1.{i}",
                digest=f"sha256:{i // 2:064x}",
                size=10_000 + i,
                media_type="application/vnd.oci.image.manifest.v1+json",
                platforms=["linux/amd64"],
                author=owner,
            )
            for i in range(2000)
        ),
        batch_size=1000,
    )
    Repository.objects.bulk_create(
        (Repository(namespace=big, name=f"service-{i:05d}") for i in range(10_000)), batch_size=2000
    )
    Tag.objects.bulk_create(
        (
            Tag(repository_id=pk, name=name, digest=f"sha256:{pk:060x}{n:04x}", size=1000)
            for pk in Repository.objects.filter(namespace=big).values_list("pk", flat=True)
            for n, name in enumerate(("latest", "stable", "1.0"))
        ),
        batch_size=5000,
    )
    return {
        "repository page, 2,000 tags (1,000 images)": f"/repositories/{repository.pk}/",
        "namespace page, 10,000 repositories": f"/namespaces/{big.pk}/",
        "namespace page, 10,000 repositories, page 250": f"/namespaces/{big.pk}/?page=250",
        "dashboard": "/",
    }


def measure(client: object, path: str, runs: int) -> tuple[list[float], list[float], list[str]]:
    from django.db import connection

    for _ in range(3):  # warm caches (templates, the session, the database's pages)
        assert client.get(path).status_code == 200  # type: ignore[attr-defined]
    executed: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(path)  # type: ignore[attr-defined]
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    return times, cpu, executed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", choices=["sqlite3", "postgresql"], default="sqlite3")
    parser.add_argument("--show-queries", action="store_true", help="print each page's SQL statements")
    args = parser.parse_args()
    prepare_environment("portus-bench-web-")
    os.environ["PORTUS_DEBUG"] = "false"
    if args.db == "postgresql":
        os.environ.update(PORTUS_DB_ADAPTER="postgresql", PORTUS_DB_DATABASE=BENCH_DATABASE)
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", BENCH_DATABASE],
            check=True,
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", BENCH_DATABASE], check=True)
    try:
        portusctl("migrate", "--verbosity", "0")
        import django
        from django.test import Client

        django.setup()
        started = time.perf_counter()
        pages = fill()
        print(f"filled the database in {time.perf_counter() - started:.1f} s ({args.db}); {load()}")
        from portus.accounts.models import User

        client = Client()
        client.force_login(User.objects.get(username="member"))
        # cpu: this process's CPU time per request (median), steadier than the wall clock on a loaded machine;
        # with SQLite it includes the database's work, which runs in this process.
        print(f"{'page':50} {'median':>8} {'p95':>8} {'max':>8} {'cpu':>8} {'queries':>8}")
        worst = 0.0
        for name, path in pages.items():
            times, cpu, executed = measure(client, path, args.runs)
            queries = len(executed)
            median = statistics.median(times)
            p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
            worst = max(worst, median)
            print(
                f"{name:50} {median:7.1f}ms {p95:7.1f}ms {max(times):7.1f}ms "
                f"{statistics.median(cpu):6.1f}ms {queries:8d}"
            )
            if args.show_queries:
                for number, sql in enumerate(executed, 1):
                    print(f"    {number:2d}. {sql[:300]}")
        verdict = "within" if worst <= TARGET_MS else "OVER"
        print(f"slowest median {worst:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    finally:
        if args.db == "postgresql":
            from django.db import connections

            connections.close_all()
            subprocess.run(
                ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", BENCH_DATABASE],
                check=False,
            )


if __name__ == "__main__":
    main()
