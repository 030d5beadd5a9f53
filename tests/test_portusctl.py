"""portusctl's admin commands, their one-line refusals, `registry config`, and `up` end to end."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cryptography import x509
from django.conf import settings

from portus.accounts.credentials import verify
from portus.accounts.models import ApplicationToken, User
from portus.cli import main as portusctl
from portus.registry.models import Activity, Namespace, Registry, Team, TeamMembership
from portus.registry.signing import signing_key
from tests.conftest import PASSWORD, World, require
from tests.support.images import make_image
from tests.support.registry import free_port, registry_binary, skopeo

REPO = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = portusctl(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must fail: exit 1 and one readable line on stderr, which is returned."""
    status, out, err = run(capsys, *argv)
    assert status == 1, (out, err)
    assert err.startswith("portusctl: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# -- admin commands --------------------------------------------------------------------------------


def test_user_create_makes_a_user_with_a_personal_namespace(world: World, capsys) -> None:
    status, out, _ = run(capsys, "user", "create", "dora", "--email", "dora@example.com", "--password", PASSWORD)
    assert status == 0 and "created user dora" in out
    dora = User.objects.get(username="dora")
    assert (dora.email, dora.admin, dora.bot) == ("dora@example.com", False, False)
    assert verify("dora", PASSWORD).user == dora
    assert Namespace.objects.filter(owner=dora, name="dora", kind="personal").exists()
    assert Activity.objects.filter(action="user.create", target="dora").exists()


def test_user_create_admin_and_bot(world: World, capsys) -> None:
    assert run(capsys, "user", "create", "boss", "--password", PASSWORD, "--admin")[0] == 0
    assert User.objects.get(username="boss").admin
    status, out, _ = run(capsys, "user", "create", "builder", "--bot")
    assert status == 0 and "(bot)" in out
    bot = User.objects.get(username="builder")
    assert bot.bot and not bot.has_usable_password() and not bot.admin


def test_the_first_user_created_becomes_admin(db: None, capsys) -> None:
    assert run(capsys, "user", "create", "first", "--password", PASSWORD)[0] == 0
    assert run(capsys, "user", "create", "second", "--password", PASSWORD)[0] == 0
    assert User.objects.get(username="first").admin
    assert not User.objects.get(username="second").admin


def test_user_create_reads_the_password_from_stdin(world: World, capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("from-standard-input\n"))
    assert run(capsys, "user", "create", "erin", "--password-stdin")[0] == 0
    assert verify("erin", "from-standard-input").user is not None


def test_token_create_prints_the_token_once_and_stores_its_digest(world: World, capsys) -> None:
    status, out, err = run(capsys, "token", "create", "contributor", "--name", "ci")
    assert status == 0
    plain = out.strip()
    assert plain.startswith("prt_") and len(plain) > 40
    assert "shown once" in err
    token = ApplicationToken.objects.get(user=world.contributor, name="ci")
    assert plain not in repr(ApplicationToken.objects.filter(pk=token.pk).values().get())
    assert verify("contributor", plain).user == world.contributor


def test_token_create_with_an_expiry(world: World, capsys) -> None:
    assert run(capsys, "token", "create", "viewer", "--name", "week", "--expires-in-days", "7")[0] == 0
    token = ApplicationToken.objects.get(user=world.viewer, name="week")
    assert token.expires_at is not None and 6 <= (token.expires_at - token.created_at).days <= 7


def test_token_revoke_stops_the_token(world: World, capsys) -> None:
    plain = run(capsys, "token", "create", "contributor", "--name", "ci")[1].strip()
    status, out, _ = run(capsys, "token", "revoke", "contributor", "--name", "ci")
    assert status == 0 and "revoked contributor/ci" in out
    assert verify("contributor", plain).user is None
    assert "has no token called 'nope'" in refused(capsys, "token", "revoke", "contributor", "--name", "nope")


def test_team_create_and_add_member(world: World, capsys) -> None:
    status, out, _ = run(capsys, "team", "create", "ops", "--owner", "outsider", "--description", "Operations")
    assert status == 0 and "created team ops" in out
    team = Team.objects.get(name="ops")
    assert team.description == "Operations"
    assert TeamMembership.objects.get(team=team, user=world.outsider).role == "owner"
    assert run(capsys, "team", "add-member", "ops", "viewer", "--role", "contributor")[0] == 0
    assert TeamMembership.objects.get(team=team, user=world.viewer).role == "contributor"


def test_namespace_create(world: World, capsys) -> None:
    status, out, _ = run(capsys, "namespace", "create", "acme-public", "--team", "acme", "--visibility", "public")
    assert status == 0 and "created namespace acme-public (public)" in out
    namespace = Namespace.objects.get(name="acme-public")
    assert (namespace.kind, namespace.team, namespace.visibility, namespace.registry) == (
        "team",
        world.team,
        "public",
        world.registry,
    )


def test_registry_add(db: None, capsys) -> None:
    status, out, _ = run(
        capsys,
        "registry",
        "add",
        "--name",
        "main",
        "--hostname",
        "registry.internal:5000",
        "--external-hostname",
        "registry.example.com",
        "--use-ssl",
    )
    assert status == 0 and "added registry main" in out
    registry = Registry.objects.get(name="main")
    assert (registry.hostname, registry.external_hostname, registry.use_ssl) == (
        "registry.internal:5000",
        "registry.example.com",
        True,
    )
    assert Namespace.objects.filter(registry=registry, kind="global", name="").exists()


def test_registry_config_prints_a_working_distribution_config(world: World, capsys, tmp_path: Path) -> None:
    status, out, _ = run(
        capsys,
        "registry",
        "config",
        "--portus-url",
        "https://portus.example.com/",
        "--storage",
        str(tmp_path / "storage"),
        "--listen",
        "0.0.0.0:5000",
    )
    assert status == 0
    config = yaml.safe_load(out)
    token = config["auth"]["token"]
    assert token["realm"] == "https://portus.example.com/v2/token"
    assert token["service"] == world.registry.hostname
    assert token["issuer"] == settings.MACHINE_FQDN
    bundle = x509.load_pem_x509_certificate(Path(token["rootcertbundle"]).read_bytes())
    assert bundle.public_key() == signing_key().private_key.public_key()
    endpoint = config["notifications"]["endpoints"][0]
    assert endpoint["url"] == "https://portus.example.com/v2/webhooks/events"
    assert endpoint["headers"]["Authorization"] == [f"Bearer {world.registry.notification_secret()}"]
    assert len(world.registry.notification_secret()) >= 32
    assert config["http"]["addr"] == "0.0.0.0:5000"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "storage")
    assert config["storage"]["delete"]["enabled"] is False  # follows delete.enabled


def test_registry_config_writes_a_file(world: World, capsys, tmp_path: Path) -> None:
    target = tmp_path / "config.yml"
    assert run(capsys, "registry", "config", "--portus-url", "http://127.0.0.1:3000", "-o", str(target))[0] == 0
    assert yaml.safe_load(target.read_text())["auth"]["token"]["realm"] == "http://127.0.0.1:3000/v2/token"


# -- refusals: one readable line, exit 1, nothing written ------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["token", "create", "ghost", "--name", "ci"], "no user called 'ghost'"),
        (["team", "create", "ghosts", "--owner", "ghost"], "no user called 'ghost'"),
        (["team", "add-member", "acme", "ghost", "--role", "viewer"], "no user called 'ghost'"),
        (["team", "add-member", "nope", "viewer", "--role", "viewer"], "no team called 'nope'"),
        (["team", "add-member", "acme", "viewer", "--role", "viewer"], "already a member of acme"),
        (["team", "create", "acme", "--owner", "owner"], "team called 'acme' already exists"),
        (["team", "create", "Bad Name", "--owner", "owner"], "not a valid team name"),
        (["namespace", "create", "Not_Valid!", "--team", "acme"], "not a valid namespace name"),
        (
            ["namespace", "create", "acme", "--team", "acme"],
            "namespace called 'acme' already exists",
        ),
        (
            ["namespace", "create", "owner", "--team", "acme"],
            "namespace called 'owner' already exists",
        ),
        (["namespace", "create", "x", "--team", "nope"], "no team called 'nope'"),
        (
            ["namespace", "create", "x", "--team", "acme", "--registry", "nope"],
            "no registry called 'nope'",
        ),
        (["user", "create", "owner", "--password", PASSWORD], "already exists"),
        (["user", "create", "Bad.Name", "--password", PASSWORD], "lower-case"),
        (["user", "create", "portus", "--password", PASSWORD], "reserved"),
        (["user", "create", "nopass"], "give a password"),
        (["token", "create", "viewer", "--name", "  "], "Give the token a name"),
        (["registry", "add", "--name", "test", "--hostname", "other:5000"], "already"),
        (["registry", "add", "--name", "other", "--hostname", "registry.test"], "already"),
        (["registry", "config", "--registry", "nope"], "no registry called 'nope'"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(world: World, capsys, argv: list[str], message: str) -> None:
    counts = [
        model.objects.count() for model in (User, Team, TeamMembership, Namespace, Registry, Activity, ApplicationToken)
    ]
    assert message in refused(capsys, *argv)
    assert counts == [
        model.objects.count() for model in (User, Team, TeamMembership, Namespace, Registry, Activity, ApplicationToken)
    ]


def test_token_create_refuses_a_duplicate_name(world: World, capsys) -> None:
    assert run(capsys, "token", "create", "viewer", "--name", "ci")[0] == 0
    assert "already has a token called 'ci'" in refused(capsys, "token", "create", "viewer", "--name", "ci")


def test_registry_config_without_a_registry_says_how_to_add_one(db: None, capsys) -> None:
    assert "portusctl registry add" in refused(capsys, "registry", "config")


def test_a_usage_error_exits_2_with_argparse_usage(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        portusctl(["team", "add-member", "acme", "viewer", "--role", "boss"])
    assert exited.value.code == 2
    assert "invalid choice: 'boss'" in capsys.readouterr().err


# -- portusctl up ----------------------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every process below PID, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Output:
    """Lines a child process prints, read on a thread so the child never blocks on a full pipe."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: str, deadline: float) -> re.Match[str]:
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")


@pytest.mark.e2e
def test_portusctl_up_runs_portus_and_a_registry_that_take_a_push_then_stops_cleanly(
    tmp_path: Path,
) -> None:
    registry_binary()
    require(Path("/usr/bin/skopeo").exists(), "skopeo is not installed (apt-get install skopeo)")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update({"PORTUS_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "portus.cli", "up", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process.stdout)
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        output.wait_for(rf"Portus is running at http://127\.0\.0\.1:{port}", deadline)
        password = output.wait_for(r"administrator: admin / (\S+)", deadline).group(1)
        registry_host = output.wait_for(r"registry:\s+(127\.0\.0\.1:\d+)", deadline).group(1)
        push_hint = output.wait_for(r"  (skopeo copy .*)", deadline).group(1)
        assert "docker.io" not in push_hint  # a local image: no internet needed
        api_hint = output.wait_for(
            r"export (PORTUSCTL_API_SERVER=\S+ PORTUSCTL_API_USER=admin PORTUSCTL_API_TOKEN=)", deadline
        )
        assert api_hint.group(1).startswith(f"PORTUSCTL_API_SERVER=http://127.0.0.1:{port} ")
        output.wait_for(r"Stop with Ctrl\+C", deadline)
        children = descendants(process.pid)
        assert len(children) >= 2  # the web server (and its workers) and docker-registry

        while True:  # the registry may still be opening its port
            try:
                if requests.get(f"http://{registry_host}/v2/", timeout=1).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the registry started by `up` never answered"
            time.sleep(0.1)

        # The printed command, as printed, with the password in place of its placeholder.
        printed = push_hint.replace("admin:PASSWORD", f"admin:{password}").split()
        assert printed[:2] == ["skopeo", "copy"]
        as_printed = subprocess.run(printed, capture_output=True, text=True, timeout=60)
        assert as_printed.returncode == 0, as_printed.stderr
        image = make_image(tmp_path / "image", tag="v1")
        pushed = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"admin:{password}",
            image.reference,
            f"docker://{registry_host}/admin/first-image:v1",
        )
        assert pushed.returncode == 0, pushed.stderr + "".join(output.seen)
        pulled = skopeo(
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            f"admin:{password}",
            f"docker://{registry_host}/admin/first-image:v1",
        )
        assert pulled.returncode == 0, pulled.stderr
        wrong = skopeo(
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "admin:wrong-password",
            f"docker://{registry_host}/admin/first-image:v1",
        )
        assert wrong.returncode != 0

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, "".join(output.seen)
        still_running = [pid for pid in children if alive(pid)]
        assert still_running == [], f"left behind: {still_running}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
def test_portusctl_up_stopped_while_starting_leaves_no_child_behind(tmp_path: Path) -> None:
    registry_binary()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update({"PORTUS_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "portus.cli", "up", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process.stdout)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        # Stop it as soon as its first child exists, before it prints that it is running.
        while not seen and time.monotonic() < deadline and process.poll() is None:
            seen = descendants(process.pid)
            time.sleep(0.01)
        assert seen, "".join(output.seen)
        process.send_signal(signal.SIGTERM)
        stop_deadline = time.monotonic() + 30
        while process.poll() is None:  # keep noting children: some may still have been starting
            seen |= descendants(process.pid)
            assert time.monotonic() < stop_deadline, "`up` did not stop within 30 s of SIGTERM"
            time.sleep(0.05)
        assert process.returncode == 0, "".join(output.seen)
        assert [pid for pid in seen if alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_portusctl_up_refuses_a_bad_bind(capsys) -> None:
    assert "use HOST:PORT" in refused(capsys, "up", "--bind", "3000")


@pytest.mark.e2e
def test_portusctl_up_keeps_its_data_private_and_the_notification_secret_out_of_the_registry_log(
    tmp_path: Path,
) -> None:
    registry_binary()
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "portus.sqlite3").touch(mode=0o644)  # as an older version left it: tightened by `up`
    (data / "portus.sqlite3").chmod(0o644)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update({"PORTUS_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "portus.cli", "up", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process.stdout)
    try:
        deadline = time.monotonic() + 90
        password = output.wait_for(r"administrator: admin / (\S+)", deadline).group(1)
        shown_file = output.wait_for(r"also in (\S+)", deadline).group(1)
        output.wait_for(r"Stop with Ctrl\+C", deadline)
        assert Path(shown_file) == data / "admin-password"
        assert (data / "admin-password").read_text().strip() == password

        config = yaml.safe_load((data / "registry" / "config.yml").read_text())
        secret = config["notifications"]["endpoints"][0]["headers"]["Authorization"][0].removeprefix("Bearer ")
        log = data / "registry" / "registry.log"
        while b"[redacted]" not in log.read_bytes():  # the registry logs its endpoints once it has read its config
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert secret.encode() not in log.read_bytes()

        assert data.stat().st_mode & 0o777 == 0o700
        loose = [
            f"{path.relative_to(data)} {path.stat().st_mode & 0o777:o}"
            for path in data.rglob("*")
            if not path.is_symlink() and path.stat().st_mode & 0o777 not in (0o700 if path.is_dir() else 0o600,)
        ]
        assert loose == [], loose
        assert {"portus.sqlite3", "portus.key", "secret_key", "admin-password", "registry"} <= {
            p.name for p in data.iterdir()
        }
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, "".join(output.seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
