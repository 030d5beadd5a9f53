"""Running Portus: migrations, the web server, Django's own commands and ``up`` for newcomers."""

from __future__ import annotations

import argparse
import atexit
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from portus.cli.command import CommandError, is_loopback, setup_django, write_private_file
from portus.config import ConfigError, parse_bool, prepare_data_dir
from portus.metrics import METRICS_DIR_MARKER, MULTIPROCESS_VARIABLE
from portus.server.readiness import pending_migrations

ADMIN_PASSWORD_FILE = "admin-password"
# A bearer credential as Distribution prints it in its log ("headers=map[Authorization:[Bearer SECRET]]").
BEARER = re.compile(rb"(Bearer\s+)[^\s\]\"',]+")
REDACTED = b"[redacted]"

DEFAULT_BIND = "127.0.0.1:3000"
# Each setting of the server, first the name to use, then the original Portus's (puma's) name for it.
BIND_VARIABLES = ("PORTUS_BIND", "PORTUS_PUMA_HOST")
WORKERS_VARIABLES = ("PORTUS_WORKERS", "PORTUS_PUMA_WORKERS")
THREADS_VARIABLES = ("PORTUS_THREADS", "PORTUS_PUMA_MAX_THREADS")
TLS_CERT_VARIABLES = ("PORTUS_TLS_CERT", "PORTUS_PUMA_TLS_CERT")
TLS_KEY_VARIABLES = ("PORTUS_TLS_KEY", "PORTUS_PUMA_TLS_KEY")


def migrate(args: argparse.Namespace) -> int:
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=args.verbosity)
    return 0


def manage(args: argparse.Namespace) -> int:
    """Pass through to Django's manage.py commands (collectstatic, check, shell, ...)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portus.settings")
    from django.core.management import execute_from_command_line

    prepare_data_dir()

    execute_from_command_line(["portusctl manage", *args.arguments])
    return 0


@dataclass(frozen=True)
class ServerOptions:
    """How gunicorn runs: where it listens, how many workers and threads, TLS."""

    bind: str
    workers: int
    threads: int
    tls: tuple[str, str] | None = None  # (certificate, key) PEM files; None: plain HTTP


def gunicorn_command(options: ServerOptions) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "portus.wsgi:application",
        "--config",
        "python:portus.server.gunicorn_config",
        "--bind",
        options.bind,
        "--workers",
        str(options.workers),
        "--threads",
        str(options.threads),
        # gunicorn's control socket sits in ~/.gunicorn/ by default, shared by every server of the user.
        "--no-control-socket",
        "--forwarded-allow-ips",
        os.environ.get("PORTUS_FORWARDED_ALLOW_IPS", "127.0.0.1"),
    ]
    if options.tls is not None:
        command += ["--certfile", options.tls[0], "--keyfile", options.tls[1]]
    return command


# Two threads per worker (gunicorn's gthread): keep-alive and fewer processes cut the server CPU of a
# token request by a fifth to a third against sync workers (docs/performance.md).
SERVE_THREADS = 2


def default_workers() -> int:
    return max(2, (os.cpu_count() or 1) * 2)


def first_variable(*names: str) -> tuple[str, str] | None:
    """(name, value) of the first of NAMES that is set and not empty."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def count_from_environment(names: tuple[str, ...], default: int) -> int:
    found = first_variable(*names)
    if found is None:
        return default
    name, value = found
    if not value.isdigit() or int(value) < 1:
        raise CommandError(f"{name}={value!r}: use a whole number of at least 1.")
    return int(value)


def tls_files(args: argparse.Namespace) -> tuple[str, str] | None:
    """The certificate and key to serve HTTPS with, from the flags or the variables; both or neither."""
    cert = args.tls_cert or (first_variable(*TLS_CERT_VARIABLES) or ("", ""))[1]
    key = args.tls_key or (first_variable(*TLS_KEY_VARIABLES) or ("", ""))[1]
    if bool(cert) != bool(key):
        raise CommandError(
            "HTTPS needs both a certificate and its key: set PORTUS_TLS_CERT and PORTUS_TLS_KEY "
            "(or --tls-cert and --tls-key), or neither for plain HTTP behind a proxy."
        )
    for label, path in (("certificate", cert), ("key", key)):
        if path and not os.access(path, os.R_OK):
            raise CommandError(f"the TLS {label} {path} cannot be read; check the path and its permissions.")
    return (cert, key) if cert else None


def refuse_pending_migrations(migrate_first: bool, verbosity: int = 1) -> None:
    """Migrations never run by themselves: a server that finds some pending stops and names the command."""
    from django.core.management import call_command
    from django.db import DatabaseError

    try:
        pending = pending_migrations()
    except DatabaseError as exc:
        raise CommandError(f"the database does not answer ({exc}); check the PORTUS_DB_* settings.") from None
    if not pending:
        return
    if migrate_first:
        call_command("migrate", interactive=False, verbosity=verbosity)
        return
    shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
    raise CommandError(
        f"{len(pending)} database migrations are pending ({shown}). Run `portusctl migrate` first "
        "(or start with `portusctl serve --migrate` where one container does both)."
    )


def fresh_metrics_directory() -> str:
    """A directory of this server's own for the workers' metric files, removed by gunicorn's on_exit hook."""
    directory = tempfile.mkdtemp(prefix="portus-metrics-")
    (Path(directory) / METRICS_DIR_MARKER).touch()
    return directory


def refuse_debug_beyond_loopback(bind: str) -> None:
    """Debug pages show settings and tracebacks to whoever asks; only this machine may ask."""
    from django.conf import settings

    host = bind.rpartition(":")[0]
    if settings.DEBUG and not is_loopback(host):
        raise CommandError(
            f"PORTUS_DEBUG is on and --bind {bind} reaches beyond this machine: debug pages would show "
            "settings and tracebacks to anyone. Unset PORTUS_DEBUG, or bind 127.0.0.1."
        )


def serve(args: argparse.Namespace) -> int:
    # One container image, two roles: PORTUS_BACKGROUND=true makes the same entry point the worker.
    try:
        background = parse_bool("PORTUS_BACKGROUND", os.environ.get("PORTUS_BACKGROUND", "false"))
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    options = ServerOptions(
        bind=args.bind,
        workers=args.workers or count_from_environment(WORKERS_VARIABLES, default_workers()),
        threads=args.threads or count_from_environment(THREADS_VARIABLES, SERVE_THREADS),
        tls=tls_files(args),
    )
    setup_django()  # refuses a bad configuration here, with its message, before gunicorn starts
    refuse_debug_beyond_loopback(options.bind)
    refuse_pending_migrations(args.migrate)
    if background:
        # exec, not a child: the container's init signals the worker directly.
        os.execv(sys.executable, [sys.executable, "-m", "portus.cli", "background"])  # noqa: S606
    os.environ[MULTIPROCESS_VARIABLE] = fresh_metrics_directory()
    os.execv(sys.executable, gunicorn_command(options))  # noqa: S606
    return 0  # pragma: no cover


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, preferred: int) -> int:
    for port in range(preferred, preferred + 100):
        if port_is_free(host, port):
            return port
    raise CommandError(f"no free port on {host} from {preferred} to {preferred + 99}.")


def wait_for_port(host: str, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


class Supervisor:
    """Start child processes and stop them all when one dies or we are told to stop."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False
        self.copiers: list[threading.Thread] = []
        # Installed before the first child starts: a SIGTERM that arrives while the children are
        # still starting must stop them too, not kill this process and leave them orphaned.
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)

    def start(self, name: str, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, **kwargs)
        self.children.append((name, process))
        return process

    def start_logged(self, name: str, command: list[str], log_path: Path, hidden: Iterable[str]) -> None:
        """Start COMMAND with its output appended to LOG_PATH (0600), every secret in it replaced.

        Distribution logs its notification endpoints with their headers: the Authorization secret would
        otherwise sit in the log, letting whoever reads it forge registry events."""
        process = self.start(name, command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        log = open(log_path, "ab")  # noqa: SIM115 - closed by the copying thread
        os.fchmod(log.fileno(), 0o600)
        words = [s.encode() for s in hidden if s]
        copier = threading.Thread(target=copy_redacted, args=(process.stdout, log, words), daemon=True)
        copier.start()
        self.copiers.append(copier)

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> int:
        status = 0
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    sys.stderr.write(f"portusctl up: {name} exited with {process.returncode}; stopping.\n")
                    status = 1
                    self.stopping = True
            time.sleep(0.2)
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()
        for _, process in self.children:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for copier in self.copiers:  # the last lines a child wrote reach its log
            copier.join(timeout=5)
        return status

    def wait_for_port(self, host: str, port: int, deadline: float) -> bool:
        """Like wait_for_port, but gives up as soon as a child dies or we are told to stop."""
        while time.monotonic() < deadline and not self.stopping:
            if any(process.poll() is not None for _, process in self.children):
                return False
            if wait_for_port(host, port, min(deadline, time.monotonic() + 0.5)):
                return True
        return False


def redact(line: bytes, hidden: Iterable[bytes]) -> bytes:
    for secret in hidden:
        line = line.replace(secret, REDACTED)
    return BEARER.sub(rb"\1" + REDACTED, line)


def copy_redacted(source: IO[bytes] | None, target: IO[bytes], hidden: list[bytes]) -> None:
    if source is None:
        return
    with target:
        for line in source:
            target.write(redact(line, hidden))
            target.flush()


def make_private(data_dir: Path) -> None:
    """The data directory and what `up` keeps in it readable by this user only: the database (sessions,
    password hashes), the keys, the registry's configuration (the notification secret) and log."""
    data_dir.chmod(0o700)
    for directory in (data_dir, data_dir / "registry"):
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if entry.is_symlink():
                continue
            entry.chmod(0o700 if entry.is_dir() else 0o600)


def write_example_image(layout: Path) -> str:
    """A tiny image as an OCI layout directory (one file, no base image), so the push command `up`
    prints works without the internet; returns its skopeo reference."""

    def blob(data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return f"sha256:{digest}", len(data)

    content = b"Hello from Portus: this image was made by portusctl up.\n"
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
        entry = tarfile.TarInfo("hello.txt")
        entry.size, entry.mode = len(content), 0o644
        archive.addfile(entry, io.BytesIO(content))
    layer = tar_bytes.getvalue()
    layer_digest, layer_size = blob(gzip.compress(layer, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    config_digest, config_size = blob(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}
        ],
    }
    manifest_digest, manifest_size = blob(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return f"oci:{layout}:latest"


def print_first_steps(portus_url: str, registry_host: str, image: str, password_file: Path) -> None:
    """The commands to try next, each working as shown on this machine (PASSWORD is the admin's password)."""
    print(f"Push a first image (made on this machine in {image.split(':')[1]}, no internet needed):")
    print(
        f"  skopeo copy --dest-tls-verify=false --dest-creds admin:PASSWORD {image} "
        f"docker://{registry_host}/admin/hello:latest"
    )
    print(f"  (PASSWORD: the administrator's password above, also in {password_file} when just created)")
    print(
        f"With podman: podman login --tls-verify=false -u admin {registry_host}, "
        "then push/pull with --tls-verify=false."
    )
    print(
        f"The registry speaks plain HTTP: skopeo and podman need the --tls-verify=false flags above; Docker needs "
        f'"insecure-registries": ["{registry_host}"] in /etc/docker/daemon.json (then restart dockerd).'
    )
    print(
        "Use portusctl as a client of the API (TOKEN: from your profile page, "
        "or `portusctl token create admin --name cli`):"
    )
    print(f"  export PORTUSCTL_API_SERVER={portus_url} PORTUSCTL_API_USER=admin PORTUSCTL_API_TOKEN=TOKEN")


def up(args: argparse.Namespace) -> int:
    data_dir = Path(os.environ.get("PORTUS_DATA_DIR") or args.data_dir).resolve()
    os.environ["PORTUS_DATA_DIR"] = str(data_dir)
    host, _, port_text = args.bind.rpartition(":")
    if not host or not port_text.isdigit():
        raise CommandError(f"--bind {args.bind!r}: use HOST:PORT, for example 127.0.0.1:3000.")
    port = int(port_text)
    if not port_is_free(host, port):
        raise CommandError(f"{args.bind} is taken; pass --bind HOST:PORT with a free port.")
    portus_url = f"http://{args.bind}"
    os.environ.setdefault("PORTUS_URL", portus_url)
    setup_django()
    refuse_debug_beyond_loopback(args.bind)
    # Everything up and its children write (SQLite and its journal, keys, the registry's files) is
    # this user's only; what an older version left readable is tightened below.
    os.umask(0o077)
    from django.core.management import call_command

    from portus.accounts.actions import create_user
    from portus.accounts.models import User
    from portus.registry.actions import create_registry, default_registry
    from portus.registry.distribution_config import render_distribution_config
    from portus.registry.signing import signing_key

    print(f"Portus data directory: {data_dir}")
    call_command("migrate", interactive=False, verbosity=0)
    signing_key()
    make_private(data_dir)
    registry_binary = shutil.which("docker-registry")
    registry = default_registry()
    if registry is None:
        registry_port = free_port("127.0.0.1", 5000) if registry_binary else 5000
        registry = create_registry(name="local", hostname=f"127.0.0.1:{registry_port}")
    supervisor = Supervisor()
    env = dict(os.environ)
    if registry_binary and registry.hostname.startswith("127.0.0.1:"):
        registry_dir = data_dir / "registry"
        registry_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config_path = registry_dir / "config.yml"
        write_private_file(
            config_path,
            render_distribution_config(registry, portus_url=portus_url, storage_dir=registry_dir / "storage"),
        )
        supervisor.start_logged(
            "docker-registry",
            [registry_binary, "serve", str(config_path)],
            registry_dir / "registry.log",
            hidden=[registry.notification_secret()],
        )
    elif not registry_binary:
        print(
            "docker-registry is not installed (apt-get install docker-registry); Portus runs without a local registry."
        )

    password = None
    if not User.objects.exists():
        password = secrets.token_urlsafe(12)
        create_user(username="admin", email="admin@localhost", password=password, admin=True)
        write_private_file(data_dir / ADMIN_PASSWORD_FILE, password + "\n")
    metrics_dir = fresh_metrics_directory()
    # gunicorn's on_exit removes it too, but not when it is stopped before it finished starting.
    atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    web_env = {**env, MULTIPROCESS_VARIABLE: metrics_dir}  # the web server's alone
    supervisor.start("web server", gunicorn_command(ServerOptions(args.bind, args.workers, 1)), env=web_env)
    supervisor.start("background", [sys.executable, "-m", "portus.cli", "background"], env=env)
    if not supervisor.wait_for_port(host, port, time.monotonic() + 30):
        if supervisor.stopping:  # told to stop while starting: not a failure
            return supervisor.run()
        supervisor.stop()
        supervisor.run()
        raise CommandError(f"the web server did not start on {args.bind}; see the messages above.")

    print()
    print(f"Portus is running at {portus_url}")
    if password:
        print(f"  administrator: admin / {password}   (shown once; change it on your profile page)")
        print(f"                 also in {data_dir / ADMIN_PASSWORD_FILE} (readable only by you; delete it when noted)")
    print(f"  registry:      {registry.public_hostname} (token service and events wired to Portus)")
    image = write_example_image(data_dir / "example-image")
    print_first_steps(portus_url, registry.public_hostname, image, data_dir / ADMIN_PASSWORD_FILE)
    print("Stop with Ctrl+C.")
    sys.stdout.flush()
    return supervisor.run()


def register(sub: Any) -> None:
    p = sub.add_parser("migrate", help="apply database migrations (they never run by themselves)")
    p.add_argument("-v", "--verbosity", type=int, default=1)
    p.set_defaults(handler=migrate)

    p = sub.add_parser("serve", help="run the web server (gunicorn); see docs/deployment.md")
    # Loopback unless told otherwise: a proxy in front (or PORTUS_BIND=0.0.0.0:3000 in a container) opens it.
    p.add_argument(
        "--bind",
        default=(first_variable(*BIND_VARIABLES) or ("", DEFAULT_BIND))[1],
        help=f"HOST:PORT (default: PORTUS_BIND, PORTUS_PUMA_HOST or {DEFAULT_BIND})",
    )
    p.add_argument("--workers", type=int, help="worker processes (default: PORTUS_WORKERS or 2 per CPU)")
    p.add_argument("--threads", type=int, help="threads per worker (default: PORTUS_THREADS or 2)")
    p.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (default: PORTUS_TLS_CERT)")
    p.add_argument("--tls-key", help="... and this PEM key (default: PORTUS_TLS_KEY)")
    p.add_argument(
        "--migrate", action="store_true", help="apply pending migrations first, instead of refusing to start"
    )
    p.set_defaults(handler=serve)

    p = sub.add_parser("up", help="newcomer mode: SQLite, a generated key, a local registry, the server")
    p.add_argument("--bind", default="127.0.0.1:3000", help="HOST:PORT for Portus")
    p.add_argument("--data-dir", default="data", help="where the database, key and registry data live")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(handler=up)

    p = sub.add_parser("manage", help="run one of Django's management commands")
    p.add_argument("arguments", nargs=argparse.REMAINDER)
    p.set_defaults(handler=manage)
