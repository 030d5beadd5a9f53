"""Scale-out on PostgreSQL: two web processes behind a real nginx, two workers, a real registry; one web process
and one worker are killed with SIGKILL while skopeo pushes and token requests run in parallel. Every push
ends as exactly one tag with one activity row, every token request gets a correct answer, and no 5xx reaches
a client."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from portus.cli import main as portusctl
from portus.registry.models import Activity, RegistryEvent, Tag
from tests.conftest import PASSWORD, make_world, require
from tests.support.background import start_worker, wait_for, worker_env
from tests.support.images import make_image
from tests.support.registry import free_port, running_registry, skopeo
from tests.support.scale_out import kill_group, nginx_binary, start_nginx, start_web, stop, wait_for_ping

pytestmark = [pytest.mark.postgresql, pytest.mark.e2e]

PUSHES = 12
KILL_AFTER = 4  # pushes finished before one web process and one worker are killed
TOKEN_THREADS = 3


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_pushes_and_tokens_survive_losing_a_web_process_and_a_worker(transactional_db: None, tmp_path: Path) -> None:
    require(nginx_binary() is not None, "nginx is not installed (apt-get install nginx-light)")
    registry_host = f"127.0.0.1:{free_port()}"
    world = make_world(registry_host=registry_host)
    web_ports = [free_port(), free_port()]
    proxy_port = free_port()
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    config_path = tmp_path / "registry.yml"
    assert (
        portusctl(
            [
                "registry",
                "config",
                "--portus-url",
                proxy_url,
                "--storage",
                str(tmp_path / "storage"),
                "-o",
                str(config_path),
            ]
        )
        == 0
    )

    env = worker_env()
    webs = [start_web(port, env, tmp_path / f"web{i}.log", tmp_path / f"web{i}") for i, port in enumerate(web_ports)]
    # A short lease: what the killed worker had claimed is retried within seconds, not a minute.
    workers = [start_worker(tmp_path / f"worker{i}.log", PORTUS_BACKGROUND_LEASE_VALUE="5") for i in range(2)]
    nginx = start_nginx(tmp_path / "nginx", proxy_port, web_ports)
    try:
        for port in web_ports:
            wait_for_ping(f"http://127.0.0.1:{port}/health/ready", webs)
        wait_for_ping(f"{proxy_url}/health/ready", [nginx])

        statuses: Counter[int] = Counter()
        wrong: list[str] = []
        stop_tokens = threading.Event()

        def ask_tokens() -> None:
            session = requests.Session()
            while not stop_tokens.is_set():
                answer = session.get(
                    f"{proxy_url}/v2/token",
                    params={
                        "service": registry_host,
                        "scope": "repository:acme/app:pull,push",
                        "account": "contributor",
                    },
                    auth=("contributor", PASSWORD),
                    timeout=30,
                )
                statuses[answer.status_code] += 1
                if answer.status_code != 200:
                    wrong.append(f"{answer.status_code}: {answer.text[:200]}")
                    continue
                access = claims(answer.json()["token"])["access"]
                if access != [{"type": "repository", "name": "acme/app", "actions": ["pull", "push"]}]:
                    wrong.append(f"wrong grant {access}")

        finished: list[str] = []
        lock = threading.Lock()

        def push(index: int) -> str:
            image = make_image(tmp_path / f"layout{index}", "v1", files={"n.txt": f"image {index}\n".encode()})
            result = skopeo(
                "copy", "--dest-tls-verify=false", "--retry-times", "3", "--dest-creds", f"contributor:{PASSWORD}",
                image.reference, f"docker://{registry_host}/acme/app{index}:v1", timeout=120,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            with lock:
                finished.append(image.manifest_digest)
            return image.manifest_digest

        with running_registry(config_path.read_text(), registry_host, tmp_path / "registry"):
            token_threads = [threading.Thread(target=ask_tokens) for _ in range(TOKEN_THREADS)]
            for thread in token_threads:
                thread.start()
            try:
                with ThreadPoolExecutor(max_workers=3) as pool:
                    futures = [pool.submit(push, index) for index in range(PUSHES)]
                    wait_for(lambda: len(finished) >= KILL_AFTER, timeout=60, what=f"{KILL_AFTER} pushes")
                    kill_group(webs[0], signal.SIGKILL)
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait(timeout=10)
                    digests = [future.result(timeout=120) for future in futures]
            finally:
                stop_tokens.set()
                for thread in token_threads:
                    thread.join(timeout=60)

            assert webs[0].returncode == -signal.SIGKILL and workers[0].returncode == -signal.SIGKILL
            wait_for(
                lambda: Tag.objects.filter(repository__namespace=world.namespace).count() >= PUSHES,
                timeout=60,
                what="every pushed tag recorded by the surviving worker",
            )
            time.sleep(1)  # a duplicate would show up now, if a retried event were applied twice

        for index, digest in enumerate(digests):
            tags = list(Tag.objects.filter(repository__namespace=world.namespace, repository__name=f"app{index}"))
            assert [(tag.name, tag.digest) for tag in tags] == [("v1", digest)]
            assert Activity.objects.filter(action="repository.push", target=f"acme/app{index}:v1").count() == 1
        manifest_events = RegistryEvent.objects.filter(action="push").exclude(tag="")
        assert manifest_events.count() == PUSHES
        assert sum(statuses.values()) > PUSHES  # tokens were asked for all along
        assert [status for status in statuses if status >= 500] == []
        assert wrong == []
        assert webs[1].poll() is None and workers[1].poll() is None  # the survivors carried the load
    finally:
        stop(nginx)
        for process in webs + workers:
            stop(process)
