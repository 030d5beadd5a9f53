"""Sending outgoing webhooks: the worker's claim on a delivery, the request, and what is kept of it.

Built like the registry events' flow: a delivery is claimed with a compare-and-set UPDATE that also sets
a lease; the request runs outside any transaction; the outcome is saved only if the claim still holds.
A worker killed mid-request leaves the delivery to whoever sees its lease expire, who sends it again:
delivery is at least once, and receivers tell a repeat by its ``X-Portus-Delivery`` id.

Requests go only to public addresses unless ``webhooks_outgoing`` allows more: the host is resolved
once, every address it resolves to is checked, and the connection is made to the checked address
(so a second lookup cannot send it elsewhere). Redirects are not followed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from portus.webhooks.models import ContentType, DeliveryState, Webhook, WebhookDelivery

log = logging.getLogger("portus.webhooks")
SIGNATURE_HEADER = "X-Portus-Signature-256"
USER_AGENT = "Portus-Webhook/1"
LOG_LIMIT = 65536  # characters of each header block and body kept in the delivery log
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The webhook's host is, or resolves to, an address webhooks may not reach; the message says which."""


@dataclass
class Attempt:
    """What one attempt sent and received."""

    status: int | None
    request_header: str
    response_header: str = ""
    response_body: str = ""
    duration: float = 0.0
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# -- which addresses --------------------------------------------------------------------------------------


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    text = settings.PORTUS.webhooks_outgoing.allowed_networks
    return [ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()]


def address_allowed(address: IPAddress) -> bool:
    """Public unicast addresses; the rest (loopback, private, link-local, shared, reserved, multicast)
    only when the configuration allows them."""
    config = settings.PORTUS.webhooks_outgoing
    if config.allow_private_addresses:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed_networks()):
        return True
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> IPAddress:
    """The address to connect to: HOST resolved, every address checked; AddressRefused if any is refused."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    refused = [str(a) for a in addresses if not address_allowed(a)]
    if refused or not addresses:
        raise AddressRefused(
            f"{host} resolves to {', '.join(refused) or 'nothing'}, which webhooks may not reach "
            "(loopback, private or reserved); an admin can allow it with webhooks_outgoing.allowed_networks "
            "or webhooks_outgoing.allow_private_addresses."
        )
    return addresses[0]


def _connect(address: IPAddress, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ADDRESS itself: no second name lookup that a rebinding DNS could answer differently."""
    sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((str(address), port))
    except OSError:
        sock.close()
        raise
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to a checked address while naming the host in the request."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.limit = timeout

    def connect(self) -> None:
        self.sock = _connect(self.address, self.port, self.limit)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address
        self.limit = timeout

    def connect(self) -> None:
        sock = _connect(self.address, self.port, self.limit)
        # The certificate is checked against the host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


# -- the request ------------------------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes, keyed with the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wire_body(delivery: WebhookDelivery, webhook: Webhook) -> bytes:
    """The JSON itself, or for a form webhook a form whose ``payload`` field holds the JSON (the JSON
    itself for one imported from the original, which sent that under the form content type)."""
    if webhook.content_type == ContentType.FORM and not webhook.original_form_body:
        return urlencode({"payload": delivery.request_body}).encode()
    return delivery.request_body.encode()


def request_headers(delivery: WebhookDelivery, webhook: Webhook, body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(headers to send, headers to log): the log leaves out the password and custom header values."""
    headers = {"Content-Type": webhook.content_type, "User-Agent": USER_AGENT}
    logged = dict(headers)
    for header in webhook.headers.all():
        headers[header.name] = header.value
        logged[header.name] = "(custom header value, not logged)"
    if webhook.username and webhook.password:
        token = base64.b64encode(f"{webhook.username}:{webhook.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        logged["Authorization"] = f"Basic (user {webhook.username}, password not logged)"
    ours = {"X-Portus-Event": delivery.event, "X-Portus-Delivery": str(delivery.uuid)}
    if webhook.secret:
        ours[SIGNATURE_HEADER] = signature(webhook.secret, body)
    headers.update(ours)
    logged.update(ours)
    return headers, logged


def _header_text(headers: dict[str, str] | list[tuple[str, str]]) -> str:
    items = headers.items() if isinstance(headers, dict) else headers
    return "\n".join(f"{name}: {value}" for name, value in items)[:LOG_LIMIT]


def _read_capped(response: http.client.HTTPResponse, cap: int, deadline: float) -> tuple[bytes, bool]:
    """At most CAP bytes of the answer (True when there was more), reading until DEADLINE at the latest."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took longer than webhooks_outgoing.timeout")
        chunk = response.read(min(8192, cap + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], True


def send(delivery: WebhookDelivery, webhook: Webhook) -> Attempt:
    """One attempt at DELIVERY; never raises for what the network or the receiver does."""
    config = settings.PORTUS.webhooks_outgoing
    body = wire_body(delivery, webhook)
    headers, logged = request_headers(delivery, webhook, body)
    attempt = Attempt(status=None, request_header=_header_text(logged))
    parts = urlsplit(webhook.url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    connection: http.client.HTTPConnection | None = None
    try:
        address = resolve(host, port)
        kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        connection = kind(host, port, address, config.timeout)
        # GET carries the body too, as the original Portus sent it.
        connection.request(webhook.request_method, target, body=body, headers=headers)
        response = connection.getresponse()
        content, more = _read_capped(response, config.max_response_bytes, started + config.timeout)
        attempt.status = response.status
        attempt.response_header = _header_text(response.getheaders())
        attempt.response_body = content.decode("utf-8", "replace")[:LOG_LIMIT]
        if more:
            attempt.response_body += f"\n[answer cut at {config.max_response_bytes} bytes]"
        if not attempt.delivered:
            attempt.error = f"the receiver answered {response.status} {response.reason}"
    except AddressRefused as exc:
        attempt.error = str(exc)
    except (OSError, http.client.HTTPException) as exc:
        attempt.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        attempt.duration = time.monotonic() - started
        if connection is not None:
            connection.close()
    return attempt


# -- the worker's side ------------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next attempt after ATTEMPTS failed ones: 10 s, 20 s, 40 s ... at most an hour."""
    return dt.timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 3600))


def claim(worker: str) -> tuple[WebhookDelivery, str] | None:
    """Claim (compare-and-set) the oldest pending delivery that is due."""
    now = timezone.now()
    free = Q(state=DeliveryState.PENDING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    config = settings.PORTUS
    # Longer than one attempt can take (connect, then the answer), so a live worker keeps its claim.
    lease = dt.timedelta(seconds=max(config.background.lease, 3 * config.webhooks_outgoing.timeout))
    for pk in WebhookDelivery.objects.filter(free).order_by("pk").values_list("pk", flat=True)[:8]:
        token = f"{worker}:{secrets.token_hex(4)}"[-64:]
        if WebhookDelivery.objects.filter(free, pk=pk).update(
            claim=token, lease_until=now + lease, attempts=F("attempts") + 1
        ):
            return WebhookDelivery.objects.select_related("webhook").get(pk=pk), token
    return None


def deliver(delivery: WebhookDelivery, token: str) -> Attempt | None:
    """Send a claimed delivery and save the outcome; None when another worker took the claim over meanwhile."""
    webhook = delivery.webhook
    if webhook.enabled:
        attempt = send(delivery, webhook)
    else:
        attempt = Attempt(status=None, request_header="", error="not sent: the webhook is disabled")
    now = timezone.now()
    fields = {
        "status": attempt.status,
        "error": attempt.error[:2000],
        "request_header": attempt.request_header,
        "response_header": attempt.response_header,
        "response_body": attempt.response_body,
        "duration": attempt.duration,
        "claim": "",
        "updated_at": now,
    }
    if attempt.delivered:
        fields.update(state=DeliveryState.DELIVERED, lease_until=None, delivered_at=now)
    elif not webhook.enabled or delivery.attempts >= settings.PORTUS.webhooks_outgoing.max_attempts:
        fields.update(state=DeliveryState.FAILED, lease_until=None)
    else:
        fields.update(lease_until=now + backoff(delivery.attempts))
    saved = WebhookDelivery.objects.filter(pk=delivery.pk, claim=token, state=DeliveryState.PENDING).update(**fields)
    if not saved:
        log.warning("delivery %s was taken over by another worker; its outcome is dropped", delivery.uuid)
        return None
    log.info(
        "webhook %s delivery %s attempt %d: %s",
        webhook.pk,
        delivery.uuid,
        delivery.attempts,
        attempt.status if attempt.delivered else attempt.error,
    )
    return attempt
