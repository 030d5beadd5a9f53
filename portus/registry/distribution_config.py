"""The Docker Distribution ``config.yml`` that wires a registry to this Portus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from portus.registry.models import Registry
from portus.registry.signing import signing_key


def distribution_config(
    registry: Registry,
    *,
    portus_url: str,
    storage_dir: str | Path = "/var/lib/docker-registry",
    listen: str | None = None,
    delete_enabled: bool | None = None,
) -> dict[str, Any]:
    """A complete registry configuration: token auth against Portus and notifications to it."""
    signing_key()  # makes sure the certificate bundle exists before the registry reads it
    portus_url = portus_url.rstrip("/")
    if delete_enabled is None:
        delete_enabled = settings.PORTUS.delete.enabled
    return {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": bool(delete_enabled)},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {
            "addr": listen or registry.hostname,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {
            "token": {
                "realm": f"{portus_url}/v2/token",
                "service": registry.hostname,
                "issuer": settings.MACHINE_FQDN,
                "rootcertbundle": str(Path(settings.TOKEN_CERT_PATH).resolve()),
            }
        },
        "notifications": {
            "endpoints": [
                {
                    "name": "portus",
                    "url": f"{portus_url}/v2/webhooks/events",
                    "headers": {"Authorization": [f"Bearer {registry.notification_secret()}"]},
                    "timeout": "2s",
                    "threshold": 5,
                    "backoff": "1s",
                    "ignoredmediatypes": ["application/octet-stream"],
                }
            ]
        },
    }


def render_distribution_config(registry: Registry, **kwargs: Any) -> str:
    header = (
        "# Docker Distribution configuration written by `portusctl registry config`.\n"
        "# It trusts Portus's token certificate and sends its events to Portus.\n"
    )
    return header + yaml.safe_dump(distribution_config(registry, **kwargs), sort_keys=False)
