"""Is a registry reachable? GET /v2/ must answer 200 or 401 with Docker-Distribution-Api-Version."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from portus.registry.client import RegistryClient, RegistryUnavailable
from portus.registry.models import Registry


@dataclass(frozen=True)
class Reachability:
    ok: bool
    message: str


def check_registry(hostname: str, use_ssl: bool) -> Reachability:
    # An unsaved registry: the check runs before one is added, with the address as typed.
    client = RegistryClient(Registry(hostname=hostname, use_ssl=use_ssl))
    url = f"{client.registry.base_url}/v2/"
    try:
        status, version = client.api_version()
    except RegistryUnavailable as exc:
        if isinstance(exc.__cause__, requests.exceptions.SSLError):
            return Reachability(
                False,
                f"{url} refused the TLS handshake: untick HTTPS, or fix the registry's certificate.",
            )
        return Reachability(
            False,
            f"Cannot reach {url} ({type(exc.__cause__).__name__}): is the registry running, "
            "and is the host:port right?",
        )
    finally:
        client.close()
    if status in (200, 401) and version:
        return Reachability(True, f"{url} answered {status} and speaks {version}.")
    return Reachability(
        False,
        f"{url} answered {status} without a Docker-Distribution-Api-Version header: "
        "it does not look like a Docker registry.",
    )
