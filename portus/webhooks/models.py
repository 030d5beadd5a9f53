"""Outgoing webhooks: per namespace, their custom headers, and the log of every delivery.

Fields follow the original Portus's ``webhooks``, ``webhook_headers`` and ``webhook_deliveries`` tables,
so an import maps them one to one; what the original kept in plain (password) is kept sealed here, and
a delivery also carries the state the background worker needs (claim, lease, attempts, next try).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone

from portus.registry.models import Namespace
from portus.sealing import SealBroken, seal, unseal

PASSWORD, SECRET, HEADER_VALUE = "webhook-password", "webhook-secret", "webhook-header-value"


class RequestMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST"


class ContentType(models.TextChoices):
    JSON = "application/json", "JSON"
    FORM = "application/x-www-form-urlencoded", "Form (payload=<JSON>)"


def _open(sealed: str, purpose: str) -> str:
    """SEALED opened; empty when nothing is stored or it was sealed under another secret key."""
    if not sealed:
        return ""
    try:
        return unseal(sealed, purpose=purpose)
    except SealBroken:
        return ""


class Webhook(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=255)
    url = models.URLField(max_length=2000)
    request_method = models.CharField(max_length=4, choices=RequestMethod.choices, default=RequestMethod.POST)
    content_type = models.CharField(max_length=64, choices=ContentType.choices, default=ContentType.JSON)
    username = models.CharField(max_length=255, blank=True)
    # Sealed (portus.sealing, keyed from the secret key): the original kept the password in plain.
    password_sealed = models.TextField(blank=True)
    # The HMAC-SHA256 key of the X-Portus-Signature-256 header; sealed, empty for no signature.
    secret_sealed = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    # Imported from the original, whose form webhooks sent the event's JSON text itself under the form
    # content type: kept, so their receivers keep working. A webhook made here sends a real form.
    original_form_body = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["namespace", "name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    @property
    def body_description(self) -> str:
        if self.content_type == ContentType.FORM and self.original_form_body:
            return "Form content type, the JSON text as the original sent it"
        return self.get_content_type_display()

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def password(self) -> str:
        return _open(self.password_sealed, PASSWORD)

    def set_password(self, plain: str) -> None:
        self.password_sealed = seal(plain, purpose=PASSWORD) if plain else ""

    @property
    def secret(self) -> str:
        return _open(self.secret_sealed, SECRET)

    def set_secret(self, plain: str) -> None:
        self.secret_sealed = seal(plain, purpose=SECRET) if plain else ""

    @property
    def has_password(self) -> bool:
        return bool(self.password_sealed)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_sealed)


class WebhookHeader(models.Model):
    """A header sent with every delivery of its webhook; the value is sealed (it often carries a token)."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="headers")
    name = models.CharField(max_length=255)
    value_sealed = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["webhook", "name"], name="webhook_header_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def value(self) -> str:
        return _open(self.value_sealed, HEADER_VALUE)

    def set_value(self, plain: str) -> None:
        self.value_sealed = seal(plain, purpose=HEADER_VALUE)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its (next) attempt, or being sent under a claim
    DELIVERED = "delivered", "Delivered"  # the receiver answered 2xx
    FAILED = "failed", "Failed"  # gave up after webhooks_outgoing.max_attempts


class WebhookDelivery(models.Model):
    """One event sent (or to send) to one webhook: what was sent, what came back, and the worker's claim."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    uuid = models.UUIDField(default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=16)  # push, delete, scan
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    # The last attempt's HTTP status (None: no answer, see error).
    status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The event's JSON, as built when the event happened; every attempt sends these bytes.
    request_body = models.TextField()
    # What the last attempt sent and received, each header on a line; bodies truncated.
    request_header = models.TextField(blank=True)
    response_header = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True)  # seconds of the last attempt
    attempts = models.PositiveIntegerField(default=0)
    # Whoever holds ``claim`` until ``lease_until`` is sending; a pending delivery with a future
    # lease_until waits for its retry (backoff), as RegistryEvent does.
    claim = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    retrigger_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["webhook", "uuid"], name="webhook_delivery_uuid_unique")]
        indexes = [models.Index(fields=["state", "id"], name="webhook_delivery_state_id")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.state})"

    @property
    def success(self) -> bool:
        return self.state == DeliveryState.DELIVERED

    def as_retrigger(self, **fields: Any) -> WebhookDelivery:
        """A new pending delivery sending this one's body again (the log of this one stays as it was)."""
        return WebhookDelivery(
            webhook_id=self.webhook_id, event=self.event, request_body=self.request_body, retrigger_of=self, **fields
        )
