"""Benchmark: API list endpoints over 10,000 repositories and 50,000 tags.

Prints p50/p95 latency (through Django's test client, in process: no network, the full middleware
and django-ninja stack) and the number of SQL queries at two page sizes, for an administrator and
for a team member (whose visibility filter is the expensive one).

    python3 bench/api_lists.py                          # SQLite in a throw-away data directory
    PORTUS_DATA_DIR=/tmp/api-bench python3 bench/api_lists.py   # keeps (and reuses) the data
    PORTUS_DB_ADAPTER=postgresql PORTUS_DB_DATABASE=portus_api_bench python3 bench/api_lists.py

Goal: p50 <= 20 ms per list request, and a query count that does not grow with per_page.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PORTUS_DATA_DIR", tempfile.mkdtemp(prefix="portus-api-bench-"))
os.environ.setdefault("PORTUS_ENV", "test")  # cheap password hashing for the set-up users
os.environ.setdefault("PORTUS_DEBUG", "false")  # DEBUG would record every query and slow all down
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portus.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from portus.accounts.actions import create_token, create_user  # noqa: E402
from portus.accounts.models import User  # noqa: E402
from portus.registry.actions import create_registry  # noqa: E402
from portus.registry.models import (  # noqa: E402
    Activity,
    Namespace,
    NamespaceKind,
    Repository,
    Tag,
    Team,
    TeamMembership,
    Visibility,
)

TEAMS = 100
REPOSITORIES_PER_TEAM = 100  # 10,000 repositories
TAGS_PER_REPOSITORY = 5  # 50,000 tags
ACTIVITIES = 20_000
RUNS = 60


def populate() -> None:
    started = time.perf_counter()
    registry = create_registry(name="bench", hostname="registry.bench:5000")
    admin = create_user(username="admin", password="bench-password-1", admin=True)
    member = create_user(username="member", password="bench-password-1", admin=False)
    teams = Team.objects.bulk_create(Team(name=f"team{i:03d}") for i in range(TEAMS))
    # The member belongs to a third of the teams; a third of the namespaces are protected.
    TeamMembership.objects.bulk_create(TeamMembership(team=t, user=member, role="contributor") for t in teams[::3])
    namespaces = Namespace.objects.bulk_create(
        Namespace(
            registry=registry,
            name=t.name,
            kind=NamespaceKind.TEAM,
            team=t,
            visibility=Visibility.PROTECTED if i % 3 == 1 else Visibility.PRIVATE,
        )
        for i, t in enumerate(teams)
    )
    now = timezone.now()
    Repository.objects.bulk_create(
        (
            Repository(namespace=ns, name=f"app{j:03d}", created_at=now, updated_at=now)
            for ns in namespaces
            for j in range(REPOSITORIES_PER_TEAM)
        ),
        batch_size=2000,
    )
    repository_ids = list(Repository.objects.values_list("pk", flat=True))
    Tag.objects.bulk_create(
        (
            Tag(
                repository_id=r,
                name=f"v{k}",
                digest=f"sha256:{r:032x}{k % 3:032x}",
                size=1000 * k,
                author=admin,
            )
            for r in repository_ids
            for k in range(TAGS_PER_REPOSITORY)
        ),
        batch_size=5000,
    )
    Activity.objects.bulk_create(
        (
            Activity(
                actor=admin,
                action="repository.push",
                target=f"team{i % TEAMS:03d}/app:v1",
                namespace=namespaces[i % TEAMS],
            )
            for i in range(ACTIVITIES)
        ),
        batch_size=5000,
    )
    print(
        f"populated {Repository.objects.count()} repositories, {Tag.objects.count()} tags, "
        f"{Activity.objects.count()} activity lines in {time.perf_counter() - started:.1f} s "
        f"({connection.vendor})"
    )


def fresh_tokens() -> dict[str, str]:
    name = f"bench-{time.time_ns()}"
    tokens = {}
    for username in ("admin", "member"):
        user = User.objects.get(username=username)
        tokens[username] = create_token(user=user, name=name, actor=user)[1]
    return tokens


def measure(client: Client, token: str, url: str) -> tuple[float, float, float, int, int]:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):  # warm caches and connections
        assert client.get(url, headers=headers).status_code == 200, url
    times, cpu_times = [], []
    for _ in range(RUNS):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        # CPU time of this process: what the request costs when other work on the machine
        # (other test runs on a shared box) delays it. SQLite runs in-process, so it is included.
        cpu_times.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200
    counts = []
    for per_page in (20, 100):
        with CaptureQueriesContext(connection) as queries:
            client.get(f"{url}{'&' if '?' in url else '?'}per_page={per_page}", headers=headers)
        counts.append(len(queries.captured_queries))
    times.sort()
    return (
        statistics.median(times),
        times[int(len(times) * 0.95) - 1],
        statistics.median(cpu_times),
        counts[0],
        counts[1],
    )


def main() -> int:
    call_command("migrate", interactive=False, verbosity=0)
    if not Repository.objects.exists():  # a kept PORTUS_DATA_DIR is reused as it is
        populate()
    tokens = fresh_tokens()
    first_repository = Repository.objects.order_by("pk").first()
    assert first_repository is not None
    member_repository = Repository.objects.filter(namespace__team__memberships__user__username="member").first()
    assert member_repository is not None
    endpoints = [
        "/api/v1/repositories",
        "/api/v1/repositories?page=250",
        "/api/v1/repositories?sort=-updated_at",
        "/api/v1/repositories?q=app05",
        "/api/v1/namespaces",
        "/api/v1/teams",
        "/api/v1/repositories/{repo}/tags",
        "/api/v1/repositories/{repo}/tags/grouped",
        "/api/v1/activities",
        "/api/v1/search?q=app07",
    ]
    client = Client()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'who':7} {'endpoint':48} {'p50 ms':>7} {'p95 ms':>7} {'cpu p50':>8} {'q@20':>5} {'q@100':>6}")
    worst = 0.0
    growing = []
    for who in ("admin", "member"):
        repo = first_repository if who == "admin" else member_repository
        for template in endpoints:
            url = template.format(repo=repo.pk)
            p50, p95, cpu50, q20, q100 = measure(client, tokens[who], url)
            worst = max(worst, p50)
            if q100 > q20:
                growing.append(f"{who} {url}")
            print(f"{who:7} {url:48} {p50:7.2f} {p95:7.2f} {cpu50:8.2f} {q20:5d} {q100:6d}")
    reset_queries()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"worst p50: {worst:.2f} ms (goal <= 20 ms); query count growing with page size: {growing or 'none'}")
    return 0 if worst <= 20 and not growing else 1


if __name__ == "__main__":
    raise SystemExit(main())
