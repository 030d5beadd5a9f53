"""The container image: the Dockerfile's shape, and (with PORTUS_TEST_IMAGE_BUILD=1, as root, where podman, runc and
debootstrap run) the image built from it by podman, run with `podman run` as the web server and as the worker, with
a real registry on the host and skopeo pushing through it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# The image is built with `podman build` and run with `podman run`, both as root with podman's vfs storage in a
# directory of the test's own (never the machine's /var/lib/containers). What this machine needs beyond a Docker
# run, and why (docs/deployment.md, "How the image is tested"):
#   --runtime runc   crun refuses this machine's hybrid cgroup v1/v2 layout ("cgroups in hybrid mode not
#                    supported"); runc runs containers on it.
#   --ulimit ...     podman asks the runtime to set the open-file and process limits to values above the ones its
#                    runtime process has, and the machine withholds CAP_SYS_RESOURCE: lower, explicit limits.
#   --network host   the registry runs on the host's loopback; Portus reaches it and it reaches Portus there,
#                    without a bridge, NAT rules or published ports left on a shared machine.

RUN_FLAGS = (
    "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--network", "host",
    "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
)  # fmt: skip
CACHE_INPUTS = ("Dockerfile", ".dockerignore", "requirements.lock", "pyproject.toml")
CONTEXT_FILES = ("pyproject.toml", "requirements.lock", "README.md", "config/config.yml")


def image_cache() -> Path:
    """Where the Debian base and podman's storage stay between runs (a cold build takes minutes); outside the
    checkout, so that a test run leaves the tree alone."""
    return Path(os.environ.get("PORTUS_IMAGE_CACHE", "/var/tmp/portus-image-cache"))


def inputs_digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@dataclass
class Podman:
    storage: list[str]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *self.storage, *args], capture_output=True, text=True, timeout=timeout)


def podman_storage(cache: Path) -> Podman:
    """Podman's storage for this Dockerfile, its pins and its base (a change to them starts a fresh one; a storage
    unused for a day is removed), holding the Debian base, made or imported here, and the last image built."""
    base_script = ROOT / "deploy" / "image" / "debian-base"
    key = inputs_digest(*(ROOT / name for name in CACHE_INPUTS), *sorted((ROOT / "deploy" / "image").iterdir()))
    home = cache / key
    for stale in cache.glob("[0-9a-f]" * 12):
        used = stale / "used"
        if stale != home and (not used.exists() or time.time() - used.stat().st_mtime > 86400):
            shutil.rmtree(stale, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    (home / "used").touch()
    podman = Podman(
        ["--root", str(home / "root"), "--runroot", str(home / "run"), "--tmpdir", str(home / "tmp")]
        + ["--storage-driver", "vfs", "--events-backend", "file"]
    )
    base = subprocess.run(
        [str(base_script), str(cache / f"base-{inputs_digest(base_script)}"), *podman.storage],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert base.returncode == 0, base.stderr
    return podman


def context_files() -> list[Path]:
    """What the build reads: the Dockerfile, and the files its .dockerignore lets into the context."""
    files = [DOCKERFILE, ROOT / ".dockerignore", *(ROOT / name for name in CONTEXT_FILES)]
    for path in (ROOT / "portus").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append(path)
    return files


def build_image(podman: Podman) -> None:
    """Build IMAGE, unless this storage holds one built from the same context (tagged with its digest).

    Without podman's layer cache (--layers=false): podman 4.3 (buildah 1.28) on vfs copies the whole tree for
    every step it takes from that cache, and deletes the copies at the end, which made a build where every step
    was cached take longer (about 6 minutes here) than building both stages afresh, each in one working
    container committed once."""
    tag = f"{IMAGE.split(':')[0]}:context-{inputs_digest(*context_files())}"
    if podman("image", "exists", tag).returncode == 0:
        assert podman("tag", tag, IMAGE).returncode == 0
        return
    before = podman(
        "images", "--noheading", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=*:context-*"
    )
    build = ["build", "--isolation", "chroot", "--pull=never", "--layers=false", "--format", "docker"]
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():  # this machine's CA bundle, for a TLS-inspecting proxy between the build and PyPI
        build += ["--secret", f"id=ca-bundle,src={bundle}"]
    built = podman(*build, "-t", IMAGE, "-t", tag, "-f", str(DOCKERFILE), str(ROOT), timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    # Only the context tags of the images built before, each by its own name: IMAGE has moved to the new build, and
    # `podman untag NAME` alone would strip every name of the image NAME points at.
    for old in before.stdout.split():
        if ":context-" in old and not old.endswith(tag.split(":", 1)[1]):
            podman("untag", old, old)
    podman("image", "prune", "--force", timeout=600)  # the images built before: a vfs layer is a whole tree


@pytest.fixture(scope="module")
def built_image() -> Iterator[Podman]:
    for program in ("podman", "runc", "debootstrap"):
        require(shutil.which(program) is not None, f"{program} is not installed (apt-get install {program})")
    require(os.geteuid() == 0, "building and running the image with podman and vfs storage needs root here")
    podman = podman_storage(image_cache())
    build_image(podman)
    yield podman


@dataclass
class Containers:
    """Containers of the built image, all sharing DATA at /var/lib/portus/data and ENV; removed at the end."""

    podman: Podman
    data: Path
    env: list[str]
    names: list[str]

    def start(self, role: str, *args: str, env: tuple[str, ...] = ()) -> str:
        name = f"portus-test-{role}-{secrets.token_hex(3)}"
        self.names.append(name)
        flags = ["-d", "--name", name, *RUN_FLAGS, "-v", f"{self.data}:/var/lib/portus/data"]
        for pair in (*self.env, *env):
            flags += ["-e", pair]
        started = self.podman("run", *flags, IMAGE, *args)
        assert started.returncode == 0, started.stderr
        return name

    def exec(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`docker exec NAME portusctl ...`: a command in the running container, as its user."""
        return self.podman("exec", name, "portusctl", *args)

    def running(self, name: str) -> bool:
        state = self.podman("inspect", "--format", "{{.State.Running}}", name)
        return state.stdout.strip() == "true"

    def logs(self, name: str) -> str:
        logs = self.podman("logs", name)
        return f"--- {name}:\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}"


@pytest.fixture
def containers(built_image: Podman, tmp_path: Path) -> Iterator[Containers]:
    # The volume: the token signing key (owned by the image's user, 0600, as production demands) and the SQLite
    # database the web server and the worker share.
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = data / "token.key"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    for path in (data, key_path):
        os.chown(path, 1000, 1000)
    env = [
        "PORTUS_KEY_PATH=/var/lib/portus/data/token.key",
        "PORTUS_DB_DATABASE=/var/lib/portus/data/portus.sqlite3",
        f"PORTUS_SECRET_KEY_BASE={secrets.token_urlsafe(64)}",
        "PORTUS_MACHINE_FQDN_VALUE=portus.test",
        "PORTUS_CHECK_SSL_USAGE_ENABLED=false",
    ]
    started = Containers(built_image, data, env, [])
    try:
        yield started
    finally:
        if started.names:  # together: podman stops and removes them in parallel (a vfs container is a whole tree)
            built_image("stop", "--time", "10", *started.names, timeout=120)
            built_image("rm", "--force", *started.names, timeout=600)


def wait_until_answering(url: str, containers: Containers, name: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=15).status_code == 200:
                return
        except requests.RequestException:  # not listening yet (migrating, warming up)
            pass
        assert containers.running(name), containers.logs(name)
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer:\n{containers.logs(name)}")


def api(url: str, token: str) -> list[dict[str, Any]]:
    answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()
    return result


@pytest.mark.e2e
@pytest.mark.image_build
def test_the_built_image_serves_tokens_and_its_worker_records_a_push(containers: Containers, tmp_path: Path) -> None:
    """`podman run` of the built image as the web server (`serve --migrate`) and as the worker
    (PORTUS_BACKGROUND=true), a real registry on the host configured by `portusctl registry config` run in the web
    container, skopeo pushing with tokens the containerized Portus signs; the tag shows in Portus's API."""
    port, registry_host = free_port(), f"127.0.0.1:{free_port()}"
    portus_url = f"http://127.0.0.1:{port}"
    web = containers.start("web", "serve", "--migrate", "--workers", "1", env=(f"PORTUS_BIND=127.0.0.1:{port}",))
    wait_until_answering(f"{portus_url}/health/ready", containers, web)

    for command in (
        ("user", "create", "alice", "--password", "correct-horse-battery", "--admin"),
        ("registry", "add", "--name", "local", "--hostname", registry_host),
    ):
        done = containers.exec(web, *command)
        assert done.returncode == 0, done.stderr
    token = containers.exec(web, "token", "create", "alice", "--name", "image-test")
    assert token.returncode == 0, token.stderr
    api_token = token.stdout.split()[-1]
    config = containers.exec(
        web, "registry", "config", "--portus-url", portus_url, "--storage", str(tmp_path / "blobs")
    )
    assert config.returncode == 0, config.stderr
    # The registry runs on the host: it reads the token certificate Portus wrote into the volume from there.
    assert "rootcertbundle: /var/lib/portus/data/token.crt" in config.stdout
    config_text = config.stdout.replace("/var/lib/portus/data/", f"{containers.data}/")

    worker = containers.start("worker", env=("PORTUS_BACKGROUND=true",))  # the image's default command: serve
    with running_registry(config_text, registry_host, tmp_path / "registry") as registry:
        image = make_image(tmp_path / "layout", "v1")
        pushed = skopeo(
            "copy", "--dest-tls-verify=false", "--dest-creds", "alice:correct-horse-battery",
            image.reference, f"docker://{registry_host}/alice/hello:v1",
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr + registry.log()[-3000:]
        deadline = time.monotonic() + 60
        tags: list[str] = []
        while time.monotonic() < deadline and tags != ["v1"]:
            repositories = api(f"{portus_url}/api/v1/repositories", api_token)
            found = [r for r in repositories if r["full_name"] == "alice/hello"]
            if found:
                tags = [t["name"] for t in api(f"{portus_url}/api/v1/repositories/{found[0]['id']}/tags", api_token)]
            time.sleep(0.5)
        assert tags == ["v1"], containers.logs(worker) + containers.logs(web)
    assert containers.running(worker), containers.logs(worker)
    assert containers.running(web), containers.logs(web)
