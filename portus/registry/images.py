"""Image details and storage: what a manifest and its config blob say (platform, created, entrypoint,
environment, ports, labels, history), read once per digest from the registry and stored; blob sizes
summed into the storage a namespace uses, each distinct blob counted once."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from portus.registry.client import (
    INDEXES,
    NotFound,
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
    platform_name,
)
from portus.registry.models import (
    ImageBlob,
    ImageDetails,
    ImagePlatform,
    ImageReadRetry,
    Namespace,
    Repository,
    Tag,
)

log = logging.getLogger(__name__)

# Answers that say nothing about the image itself (credentials, an unhealthy registry): read again later,
# as is no answer at all. Every 5xx counts too.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 429})
# When to read again after the 1st, 2nd, 3rd failed read; then every RETRY_EVERY, up to MAX_ATTEMPTS
# failed reads (about two days), after which the last reason is stored as a permanent failure.
RETRY_DELAYS = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30))
RETRY_EVERY = dt.timedelta(hours=6)
MAX_ATTEMPTS = 12


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after the ATTEMPTS-th failed read (1-based) before reading again."""
    return RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else RETRY_EVERY


def is_transient(exc: RegistryError) -> bool:
    """Whether EXC says nothing about the image (the registry could not answer now): read again later."""
    if isinstance(exc, RegistryUnavailable):
        return True
    return exc.status is not None and (exc.status in TRANSIENT_STATUSES or exc.status >= 500)


@dataclass
class ImageRead:
    """One manifest as read from the registry, not yet stored: the ImageDetails fields, the blobs it needs
    (digest -> size) and, for an index, its platforms (name, platform manifest)."""

    digest: str
    fields: dict[str, Any]
    blobs: dict[str, int] = field(default_factory=dict)
    platforms: list[tuple[str, ImageRead]] = field(default_factory=list)


def _strings(value: Any) -> list[str]:
    """A config list (Entrypoint, Cmd, Env): a string alone (some builders write one) counts as one item."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _created(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _history(value: Any) -> list[dict[str, Any]]:
    steps = value if isinstance(value, list) else []
    return [
        {
            "created": str(step.get("created") or ""),
            "created_by": str(step.get("created_by") or ""),
            "comment": str(step.get("comment") or ""),
            "empty_layer": bool(step.get("empty_layer")),
        }
        for step in steps
        if isinstance(step, dict)
    ]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def config_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The ImageDetails fields an image config blob gives (OCI image spec, "config" and "history")."""
    run = _object(config.get("config"))
    labels = _object(run.get("Labels"))
    ports = _object(run.get("ExposedPorts"))
    return {
        "os": str(config.get("os") or "")[:64],
        "architecture": str(config.get("architecture") or "")[:64],
        "variant": str(config.get("variant") or "")[:64],
        "created": _created(config.get("created")),
        "entrypoint": _strings(run.get("Entrypoint")),
        "command": _strings(run.get("Cmd")),
        "environment": _strings(run.get("Env")),
        "exposed_ports": sorted(str(port) for port in ports),
        "labels": {str(key): str(value) for key, value in labels.items()},
        "history": _history(config.get("history")),
    }


def _annotations(manifest: dict[str, Any]) -> dict[str, str]:
    annotations = manifest.get("annotations")
    return {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}


def _read_image(
    client: RegistryClient, repository: str, digest: str, media_type: str, manifest: dict[str, Any]
) -> ImageRead:
    config_ref = manifest.get("config") or {}
    layers = manifest.get("layers") or []
    read = ImageRead(digest, {"media_type": media_type, "annotations": _annotations(manifest)})
    for blob in [config_ref, *layers]:
        if isinstance(blob, dict) and blob.get("digest"):
            read.blobs[str(blob["digest"])] = int(blob.get("size") or 0)
    read.fields["size"] = sum(read.blobs.values())
    config_digest = str(config_ref.get("digest") or "")
    read.fields["config_digest"] = config_digest
    if config_digest:  # schema 1 manifests have none
        read.fields.update(config_fields(client.config(repository, config_digest)))
    return read


def read_image(client: RegistryClient, repository: str, digest: str) -> ImageRead:
    """The manifest DIGEST of REPOSITORY with its config blob; for an index, every runnable platform's.
    Raises RegistryError (NotFound when the manifest is gone)."""
    digest, media_type, manifest = client.manifest(repository, digest)
    if media_type not in INDEXES and "manifests" not in manifest:
        return _read_image(client, repository, digest, media_type, manifest)
    read = ImageRead(digest, {"media_type": media_type, "annotations": _annotations(manifest)})
    for entry in manifest.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == "unknown":  # build attestations, not runnable images
            continue
        child_digest, child_type, child_manifest = client.manifest(repository, str(entry["digest"]))
        child = _read_image(client, repository, child_digest, child_type, child_manifest)
        name = platform_name(platform) if platform else ""
        fallback = "/".join(str(child.fields.get(key) or "") for key in ("os", "architecture"))
        read.platforms.append((name or fallback, child))
        read.blobs.update(child.blobs)
    read.fields["size"] = sum(child.fields.get("size", 0) for _, child in read.platforms)
    return read


def store_image(read: ImageRead) -> ImageDetails:
    """Store READ (and its platforms) unless a row for its digest exists already; the row for the digest."""
    existing = ImageDetails.objects.filter(digest=read.digest).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            children = [(name, store_image(child)) for name, child in read.platforms]
            details = ImageDetails.objects.create(digest=read.digest, **read.fields)
            ImageBlob.objects.bulk_create(
                ImageBlob(image=details, digest=digest, size=size) for digest, size in read.blobs.items()
            )
            ImagePlatform.objects.bulk_create(
                ImagePlatform(index=details, image=child, position=position, name=name[:200])
                for position, (name, child) in enumerate(children)
            )
    except IntegrityError:  # another worker stored the same digest first: the content is the same
        return ImageDetails.objects.get(digest=read.digest)
    return details


def next_unread_tag() -> Tag | None:
    """The newest tag whose image has no stored details yet and is not waiting for a retry."""
    waiting = ImageReadRetry.objects.filter(retry_at__gt=timezone.now()).values("digest")
    return (
        Tag.objects.exclude(digest="")
        .exclude(digest__in=ImageDetails.objects.values("digest"))
        .exclude(digest__in=waiting)
        .select_related("repository__namespace__registry")
        .order_by("-pk")
        .first()
    )


def record_details(client: RegistryClient, tag: Tag) -> ImageDetails | ImageReadRetry:
    """Read and store the details of the image TAG points at. When the registry cannot answer now, the
    read is scheduled again (the ImageReadRetry, until MAX_ATTEMPTS); an image the registry no longer has,
    or whose config is unreadable, is stored with the error, so it is not asked for again."""
    try:
        read = read_image(client, tag.repository.full_name, tag.digest)
    except NotFound as exc:
        error = f"the registry no longer has this image: {exc}"
    except RegistryError as exc:
        if is_transient(exc):
            retry = _schedule_retry(tag.digest, str(exc))
            if retry.attempts < MAX_ATTEMPTS:
                return retry
            error = f"the registry did not answer in {retry.attempts} attempts; the last: {exc}"
        else:
            error = str(exc)
    else:
        details = store_image(read)
        ImageReadRetry.objects.filter(digest=tag.digest).delete()
        return details
    log.warning("image details of %s could not be read: %s", tag, error)
    details = store_image(ImageRead(tag.digest, {"media_type": tag.media_type, "error": error[:2000]}))
    ImageReadRetry.objects.filter(digest=tag.digest).delete()
    return details


def _schedule_retry(digest: str, error: str) -> ImageReadRetry:
    """Count one more failed read of DIGEST and set when to read it again."""
    now = timezone.now()
    with transaction.atomic():
        retry, _ = ImageReadRetry.objects.select_for_update().get_or_create(digest=digest, defaults={"retry_at": now})
        retry.attempts += 1
        retry.retry_at = now + retry_delay(retry.attempts)
        retry.error = error[:2000]
        retry.tried_at = now
        retry.save()
    log.warning(
        "image details of %s: %s; failed read %d of %d, next at %s",
        digest,
        error,
        retry.attempts,
        MAX_ATTEMPTS,
        retry.retry_at,
    )
    return retry


def details_for(digest: str) -> tuple[ImageDetails | None, list[ImagePlatform]]:
    """The stored details of DIGEST and, for an index, its platforms (each with its own details)."""
    details = ImageDetails.objects.filter(digest=digest).first()
    if details is None:
        return None, []
    return details, list(ImagePlatform.objects.filter(index=details).select_related("image").order_by("position"))


def pending_retry(digest: str) -> ImageReadRetry | None:
    """The scheduled retry of DIGEST's details, when the registry could not answer the last read."""
    return ImageReadRetry.objects.filter(digest=digest).first()


def _storage_sql(where: str) -> str:
    quote = connection.ops.quote_name
    tag, repository = quote(Tag._meta.db_table), quote(Repository._meta.db_table)
    details, blob = quote(ImageDetails._meta.db_table), quote(ImageBlob._meta.db_table)
    # One row per (namespace, blob digest) first, so a blob shared by several tags, images or repositories
    # of a namespace counts once; then the sizes are summed per namespace.
    return (
        "SELECT ns, SUM(size) FROM ("  # noqa: S608 - table names from the models; values are parameters
        f"SELECT DISTINCT r.namespace_id AS ns, b.digest AS digest, b.size AS size FROM {tag} t "
        f"JOIN {repository} r ON r.id = t.repository_id "
        f"JOIN {details} d ON d.digest = t.digest "
        f"JOIN {blob} b ON b.image_id = d.id {where}"
        ") distinct_blobs GROUP BY ns"
    )


def namespace_storage(namespaces: Iterable[Namespace] | None = None) -> dict[int, int]:
    """Bytes each namespace uses in the registry (all namespaces when NAMESPACES is None): the sizes of the
    distinct blobs (configs and compressed layers) its tags need, a blob shared by several tags or
    repositories counted once. Images whose details are not read yet count nothing."""
    params: list[int] = []
    where = ""
    if namespaces is not None:
        params = [namespace.pk for namespace in namespaces]
        if not params:
            return {}
        where = f"WHERE r.namespace_id IN ({', '.join(['%s'] * len(params))})"
    with connection.cursor() as cursor:
        cursor.execute(_storage_sql(where), params)
        return {int(ns): int(size or 0) for ns, size in cursor.fetchall()}
