"""The container image: the Dockerfile's shape, and (where buildah, podman and debootstrap run) the image built
from it, run as the web server and as the worker, with a real registry and skopeo pushing through it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import require
from tests.support.images import make_image
from tests.support.registry import free_port, running_registry, skopeo

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|python3-dev|[\w.-]+-dev)\b")
IMAGE = "localhost/portus:test"


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuation lines joined), one list per build stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction.upper(), argument.strip()))
    return result


def test_the_dockerfile_builds_in_two_stages_on_debian_12() -> None:
    built = stages()
    assert len(built) == 2
    assert re.search(r"^ARG BASE_IMAGE=\S*debian:bookworm-slim$", DOCKERFILE.read_text().split("\nFROM", 1)[0], re.M)
    assert built[0][0] == ("FROM", "${BASE_IMAGE} AS build")
    assert built[1][0] == ("FROM", "${BASE_IMAGE}")


def test_the_final_stage_has_no_compiler_and_copies_only_the_built_environment() -> None:
    final = stages()[1]
    for instruction, argument in final:
        if instruction == "RUN":
            assert not COMPILERS.search(argument), f"the final stage installs a compiler or headers: {argument}"
        if instruction == "COPY":
            assert argument.startswith("--from=build"), f"the final stage copies from outside the build: {argument}"
    assert any(i == "RUN" and COMPILERS.search(a) for i, a in stages()[0]), "the build stage compiles"


def test_the_image_runs_portusctl_as_an_unprivileged_user() -> None:
    final = dict(stages()[1])
    assert final["USER"] not in {"root", "0", "0:0"}
    assert final["USER"].split(":")[0] == "1000"
    entrypoint = json.loads(final["ENTRYPOINT"])
    assert entrypoint[-1] == "/opt/portus/bin/portusctl"
    assert json.loads(final["CMD"]) == ["serve"]
    assert "PORTUS_BIND=0.0.0.0:3000" in final["ENV"]


def test_the_build_context_leaves_out_local_data_and_keys() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything is left out unless named
    named = [line[1:] for line in ignored if line.startswith("!")]
    assert set(named) == {"pyproject.toml", "requirements.lock", "README.md", "portus/", "config/config.yml"}


# -- building and running it ------------------------------------------------------------------------------------


@dataclass
class Podman:
    storage: list[str]

    def __call__(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([program, *self.storage, *args], capture_output=True, text=True, timeout=timeout)


def image_cache() -> Path:
    """Where the base image and the layer cache stay between runs (a first build takes minutes)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "portus-image-test"
    return Path(os.environ.get("PORTUS_IMAGE_CACHE", default))


@pytest.fixture(scope="module")
def built_image() -> Iterator[Podman]:
    for program in ("podman", "buildah", "debootstrap"):
        require(shutil.which(program) is not None, f"{program} is not installed (apt-get install {program})")
    require(os.geteuid() == 0, "building the image with podman and vfs storage needs root here")
    cache = image_cache()
    podman = Podman(["--root", str(cache / "root"), "--runroot", str(cache / "run"), "--storage-driver", "vfs"])
    base = subprocess.run(
        [str(ROOT / "deploy" / "image" / "debian-base"), str(cache / "base"), *podman.storage],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert base.returncode == 0, base.stderr
    build = [
        "build",
        "--isolation",
        "chroot",
        "--pull=never",
        "--format",
        "docker",
        "-t",
        IMAGE,
        "-f",
        str(DOCKERFILE),
    ]
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():  # this machine's CA bundle, for a TLS-inspecting proxy between the build and PyPI
        build += ["--secret", f"id=ca-bundle,src={bundle}"]
    built = podman("podman", *build, str(ROOT), timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield podman


@dataclass
class Container:
    podman: Podman
    name: str
    root: Path  # the container's file system, mounted on the host
    env: list[str]

    def command(self, *args: str) -> list[str]:
        # buildah runs the image without an OCI runtime (chroot isolation): this machine's cgroups refuse crun.
        flags = ["run", "--isolation", "chroot", "--network", "host"]
        for pair in self.env:
            flags += ["-e", pair]
        entrypoint = ["/usr/bin/tini", "-s", "--", "/opt/portus/bin/portusctl"]
        return ["buildah", *self.podman.storage, *flags, self.name, "--", *entrypoint, *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout)

    def start(self, log: Path, *args: str, env: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        command = self.command(*args)
        index = command.index(self.name)
        for pair in env:
            command[index:index] = ["-e", pair]
        with open(log, "wb") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def container(built_image: Podman, tmp_path: Path) -> Iterator[Container]:
    name = f"portus-test-{secrets.token_hex(4)}"
    created = built_image("buildah", "from", "--pull-never", "--name", name, IMAGE)
    assert created.returncode == 0, created.stderr
    mounted = built_image("buildah", "mount", name)
    root = Path(mounted.stdout.strip())
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = root / "var/lib/portus/token.key"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chown(key_path, 1000, 1000)
    key_path.chmod(0o600)
    env = [
        "TINI_SUBREAPER=1",
        "PORTUS_KEY_PATH=/var/lib/portus/token.key",
        f"PORTUS_SECRET_KEY_BASE={secrets.token_urlsafe(64)}",
        "PORTUS_MACHINE_FQDN_VALUE=portus.test",
        "PORTUS_CHECK_SSL_USAGE_ENABLED=false",
    ]
    try:
        yield Container(built_image, name, root, env)
    finally:
        built_image("buildah", "umount", name)
        built_image("buildah", "rm", name)


def processes_inside(root: Path) -> list[int]:
    """The processes whose root directory is the container's: buildah's chroot puts them in a session of their
    own, so signalling buildah does not reach them."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == str(root):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def stop_container(root: Path, *processes: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_inside(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while processes_inside(root) and time.monotonic() < deadline:
            time.sleep(0.1)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if requests.get(url, timeout=15).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or its first request still loading the app
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text(errors='replace')}")


@pytest.mark.e2e
@pytest.mark.image_build
def test_the_built_image_serves_tokens_and_its_worker_records_a_push(container: Container, tmp_path: Path) -> None:
    assert container.run("migrate", "-v", "0").returncode == 0
    created = container.run("user", "create", "alice", "--password", "correct-horse-battery", "--admin")
    assert created.returncode == 0, created.stderr
    registry_host = f"127.0.0.1:{free_port()}"
    port = free_port()
    portus_url = f"http://127.0.0.1:{port}"
    added = container.run("registry", "add", "--name", "local", "--hostname", registry_host)
    assert added.returncode == 0, added.stderr
    config = container.run(
        "registry",
        "config",
        "--portus-url",
        portus_url,
        "--storage",
        str(tmp_path / "storage"),
        "-o",
        "/var/lib/portus/registry.yml",
    )
    assert config.returncode == 0, config.stderr
    # The registry runs on the host: the certificate path in its config is inside the container's file system.
    config_text = (container.root / "var/lib/portus/registry.yml").read_text()
    config_text = config_text.replace(
        "rootcertbundle: /var/lib/portus/", f"rootcertbundle: {container.root}/var/lib/portus/"
    )

    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    web = container.start(web_log, "serve", "--workers", "1", env=(f"PORTUS_BIND=127.0.0.1:{port}",))
    worker = container.start(worker_log, "serve", env=("PORTUS_BACKGROUND=true",))
    try:
        wait_until_answering(f"{portus_url}/api/v1/_ping", web, web_log)
        token = requests.get(
            f"{portus_url}/v2/token",
            params={"service": registry_host, "scope": "repository:alice/hello:pull,push", "account": "alice"},
            auth=("alice", "correct-horse-battery"),
            timeout=10,
        )
        assert token.status_code == 200 and token.json()["token"]
        with running_registry(config_text, registry_host, tmp_path / "registry"):
            image = make_image(tmp_path / "layout", "v1")
            pushed = skopeo(
                "copy", "--dest-tls-verify=false", "--dest-creds", "alice:correct-horse-battery",
                image.reference, f"docker://{registry_host}/alice/hello:v1",
            )  # fmt: skip
            assert pushed.returncode == 0, pushed.stderr
            database = container.root / "var/lib/portus/portus.sqlite3"
            deadline = time.monotonic() + 30
            tags: list[tuple[str, str]] = []
            while time.monotonic() < deadline and not tags:
                with sqlite3.connect(database) as db:
                    tags = db.execute(
                        "SELECT r.name, t.name FROM registry_tag t JOIN registry_repository r ON r.id = t.repository_id"
                    ).fetchall()
                time.sleep(0.2)
            assert tags == [("hello", "v1")], worker_log.read_text(errors="replace")
        assert worker.poll() is None, worker_log.read_text(errors="replace")
    finally:
        stop_container(container.root, web, worker)
