"""The manifest details a tag page shows (layers, config, platforms), read from the registry.

A manifest is addressed by its digest, so what was read once never changes and may be kept long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from portus.registry.client import INDEXES, RegistryClient, RegistryError, platform_name
from portus.registry.models import Repository

CACHE_SECONDS = 24 * 3600


@dataclass
class ManifestDetails:
    media_type: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    platforms: list[dict[str, Any]] = field(default_factory=list)  # for an index: name, digest, size
    error: str = ""


def manifest_details(repository: Repository, digest: str) -> ManifestDetails:
    key = f"portus:manifest:{repository.namespace.registry_id}:{repository.full_name}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return ManifestDetails(**cached)
    client = RegistryClient(repository.namespace.registry)
    try:
        _, media_type, manifest = client.manifest(repository.full_name, digest)
    except RegistryError as exc:
        return ManifestDetails(error=str(exc))
    finally:
        client.close()
    details = ManifestDetails(media_type=media_type)
    if media_type in INDEXES or "manifests" in manifest:
        details.platforms = [
            {
                "name": platform_name(entry.get("platform") or {}) or "unknown",
                "digest": entry.get("digest", ""),
                "size": entry.get("size", 0),
                "media_type": entry.get("mediaType", ""),
            }
            for entry in manifest.get("manifests") or []
        ]
    else:
        details.config = dict(manifest.get("config") or {})
        details.layers = [
            {
                "digest": layer.get("digest", ""),
                "size": int(layer.get("size") or 0),
                "media_type": layer.get("mediaType", ""),
            }
            for layer in manifest.get("layers") or []
        ]
    cache.set(key, details.__dict__, CACHE_SECONDS)
    return details
