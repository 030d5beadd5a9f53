"""podman, a second real client beside skopeo, against a real docker-registry wired to Portus: login,
build, push, pull and logout, with Portus's tokens deciding each step.

podman runs rootful with its own storage in the test's directory (``--root``, ``--runroot``, the vfs
driver) and its own credentials file, so it touches nothing of the machine's; the registry speaks plain
HTTP, hence ``--tls-verify=false`` as the token page tells users.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from portus.accounts.actions import create_token
from tests.conftest import PASSWORD, require
from tests.e2e import Stack, stack  # noqa: F401  (fixture)
from tests.support.images import make_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e

Podman = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    binary = shutil.which("podman")
    require(binary is not None, "podman is not installed (apt-get install podman)")
    home = tmp_path / "podman"
    (home / "runtime").mkdir(parents=True)
    env = {
        **os.environ,
        "REGISTRY_AUTH_FILE": str(home / "auth.json"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    # podman refuses a run root longer than 50 characters: a short one of its own under /tmp.
    runroot = tempfile.mkdtemp(prefix="podman-run-")
    storage = ["--root", str(home / "root"), "--runroot", runroot, "--storage-driver", "vfs"]

    def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run podman; the caller checks returncode (a refused push is an expected failure)."""
        return subprocess.run(
            [str(binary), *storage, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env
        )

    try:
        yield run
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def build(podman: Podman, context: Path, reference: str, text: str) -> None:
    """A one-file image built from scratch by podman itself (no base image, no internet)."""
    context.mkdir(parents=True)
    (context / "hello.txt").write_text(text)
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    built = podman("build", "--isolation", "chroot", "-t", reference, str(context))
    assert built.returncode == 0, built.stderr


def test_podman_logs_in_builds_pushes_pulls_and_logs_out(stack: Stack, podman: Podman) -> None:
    host = stack.registry.hostname
    reference = f"{host}/acme/built:v1"
    login = podman_login(podman, host, "contributor", PASSWORD)
    assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
    build(podman, stack.tmp / "context", reference, "built by podman\n")
    pushed = podman("push", "--tls-verify=false", reference)
    assert pushed.returncode == 0, pushed.stderr
    # The registry holds it: skopeo, the other client, reads it with the same rights.
    seen = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"viewer:{PASSWORD}", f"docker://{reference}")
    assert seen.returncode == 0, seen.stderr
    assert podman("rmi", reference).returncode == 0
    pulled = podman("pull", "--tls-verify=false", reference)
    assert pulled.returncode == 0, pulled.stderr
    assert podman("image", "exists", reference).returncode == 0
    logout = podman("logout", host)
    assert logout.returncode == 0, logout.stderr
    assert podman("rmi", reference).returncode == 0
    anonymous = podman("pull", "--tls-verify=false", reference)  # acme is private
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "denied" in anonymous.stderr.lower(), anonymous.stderr


def test_podman_pulls_what_skopeo_pushed_and_a_viewer_cannot_push(stack: Stack, podman: Podman) -> None:
    host = stack.registry.hostname
    image = make_image(stack.tmp / "img", tag="v1", files={"app.txt": b"pushed by skopeo\n"})
    pushed = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"owner:{PASSWORD}",
        image.reference,
        f"docker://{host}/acme/app:v1",
    )
    assert pushed.returncode == 0, pushed.stderr
    assert podman_login(podman, host, "viewer", PASSWORD).returncode == 0
    pulled = podman("pull", "--tls-verify=false", f"{host}/acme/app:v1")
    assert pulled.returncode == 0, pulled.stderr
    assert podman("tag", f"{host}/acme/app:v1", f"{host}/acme/copy:v1").returncode == 0
    refused = podman("push", "--tls-verify=false", f"{host}/acme/copy:v1")
    assert refused.returncode != 0  # a viewer may pull from the team's namespace, not push to it
    assert "unauthorized" in refused.stderr.lower() or "denied" in refused.stderr.lower(), refused.stderr


def test_podman_signs_in_with_an_application_token(stack: Stack, podman: Podman) -> None:
    host = stack.registry.hostname
    _, plain = create_token(user=stack.world.contributor, name="podman", actor=stack.world.contributor)
    assert podman_login(podman, host, "contributor", "not-the-token").returncode != 0
    login = podman_login(podman, host, "contributor", plain)
    assert login.returncode == 0, login.stderr
    build(podman, stack.tmp / "context", f"{host}/contributor-tools:v1", "x\n")
    # The global namespace (a name without a namespace): only administrators push there.
    refused = podman("push", "--tls-verify=false", f"{host}/contributor-tools:v1")
    assert refused.returncode != 0
    assert podman("tag", f"{host}/contributor-tools:v1", f"{host}/contributor/tools:v1").returncode == 0
    pushed = podman("push", "--tls-verify=false", f"{host}/contributor/tools:v1")
    assert pushed.returncode == 0, pushed.stderr


def podman_login(podman: Podman, host: str, user: str, secret: str) -> subprocess.CompletedProcess[str]:
    return podman("login", "--tls-verify=false", "-u", user, "--password-stdin", host, stdin=secret)
