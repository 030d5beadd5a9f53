"""Is a registry reachable? GET /v2/ must answer 200 or 401 with Docker-Distribution-Api-Version."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.conf import settings


@dataclass(frozen=True)
class Reachability:
    ok: bool
    message: str


def check_registry(hostname: str, use_ssl: bool) -> Reachability:
    url = f"{'https' if use_ssl else 'http'}://{hostname}/v2/"
    try:
        answer = requests.get(
            url, timeout=settings.PORTUS.get("registry.timeout.value"), allow_redirects=False
        )
    except requests.exceptions.SSLError:
        return Reachability(
            False,
            f"{url} refused the TLS handshake: untick HTTPS, or fix the registry's certificate.",
        )
    except requests.RequestException as exc:
        return Reachability(
            False,
            f"Cannot reach {url} ({type(exc).__name__}): is the registry running, "
            "and is the host:port right?",
        )
    version = answer.headers.get("Docker-Distribution-Api-Version", "")
    if answer.status_code in (200, 401) and version:
        return Reachability(True, f"{url} answered {answer.status_code} and speaks {version}.")
    return Reachability(
        False,
        f"{url} answered {answer.status_code} without a Docker-Distribution-Api-Version header: "
        "it does not look like a Docker registry.",
    )
