"""Several Portus web processes behind a real nginx on loopback, as the scale-out test and bench run them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def nginx_config(prefix: Path, listen_port: int, upstream_ports: Sequence[int]) -> str:
    """nginx in front of the web processes: a request whose process died or refused is sent to the next one
    (token requests and notifications are safe to repeat, so non-idempotent POSTs are retried too)."""
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in upstream_ports)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream portus_web {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries 3;
        proxy_connect_timeout 2s;
        location / {{ proxy_pass http://portus_web; }}
    }}
}}
"""


def start_nginx(prefix: Path, listen_port: int, upstream_ports: Sequence[int]) -> subprocess.Popen[bytes]:
    binary = nginx_binary()
    assert binary, "nginx is not installed"
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(prefix, listen_port, upstream_ports))
    with open(prefix / "stderr.log", "wb") as log:
        return subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT
        )


def start_web(port: int, env: dict[str, str], log_path: Path, control_dir: Path) -> subprocess.Popen[bytes]:
    """`portusctl serve` with one gunicorn worker; its own control socket (gunicorn shares ~/.gunicorn by default)."""
    control_dir.mkdir(parents=True, exist_ok=True)
    env = dict(env, GUNICORN_CMD_ARGS=f"--control-socket {control_dir / 'gunicorn.ctl'}")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "portus.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its gunicorn workers form one group, killed together
        )


def wait_for_ping(url: str, processes: Sequence[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise RuntimeError(f"a process exited while {url} was awaited")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """SIGKILL a web process and its gunicorn workers at once: a machine that dies takes both."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
    process.wait(timeout=20)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
