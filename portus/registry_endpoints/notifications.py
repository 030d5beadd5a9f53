"""The registry's notifications: who sent them, the envelope's shape, the events Portus keeps, storing.

The intake only stores: it never calls the registry, so it answers in milliseconds and the registry's
notification queue never backs up. The background worker applies what was stored; it hears of new rows
through ``registry_events_stored``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

from django.db import connection, transaction
from django.utils import timezone
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from portus.accounts.models import INTERNAL_ACCOUNT
from portus.registry.client import MANIFEST_MEDIA_TYPES
from portus.registry.models import Registry, RegistryEvent
from portus.registry.names import TAG_RE, is_repository_name
from portus.registry.signals import registry_events_stored
from portus.registry.sync import CLOCK_SKEW

DIGEST_RE = re.compile(r"\A[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
ENVELOPE_SHAPE = 'the body must be an object with an "events" list.'


class EnvelopeError(Exception):
    """The body is not a notification envelope Portus understands; the message says which part."""


def authenticated_registry(authorization: str | None) -> Registry | None:
    """The registry whose notification secret the ``Authorization: Bearer`` header carries."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    presented = secret.strip()
    # Plain SQL: this runs on every notification, and the ORM's query building was half its cost.
    table = Registry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, hostname, notification_secret_digest FROM {table}")  # noqa: S608 - no user input
        rows = cursor.fetchall()
    found = None
    for pk, hostname, digest in rows:
        registry = Registry(pk=pk, hostname=hostname, notification_secret_digest=digest)
        # Compare with every registry, not stopping at a match, so timing tells nothing.
        if registry.accepts_notification_secret(presented):
            found = registry
    return found


def unsigned_registry(body: bytes) -> Registry | None:
    """During the grace period after an import: the registry a notification without a secret comes from.

    The original Portus's registry configuration sends no Authorization header. One registry in
    the grace period is that registry; with several, the one the events' ``request.host`` names."""
    waiting = list(Registry.objects.filter(legacy_unsigned_notifications=True))
    if len(waiting) <= 1:
        return waiting[0] if waiting else None
    try:
        events = json.loads(body).get("events") or []
        host = str(((events[0] or {}).get("request") or {}).get("host", ""))
    except (ValueError, AttributeError, IndexError, TypeError, UnicodeDecodeError, RecursionError):
        return None
    return next((r for r in waiting if host and host in (r.hostname, r.external_hostname)), None)


# -- the envelope ----------------------------------------------------------------------------------
# Only the fields Portus reads; the registry sends more (size, url, request, source), which are ignored.


def _invalid(detail: str, field: str = "") -> PydanticCustomError:
    """An error whose sentence is "<where>[.field] <detail>"; see _sentence."""
    return PydanticCustomError("portus", "{detail}", {"detail": detail, "field": field})


def _present(value: Any) -> Any:
    # The registry leaves out empty fields or sends them empty: both mean missing.
    if value is None or value == "":
        raise PydanticCustomError("missing", "missing")
    return value


def _none_is_empty(value: Any) -> Any:
    return "" if value is None else value


def _rfc3339(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _time_text(text: str) -> str:
    try:
        _rfc3339(text)
    except ValueError:
        raise _invalid("is not an RFC 3339 time.") from None
    return text


def _repository_name(name: str) -> str:
    if not is_repository_name(name):
        raise _invalid(f"{name!r} is not a repository name.")
    return name


def _tag_name(tag: str) -> str:
    if tag and not TAG_RE.match(tag):
        raise _invalid(f"{tag!r} is not a tag name.")
    return tag


def _digest(digest: str) -> str:
    if digest and not DIGEST_RE.match(digest):
        raise _invalid(f"{digest!r} is not a digest (algorithm:hex).")
    return digest


Present = BeforeValidator(_present)
NoneIsEmpty = BeforeValidator(_none_is_empty)


class Target(BaseModel):
    repository: Annotated[str, Present, Field(max_length=255), AfterValidator(_repository_name)]
    media_type: Annotated[str, NoneIsEmpty, Field(max_length=255, alias="mediaType")] = ""
    tag: Annotated[str, NoneIsEmpty, Field(max_length=128), AfterValidator(_tag_name)] = ""
    digest: Annotated[str, NoneIsEmpty, Field(max_length=100), AfterValidator(_digest)] = ""


class Actor(BaseModel):
    name: Annotated[str, NoneIsEmpty, Field(max_length=255)] = ""


class Event(BaseModel):
    id: Annotated[str, Present, Field(max_length=255)]
    action: Annotated[str, Present, Field(max_length=16)]
    target: Target = Field(default=None, validate_default=True)  # missing or null: "must be an object"
    timestamp: Annotated[str, Present, Field(max_length=64), AfterValidator(_time_text)]
    # Absent, null or empty: nobody; anything else must be an object.
    actor: Annotated[Actor, BeforeValidator(lambda value: value or {})] = Field(default_factory=Actor)

    @field_validator("target")
    @classmethod
    def _digest_when_needed(cls, target: Target, info: ValidationInfo) -> Target:
        # A push names a digest; a deletion a digest (manifest deleted) or only a tag (tag deleted).
        action = info.data.get("action")  # absent when the action itself was refused
        if not target.digest and (action == "push" or (action == "delete" and not target.tag)):
            raise _invalid("is missing.", field="digest")
        return target


class Envelope(BaseModel):
    events: list[Event]


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _sentence(error: ErrorDetails) -> str:
    """The first problem pydantic found, as the sentence the registry's operator reads in its log."""
    loc = error["loc"]
    if len(loc) < 2:  # the body itself, or its "events" member
        return ENVELOPE_SHAPE
    where, kind, context = _where(loc), error["type"], error.get("ctx", {})
    if kind == "missing":
        return f"{where} is missing."
    if kind == "string_type":
        return f"{where} must be a string."
    if kind in ("string_too_long", "too_long"):  # too_long: max_length checked after a BeforeValidator
        return f"{where} is longer than {context['max_length']} characters."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where} must be an object."
    if kind == "portus":
        field = f".{context['field']}" if context["field"] else ""
        return f"{where}{field} {context['detail']}"
    return f"{where}: {error['msg']}."


# -- what is kept ----------------------------------------------------------------------------------


def event_time(event: Event, received_at: dt.datetime) -> dt.datetime:
    """When the event happened, by the registry's clock, but never later than its receipt plus the clock
    skew Portus allows: a time in the future would make the event win over every later real one."""
    return min(_rfc3339(event.timestamp), received_at + CLOCK_SKEW)


def event_to_store(
    event: Event, registry: Registry, received_at: dt.datetime, payload: dict[str, Any] | None = None
) -> RegistryEvent | None:
    """The row to store, or None for an event Portus has no use for (blobs, mounts, its own reads).
    PAYLOAD is the event object as received, kept for outgoing webhooks."""
    action, media_type, tag = event.action, event.target.media_type, event.target.tag
    is_manifest = media_type in MANIFEST_MEDIA_TYPES
    if action == "push" and not (is_manifest and tag):
        return None  # blobs, and the per-platform manifests of an index (pushed by digest, untagged)
    if action == "pull" and (not is_manifest or event.actor.name == INTERNAL_ACCOUNT):
        return None  # blob downloads, and Portus's own reads during synchronization
    # Registry 2.8 sends manifest deletions without a media type; blob deletions name a layer type.
    if action == "delete" and media_type and not is_manifest:
        return None
    if action not in ("push", "pull", "delete"):
        return None  # mount, and whatever later registries add
    return RegistryEvent(
        registry=registry,
        event_id=event.id,
        action=action,
        repository=event.target.repository,
        tag=tag,
        digest=event.target.digest,
        media_type=media_type,
        actor=event.actor.name,
        occurred_at=event_time(event, received_at),
        received_at=received_at,
        payload=payload or {},
    )


def parse_envelope(body: bytes, registry: Registry) -> tuple[list[RegistryEvent], int]:
    """(events worth storing, number ignored); raises EnvelopeError for anything malformed."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply to read
        raise EnvelopeError('the body is not JSON; the registry sends {"events": [...]}.') from None
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        raise EnvelopeError(_sentence(exc.errors(include_url=False)[0])) from None
    wanted: dict[str, RegistryEvent] = {}
    ignored = 0
    received_at = timezone.now()
    # Validated, so data["events"] is the list envelope.events was read from, member for member.
    for event, payload in zip(envelope.events, data["events"], strict=True):
        row = event_to_store(event, registry, received_at, payload)
        if row is None:
            ignored += 1
        else:
            wanted.setdefault(row.event_id, row)  # an id repeated inside one envelope is one event
    return list(wanted.values()), ignored


def store(events: list[RegistryEvent], registry: Registry) -> None:
    """Store EVENTS idempotently (by event id) and tell whoever listens, in the same transaction."""
    if not events:
        return
    with transaction.atomic():
        # ignore_conflicts: a retried delivery hits the unique event id and changes nothing.
        RegistryEvent.objects.bulk_create(events, ignore_conflicts=True)
        registry_events_stored.send(sender=RegistryEvent, registry=registry, count=len(events))
