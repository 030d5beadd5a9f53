"""The scan flow without a registry: queueing per digest and backend, claims and leases, retries,
lost claims, rescans, automatic rescans when a database moves, and the precomputed summary."""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from portus.background.models import TaskName, TaskStatus
from portus.background.worker import Worker
from portus.registry.models import Repository, Tag
from portus.registry.signals import manifest_pushed
from portus.security import scans, summary
from portus.security.advisories import advisory_database_version
from portus.security.backends import (
    BackendError,
    BackendHealth,
    DatabaseInfo,
    FoundVulnerability,
    ScanOutcome,
    ScanTarget,
)
from portus.security.models import Scan, ScanFinding, ScanState, ScanSummary
from portus.security.severity import Severity
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.conftest import World
from tests.support.web import client_as

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64

Configure = Callable[[str, Any], None]


@pytest.fixture
def scanning(portus_config: Configure) -> Configure:
    portus_config("background.security_scanning.enabled", True)
    portus_config("security.builtin.enabled", False)
    portus_config("security.dummy.enabled", True)
    return portus_config


class Scripted:
    """A backend whose answers the test decides: a list of outcomes or errors, one per scan."""

    name = "dummy"

    def __init__(self, *answers: ScanOutcome | Exception, version: str = "v1"):
        self.answers = list(answers)
        self.version = version
        self.targets: list[ScanTarget] = []
        self.during: Callable[[], None] = lambda: None

    def scan(self, target: ScanTarget) -> ScanOutcome:
        self.targets.append(target)
        self.during()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def database(self) -> DatabaseInfo:
        return DatabaseInfo(self.version)

    def health(self) -> BackendHealth:
        return BackendHealth(True, "fine")


def outcome(*severities: Severity, version: str = "v1") -> ScanOutcome:
    return ScanOutcome(
        [
            FoundVulnerability(f"CVE-2024-{i}", severity, f"pkg{i}", "1.0", "1.1")
            for i, severity in enumerate(severities)
        ],
        DatabaseInfo(version),
    )


def worker_with(backend: Scripted) -> Worker:
    worker = Worker("test-worker")
    worker.backends = {"dummy": backend}
    return worker


def make_tag(world: World, name: str = "v1", digest: str = DIGEST) -> Tag:
    repository, _ = Repository.objects.get_or_create(namespace=world.namespace, name="app")
    return Tag.objects.create(repository=repository, name=name, digest=digest)


def test_a_push_queues_one_scan_per_enabled_backend_once(world: World, scanning: Configure) -> None:
    scanning("security.builtin.enabled", True)
    for _ in range(2):
        manifest_pushed.send(sender=Tag, registry=world.registry, repository="acme/app", digest=DIGEST)
    assert sorted(Scan.objects.values_list("backend", "state")) == [("builtin", "pending"), ("dummy", "pending")]
    assert ScanSummary.objects.get(manifest_digest=DIGEST).state == ScanState.PENDING


def test_nothing_is_queued_while_scanning_is_switched_off(world: World, portus_config: Configure) -> None:
    portus_config("background.security_scanning.enabled", False)
    assert scans.enqueue(world.registry, "acme/app", DIGEST) == 0
    assert not Scan.objects.exists()


def test_a_worker_runs_the_backend_and_stores_findings_and_counts(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    backend = Scripted(outcome(Severity.CRITICAL, Severity.HIGH, Severity.HIGH, Severity.UNKNOWN))
    worker = worker_with(backend)
    assert worker.handle_one_scan() is True
    assert worker.handle_one_scan() is False  # nothing left
    scan = Scan.objects.get()
    assert (scan.state, scan.claim, scan.lease_until, scan.database_version) == (ScanState.DONE, "", None, "v1")
    assert scan.scanned_at is not None
    assert backend.targets[0].repository == "acme/app" and backend.targets[0].digest == DIGEST
    assert sorted(ScanFinding.objects.values_list("vulnerability_id", "severity")) == [
        ("CVE-2024-0", "Critical"),
        ("CVE-2024-1", "High"),
        ("CVE-2024-2", "High"),
        ("CVE-2024-3", "Unknown"),
    ]
    row = ScanSummary.objects.get(manifest_digest=DIGEST)
    counts = (row.critical, row.high, row.medium, row.low, row.negligible, row.unknown, row.allowlisted)
    assert (row.state, counts) == (ScanState.DONE, (1, 2, 0, 0, 0, 1, 0))


def test_a_failing_backend_is_retried_with_backoff_then_marked_failed(world: World, scanning: Configure) -> None:
    scanning("security.max_attempts", 2)
    scans.enqueue(world.registry, "acme/app", DIGEST)
    worker = worker_with(Scripted(BackendError("adapter down"), RuntimeError("broken answer")))
    assert worker.handle_one_scan() is True
    scan = Scan.objects.get()
    assert (scan.state, scan.attempts, scan.reason) == (ScanState.PENDING, 1, "dummy: adapter down")
    assert scan.lease_until is not None and scan.lease_until > timezone.now() + dt.timedelta(seconds=3)
    assert worker.handle_one_scan() is False  # waiting for its retry
    Scan.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert worker.handle_one_scan() is True
    scan.refresh_from_db()
    assert (scan.state, scan.attempts) == (ScanState.FAILED, 2)
    assert scan.reason == "dummy: RuntimeError: broken answer"
    assert ScanSummary.objects.get(manifest_digest=DIGEST).state == ScanState.FAILED
    assert TaskStatus.objects.get(name=TaskName.SECURITY_SCANNING).last_error == scan.reason


def test_a_result_is_thrown_away_when_the_claim_was_lost_meanwhile(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    backend = Scripted(outcome(Severity.LOW), outcome(Severity.HIGH))
    backend.during = lambda: scans.request_rescan(Scan.objects.all()) if len(backend.targets) == 1 else None
    worker = worker_with(backend)
    assert worker.handle_one_scan() is True
    assert Scan.objects.get().state == ScanState.PENDING  # the rescan won; the first result was dropped
    assert not ScanFinding.objects.exists()
    assert worker.handle_one_scan() is True
    assert list(ScanFinding.objects.values_list("severity", flat=True)) == ["High"]


def test_a_running_scan_whose_lease_ran_out_is_taken_over(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    dead = scans.claim_scan("dead-worker", ["dummy"])
    assert dead is not None
    assert scans.claim_scan("other", ["dummy"]) is None  # leased
    Scan.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    worker = worker_with(Scripted(outcome(Severity.MEDIUM)))
    assert worker.handle_one_scan() is True
    scan = Scan.objects.get()
    assert (scan.state, scan.attempts) == (ScanState.DONE, 2)
    with pytest.raises(scans.LostClaim):
        scans.save(dead, outcome(Severity.CRITICAL))
    assert list(ScanFinding.objects.values_list("severity", flat=True)) == ["Medium"]


def test_rescans_of_a_tag_a_repository_and_everything_queue_the_digests_again(
    world: World, scanning: Configure
) -> None:
    first = make_tag(world, "v1", DIGEST)
    make_tag(world, "v2", DIGEST)  # shares the digest: one scan
    other = make_tag(world, "v3", OTHER)
    worker = worker_with(Scripted(outcome(), outcome(), outcome(), outcome(), outcome()))
    assert scans.rescan_all() == 2
    while worker.handle_one_scan():
        pass
    assert set(Scan.objects.values_list("state", flat=True)) == {ScanState.DONE}
    assert scans.rescan_tag(first) == 1
    assert Scan.objects.get(manifest_digest=DIGEST).state == ScanState.PENDING
    assert Scan.objects.get(manifest_digest=OTHER).state == ScanState.DONE
    assert scans.rescan_repository(other.repository) == 2


def test_only_scans_made_with_another_database_version_are_scanned_again(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    scans.enqueue(world.registry, "acme/app", OTHER)
    backend = Scripted(outcome(version="v1"), outcome(version="v2"))
    worker = worker_with(backend)
    while worker.handle_one_scan():
        pass
    assert scans.rescan_outdated(backend) == 1  # current is v1: only the v2 scan moved
    assert Scan.objects.get(manifest_digest=OTHER).state == ScanState.PENDING
    assert scans.rescan_outdated(backend) == 0


def test_a_database_check_queues_nothing_when_no_database_moved(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    worker = worker_with(Scripted(outcome(version="v1")))
    assert worker.handle_one_scan() is True
    assert worker.handle_database_check() is False
    assert Scan.objects.get().state == ScanState.DONE


def test_the_summary_counts_only_what_counted_findings_returns(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    worker_with(Scripted(outcome(Severity.HIGH, Severity.LOW))).handle_one_scan()
    original = summary.counted_findings
    summary.counted_findings = lambda digest, allowlist=True: original(digest, allowlist).exclude(  # type: ignore[assignment]
        vulnerability_id="CVE-2024-0"
    )
    try:
        row = summary.refresh(DIGEST)
    finally:
        summary.counted_findings = original  # type: ignore[assignment]
    assert row is not None and (row.high, row.low) == (0, 1)


def test_the_dummy_backend_reports_findings_that_follow_the_digest(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", "sha256:" + "3" * 64)
    worker = Worker("dummy-worker")
    assert worker.handle_one_scan() is True
    # 0x33: bits 0, 1, 4, 5 -> Critical, High, Negligible, Unknown
    assert sorted(ScanFinding.objects.values_list("severity", flat=True)) == [
        "Critical",
        "High",
        "Negligible",
        "Unknown",
    ]


def test_health_shows_each_scanner_reachable_with_its_database_age_to_admins(
    api: Api, world: World, scanning: Configure
) -> None:
    scanning("security.harbor.server", "http://127.0.0.1:9")
    scans.enqueue(world.registry, "acme/app", DIGEST)
    body = api.get("health", "admin").body
    assert body["scanners"]["dummy"]["ok"] is True
    assert (
        "database updated" in body["scanners"]["dummy"]["message"]
        and "2026-01-01 00:00 UTC" in body["scanners"]["dummy"]["message"]
    )
    assert body["scanners"]["harbor"]["ok"] is False
    assert "cannot reach the scanner adapter" in body["scanners"]["harbor"]["message"]
    assert "scanner harbor" in body["message"]
    assert api.get("health", "anonymous").body["scanners"] == {}


def test_the_tasks_page_lists_each_scanner_with_its_queue(world: World, scanning: Configure) -> None:
    scans.enqueue(world.registry, "acme/app", DIGEST)
    body = client_as(world, "admin").get("/admin/tasks/").content.decode()
    assert "Scanners" in body and "The dummy backend always answers." in body and "reachable" in body


def test_the_scheduled_import_reads_the_configured_folder_when_due_and_only_then(
    world: World, scanning: Configure, tmp_path: Path
) -> None:
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "PYSEC-1.json").write_text(
        json.dumps(
            {
                "id": "PYSEC-1",
                "modified": "2024-05-01T00:00:00Z",
                "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"}, "versions": ["2.0.0"]}],
            }
        )
    )
    scanning("security.builtin.advisories", str(folder))
    scanning("security.builtin.enabled", True)
    assert "1" in scans.import_due_advisories()
    assert advisory_database_version().advisories == 1
    assert scans.import_due_advisories() == ""  # imported less than import_interval ago


def test_a_worker_claims_scans_in_one_batch_and_gives_back_those_it_did_not_start_when_it_stops(
    world: World, scanning: Configure
) -> None:
    scanning("security.claim_batch", 3)
    digests = ["sha256:" + c * 64 for c in "cdef"]
    for digest in digests:
        scans.enqueue(world.registry, "acme/app", digest)
    worker = worker_with(Scripted(outcome(Severity.HIGH)))
    worker.stopping = True  # SIGTERM arrived while the first scan ran
    assert worker.handle_one_scan() is True
    states = dict(Scan.objects.values_list("manifest_digest", "state"))
    assert states == {
        digests[0]: ScanState.DONE,
        digests[1]: ScanState.PENDING,  # claimed with the first, never started: given back, free at once
        digests[2]: ScanState.PENDING,
        digests[3]: ScanState.PENDING,  # beyond the batch: never claimed
    }
    given = Scan.objects.filter(manifest_digest__in=digests[1:3])
    assert {(s.attempts, s.claim, s.lease_until) for s in given} == {(0, "", None)}
    assert ScanSummary.objects.get(manifest_digest=digests[1]).state == ScanState.PENDING
    assert worker.claimed_scans == deque()
    # Another worker takes them at once (no lease to wait for), oldest first.
    claimed = scans.claim_scans("other", ["dummy"], 3)
    assert [c.scan.manifest_digest for c in claimed] == digests[1:]
    assert len({c.claim for c in claimed}) == 1 and all(c.scan.attempts == 1 for c in claimed)
