"""The writes to outgoing webhooks (atomic, acting user as ``actor``, an activity line each) and queueing
their deliveries when a registry event is applied or a scan finishes."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from portus.errors import ActionError
from portus.principal import Actor
from portus.registry.activity import record
from portus.registry.events import find_namespace
from portus.registry.models import Namespace, RegistryEvent
from portus.security.models import Scan, ScanFinding
from portus.webhooks.models import ContentType, RequestMethod, Webhook, WebhookDelivery, WebhookHeader
from portus.webhooks.signals import deliveries_queued

# RFC 9110 token characters.
HEADER_NAME_RE = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]{1,255}\Z")
# Set by Portus on every delivery (or by the HTTP client): a custom header may not replace them.
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "X-Portus-Event",
        "X-Portus-Delivery",
        "X-Portus-Signature-256",
    )
)


@dataclass
class WebhookFields:
    """What a person sets on a webhook. None: leave as it is (on update). An empty password or secret clears it."""

    name: str | None = None
    url: str | None = None
    request_method: str | None = None
    content_type: str | None = None
    username: str | None = None
    password: str | None = None
    secret: str | None = None
    enabled: bool | None = None


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionError(f"{url!r} is not an http:// or https:// address; write e.g. https://ci.example.com/hook.")
    if parts.username or parts.password:
        raise ActionError("Put the user name and password in their own fields, not in the address.")
    if len(url) > 2000:
        raise ActionError("The address is longer than 2000 characters.")
    return url


def check_header(name: str, value: str) -> str:
    """NAME stripped, if NAME and VALUE may be a custom header; ActionError says why not."""
    name = name.strip()
    if not HEADER_NAME_RE.match(name):
        raise ActionError(f"{name!r} is not a header name; use letters, digits and '-'.")
    if name.lower() in RESERVED_HEADERS:
        raise ActionError(f"{name} is set by Portus on every delivery; pick another header.")
    if "\r" in value or "\n" in value or len(value) > 4000:
        raise ActionError("A header value is one line of at most 4000 characters.")
    return name


def _apply(webhook: Webhook, fields: WebhookFields) -> list[str]:
    """Set FIELDS on WEBHOOK (not saved); the names of what changed, for the activity line."""
    changed = []
    if fields.name is not None:
        name = fields.name.strip()
        if not name or len(name) > 255:
            raise ActionError("A webhook needs a name of at most 255 characters.")
        changed += ["name"] if name != webhook.name else []
        webhook.name = name
    if fields.url is not None:
        url = check_url(fields.url)
        changed += ["url"] if url != webhook.url else []
        webhook.url = url
    if fields.request_method is not None:
        method = fields.request_method.upper()
        if method not in RequestMethod.values:
            raise ActionError(f"{fields.request_method!r} is not a request method; use GET or POST.")
        changed += ["request_method"] if method != webhook.request_method else []
        webhook.request_method = method
    if fields.content_type is not None:
        if fields.content_type not in ContentType.values:
            raise ActionError(
                f"{fields.content_type!r} is not a content type; use application/json or "
                "application/x-www-form-urlencoded."
            )
        changed += ["content_type"] if fields.content_type != webhook.content_type else []
        webhook.content_type = fields.content_type
    if fields.username is not None:
        changed += ["username"] if fields.username != webhook.username else []
        webhook.username = fields.username.strip()[:255]
    if fields.password is not None:
        webhook.set_password(fields.password)
        changed.append("password")
    if fields.secret is not None:
        webhook.set_secret(fields.secret)
        changed.append("secret")
    if fields.enabled is not None:
        changed += ["enabled"] if fields.enabled != webhook.enabled else []
        webhook.enabled = fields.enabled
    return changed


def _record(actor: Actor, action: str, webhook: Webhook, **data: Any) -> None:
    namespace = webhook.namespace
    record(
        actor,
        action,
        f"{namespace.display_name}: {webhook.name}",
        namespace=namespace,
        webhook=webhook.name,
        webhook_host=webhook.host,
        **data,
    )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def create_webhook(*, namespace: Namespace, fields: WebhookFields, actor: Actor) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (generated when FIELDS has none), shown to its creator once."""
    if fields.name is None or fields.url is None:
        raise ActionError("A webhook needs a name and an address.")
    secret = fields.secret if fields.secret else new_secret()
    webhook = Webhook(namespace=namespace)
    _apply(webhook, WebhookFields(**{**fields.__dict__, "secret": secret}))
    webhook.save()
    _record(actor, "webhook.create", webhook, url=webhook.url, enabled=webhook.enabled)
    return webhook, secret


@transaction.atomic
def update_webhook(*, webhook: Webhook, fields: WebhookFields, actor: Actor) -> Webhook:
    changed = _apply(webhook, fields)
    if not changed:
        return webhook
    webhook.updated_at = timezone.now()
    webhook.save()
    if changed == ["enabled"]:
        _record(actor, "webhook.enable" if webhook.enabled else "webhook.disable", webhook)
    else:
        _record(actor, "webhook.update", webhook, changed=changed)
    return webhook


def regenerate_secret(*, webhook: Webhook, actor: Actor) -> str:
    """A new random signing secret for WEBHOOK, returned to be shown once; the old one stops matching."""
    secret = new_secret()
    update_webhook(webhook=webhook, fields=WebhookFields(secret=secret), actor=actor)
    return secret


@transaction.atomic
def delete_webhook(*, webhook: Webhook, actor: Actor) -> None:
    _record(actor, "webhook.delete", webhook, url=webhook.url)
    webhook.delete()


@transaction.atomic
def set_header(*, webhook: Webhook, name: str, value: str, actor: Actor) -> WebhookHeader:
    """Add the header NAME, or change its value."""
    name = check_header(name, value)
    header = WebhookHeader.objects.filter(webhook=webhook, name__iexact=name).first() or WebhookHeader(
        webhook=webhook, name=name
    )
    header.name = name
    header.set_value(value)
    header.save()
    _record(actor, "webhook.set_header", webhook, header=name)
    return header


@transaction.atomic
def remove_header(*, header: WebhookHeader, actor: Actor) -> None:
    _record(actor, "webhook.remove_header", header.webhook, header=header.name)
    header.delete()


@transaction.atomic
def retrigger_delivery(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Queue the body of DELIVERY again, as a new delivery (the old one's log stays)."""
    if not delivery.webhook.enabled:
        raise ActionError("The webhook is disabled; enable it first, then send the delivery again.")
    again = delivery.as_retrigger()
    again.save()
    _record(actor, "webhook.retrigger", delivery.webhook, delivery=str(delivery.uuid), new_delivery=str(again.uuid))
    deliveries_queued.send(sender=WebhookDelivery, count=1)
    return again


# -- queueing ------------------------------------------------------------------------------------------


def _compact(data: Any) -> str:
    # The original Portus sent Ruby's JSON.generate: no spaces between members.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def registry_event_body(event: RegistryEvent) -> dict[str, Any]:
    """The event as the registry sent it (what the original Portus forwarded); rebuilt from the stored
    fields for an event stored before the payload was kept."""
    if event.payload:
        return dict(event.payload)
    target = {"mediaType": event.media_type, "digest": event.digest, "repository": event.repository}
    if event.tag:
        target["tag"] = event.tag
    return {
        "id": event.event_id,
        "timestamp": event.occurred_at.isoformat(),
        "action": event.action,
        "target": target,
        "actor": {"name": event.actor} if event.actor else {},
    }


def scan_body(scan: Scan) -> dict[str, Any]:
    """A finished scan, shaped like a registry event ("action": "scan") so one receiver reads both."""
    counts = dict(
        ScanFinding.objects.filter(scan=scan)
        .values_list("severity")
        .annotate(n=Count("pk"))
        .values_list("severity", "n")
    )
    return {
        "id": str(uuid.uuid4()),
        "timestamp": (scan.scanned_at or timezone.now()).isoformat(),
        "action": "scan",
        "target": {"repository": scan.repository, "digest": scan.manifest_digest},
        "scan": {
            "backend": scan.backend,
            "state": scan.state,
            "database_version": scan.database_version,
            # Done without an advisory database: 0 findings then means "not checked", not "clean".
            "no_advisories": scan.no_advisories,
            "findings": sum(counts.values()),
            "severities": counts,
        },
    }


def queue(webhooks: QuerySet[Webhook], action: str, data: dict[str, Any]) -> int:
    """One pending delivery per enabled webhook in WEBHOOKS; the caller's transaction commits them."""
    body = _compact(data)  # the webhook's content type is applied when it is sent (portus.webhooks.delivery)
    rows = [WebhookDelivery(webhook=w, event=action, request_body=body) for w in webhooks.filter(enabled=True)]
    WebhookDelivery.objects.bulk_create(rows)
    if rows:
        deliveries_queued.send(sender=WebhookDelivery, count=len(rows))
    return len(rows)


def queue_for_registry_event(*, event: RegistryEvent, namespace: Namespace, **_: object) -> None:
    queue(Webhook.objects.filter(namespace=namespace), event.action, registry_event_body(event))


def queue_for_scan(*, scan: Scan, **_: object) -> None:
    # Per finished scan (a scan-all sends thousands): with no enabled webhook anywhere, one EXISTS and
    # nothing else. Asked each time, so a webhook created a moment ago gets the next scan.
    if not Webhook.objects.filter(enabled=True).exists():
        return
    namespace = find_namespace(scan.registry, scan.repository)[0]
    if namespace is not None:
        queue(Webhook.objects.filter(namespace=namespace), "scan", scan_body(scan))
