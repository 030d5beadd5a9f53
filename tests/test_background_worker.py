"""The worker as a real process: wake-up, SIGTERM, PORTUS_BACKGROUND, and two workers (one killed
mid-event) applying every event exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone

from portus.registry.client import OCI_MANIFEST
from portus.registry.models import Activity, EventState, RegistryEvent, Tag
from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import start_worker, wait_for
from tests.support.images import Image, make_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(live_server: object, transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    yield from start_stack(live_server, tmp_path)


QUIET = {
    "PORTUS_BACKGROUND_SYNC_STRATEGY": "disabled",
    "PORTUS_BACKGROUND_POLL_INTERVAL_VALUE": "1",
}


def push(stack: Stack, repository: str, tag: str = "v1") -> Image:
    image = make_image(stack.tmp / repository.replace("/", "_"), tag=tag)
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"owner:{PASSWORD}",
        image.reference,
        stack.ref(repository, tag),
    )
    assert done.returncode == 0, done.stderr
    return image


def claim_prefix(process: subprocess.Popen[bytes]) -> str:
    return f"{socket.gethostname()}:{process.pid}:"


def held_by(process: subprocess.Popen[bytes]) -> RegistryEvent | None:
    return RegistryEvent.objects.filter(
        state=EventState.PENDING,
        claim__startswith=claim_prefix(process),
        lease_until__gt=timezone.now(),
    ).first()


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.terminate()
    return process.wait(timeout=30)


def test_sigterm_lets_the_worker_finish_the_current_event(stack: Stack) -> None:
    push(stack, "acme/app")
    wait_for(lambda: RegistryEvent.objects.filter(repository="acme/app").exists(), what="notification")
    # Freeze the registry: the worker claims the event and waits for the manifest, mid-item.
    os.kill(stack.registry.process.pid, signal.SIGSTOP)
    worker = start_worker(stack.tmp / "worker.log", **QUIET)
    try:
        wait_for(lambda: held_by(worker) is not None, what="worker claims the event")
        worker.send_signal(signal.SIGTERM)
        assert worker.poll() is None  # still busy with the event
    finally:
        os.kill(stack.registry.process.pid, signal.SIGCONT)
    assert worker.wait(timeout=60) == 0
    event = RegistryEvent.objects.get(repository="acme/app")
    assert event.state == EventState.DONE, (stack.tmp / "worker.log").read_text()
    assert Tag.objects.filter(repository__name="app", name="v1").exists()
    assert "finishing the current item" in (stack.tmp / "worker.log").read_text()


def burst(stack: Stack, images: dict[str, Image], per_repository: int) -> list[str]:
    """Notifications for many tags on real manifests, delivered like the registry does, in batches."""
    secret = stack.world.registry.notification_secret()
    ids: list[str] = []
    batch: list[dict[str, Any]] = []
    for n in range(per_repository):
        for repository, image in images.items():
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            batch.append(
                {
                    "id": event_id,
                    "timestamp": timezone.now().isoformat(),
                    "action": "push",
                    "target": {
                        "mediaType": OCI_MANIFEST,
                        "digest": image.manifest_digest,
                        "repository": repository,
                        "tag": f"burst-{n}",
                        "size": 1,
                    },
                    "actor": {"name": "owner"},
                }
            )
            if len(batch) == 20:
                answer = requests.post(
                    f"{stack.portus_url}/v2/webhooks/events",
                    data=json.dumps({"events": batch}),
                    headers={
                        "Authorization": f"Bearer {secret}",
                        "Content-Type": "application/vnd.docker.distribution.events.v1+json",
                    },
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                batch = []
    assert not batch
    return ids


def test_two_workers_one_killed_mid_event_apply_every_event_exactly_once(stack: Stack) -> None:
    repositories = [f"acme/burst-{i}" for i in range(4)]
    images = {name: push(stack, name) for name in repositories}
    wait_for(
        lambda: RegistryEvent.objects.filter(action="push").count() == len(repositories),
        what="notifications",
    )
    ids = burst(stack, images, per_repository=40)
    total = RegistryEvent.objects.count()
    settings = {**QUIET, "PORTUS_BACKGROUND_LEASE_VALUE": "3"}
    first = start_worker(stack.tmp / "first.log", **settings)
    second = start_worker(stack.tmp / "second.log", **settings)
    try:
        wait_for(
            lambda: RegistryEvent.objects.filter(state=EventState.DONE).count() >= 20,
            what="some progress",
        )
        # Catch the first worker holding an event: freeze it, check the claim is still open, then kill it.
        orphan = None
        for _ in range(200):
            wait_for(lambda: held_by(first) is not None, timeout=30, what="first worker holds an event")
            os.kill(first.pid, signal.SIGSTOP)
            orphan = held_by(first)
            if orphan is not None:
                break
            os.kill(first.pid, signal.SIGCONT)
        assert orphan is not None
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        wait_for(
            lambda: RegistryEvent.objects.filter(state=EventState.DONE).count() == total,
            timeout=120,
            what="every event applied",
        )
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()
    orphan.refresh_from_db()
    assert orphan.state == EventState.DONE
    assert orphan.claim.startswith(claim_prefix(second))  # taken over after the lease ran out
    assert orphan.attempts == 2
    pushes = Counter(a.data.get("event") for a in Activity.objects.filter(action="repository.push"))
    every_event = {e.event_id for e in RegistryEvent.objects.all()}
    assert set(pushes) == every_event
    assert set(pushes.values()) == {1}, [k for k, v in pushes.items() if v > 1]
    assert set(ids) <= every_event
    assert Tag.objects.filter(name__startswith="burst-").count() == len(ids)


def test_an_idle_worker_is_woken_by_the_notification_not_by_its_poll(stack: Stack) -> None:
    from portus.background.models import TaskName, TaskStatus

    # Polling every ten minutes: only the wake-up can make the tag appear within the deadline.
    worker = start_worker(stack.tmp / "worker.log", **{**QUIET, "PORTUS_BACKGROUND_POLL_INTERVAL_VALUE": "600"})
    try:
        wait_for(
            lambda: TaskStatus.objects.filter(name=TaskName.REGISTRY_EVENTS).exists(),
            what="worker idle",
        )
        image = push(stack, "acme/woken")
        wait_for(
            lambda: Tag.objects.filter(repository__name="woken", digest=image.manifest_digest).exists(),
            timeout=60,
            what="tag applied by the woken worker",
        )
        assert stop(worker) == 0
    finally:
        if worker.poll() is None:
            worker.kill()


def test_serve_runs_the_worker_when_portus_background_is_true(stack: Stack) -> None:
    from tests.support.background import ROOT, worker_env

    with open(stack.tmp / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "portus.cli", "serve", "--bind", "127.0.0.1:1"],
            cwd=ROOT,
            env=worker_env(PORTUS_BACKGROUND="true", **QUIET),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        push(stack, "acme/served")
        wait_for(
            lambda: Tag.objects.filter(repository__name="served").exists(),
            timeout=60,
            what="worker",
        )
        assert stop(process) == 0
        assert "background worker" in (stack.tmp / "serve.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
