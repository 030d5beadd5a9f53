"""/api/v1/namespaces/{key}/webhooks: a namespace's outgoing webhooks, their headers and deliveries."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from portus import policy
from portus.api.auth import SIGNED_IN, signed_in
from portus.api.errors import ERRORS, forbidden, not_found
from portus.api.lookups import visible_namespace
from portus.api.params import Key
from portus.api.schemas import (
    Error,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookHeaderOut,
    WebhookHeaderSet,
    WebhookOut,
    WebhookUpdate,
)
from portus.registry.models import Namespace
from portus.webhooks import actions
from portus.webhooks.actions import WebhookFields
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery

router = Router(tags=["webhooks"])
DELIVERIES_SHOWN = 100


def _namespace(request: HttpRequest, key: str) -> Namespace:
    namespace = visible_namespace(request, key)
    if not policy.can_manage_webhooks(signed_in(request), namespace):
        raise forbidden(f"Only owners of {namespace.display_name} (or admins) may see and change its webhooks.")
    return namespace


def _webhook(request: HttpRequest, key: str, webhook_id: int) -> Webhook:
    namespace = _namespace(request, key)
    found = policy.manageable_webhooks(signed_in(request)).filter(namespace=namespace, pk=webhook_id).first()
    if found is None:
        raise not_found("webhook")
    return found


def webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=webhook.pk,
        namespace=webhook.namespace.display_name,
        name=webhook.name,
        url=webhook.url,
        request_method=webhook.request_method,  # type: ignore[arg-type]
        content_type=webhook.content_type,  # type: ignore[arg-type]
        username=webhook.username,
        has_password=webhook.has_password,
        has_secret=webhook.has_secret,
        enabled=webhook.enabled,
        headers=[WebhookHeaderOut(name=h.name, value=h.value) for h in webhook.headers.all()],
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def delivery_out(delivery: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.pk,
        uuid=str(delivery.uuid),
        event=delivery.event,
        state=delivery.state,  # type: ignore[arg-type]
        status=delivery.status,
        error=delivery.error,
        attempts=delivery.attempts,
        request_header=delivery.request_header,
        request_body=delivery.request_body,
        response_header=delivery.response_header,
        response_body=delivery.response_body,
        duration=delivery.duration,
        next_attempt_at=delivery.lease_until if delivery.state == DeliveryState.PENDING else None,
        retrigger_of=delivery.retrigger_of_id,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


@router.get(
    "/{key}/webhooks",
    response={200: list[WebhookOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary="List a namespace's webhooks (owners and admins)",
)
def list_webhooks(request: HttpRequest, key: Key) -> list[WebhookOut]:
    namespace = _namespace(request, key)
    webhooks = policy.manageable_webhooks(signed_in(request)).filter(namespace=namespace)
    return [webhook_out(w) for w in webhooks.select_related("namespace__registry").prefetch_related("headers")]


@router.post(
    "/{key}/webhooks",
    response={201: WebhookCreated, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Add a webhook; the answer carries its signing secret, shown this once",
)
def create_webhook(request: HttpRequest, key: Key, payload: WebhookCreate) -> Status[WebhookCreated]:
    namespace = _namespace(request, key)
    webhook, secret = actions.create_webhook(
        namespace=namespace, fields=WebhookFields(**payload.model_dump()), actor=signed_in(request)
    )
    return Status(201, WebhookCreated(**webhook_out(webhook).model_dump(), secret=secret))


@router.get(
    "/{key}/webhooks/{webhook_id}",
    response={200: WebhookOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Show a webhook",
)
def show_webhook(request: HttpRequest, key: Key, webhook_id: int) -> WebhookOut:
    return webhook_out(_webhook(request, key, webhook_id))


@router.put(
    "/{key}/webhooks/{webhook_id}",
    response={200: WebhookOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Change a webhook (only the fields given)",
)
def update_webhook(request: HttpRequest, key: Key, webhook_id: int, payload: WebhookUpdate) -> WebhookOut:
    webhook = _webhook(request, key, webhook_id)
    fields = WebhookFields(**payload.model_dump())
    return webhook_out(actions.update_webhook(webhook=webhook, fields=fields, actor=signed_in(request)))


@router.delete(
    "/{key}/webhooks/{webhook_id}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Delete a webhook and its delivery log",
)
def delete_webhook(request: HttpRequest, key: Key, webhook_id: int) -> Status[None]:
    actions.delete_webhook(webhook=_webhook(request, key, webhook_id), actor=signed_in(request))
    return Status(204, None)


@router.put(
    "/{key}/webhooks/{webhook_id}/headers/{name}",
    response={200: WebhookOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Add a header to every delivery, or change its value",
)
def set_header(request: HttpRequest, key: Key, webhook_id: int, name: str, payload: WebhookHeaderSet) -> WebhookOut:
    webhook = _webhook(request, key, webhook_id)
    actions.set_header(webhook=webhook, name=name, value=payload.value, actor=signed_in(request))
    return webhook_out(webhook)


@router.delete(
    "/{key}/webhooks/{webhook_id}/headers/{name}",
    response={204: None, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Remove a header",
)
def remove_header(request: HttpRequest, key: Key, webhook_id: int, name: str) -> Status[None]:
    header = _webhook(request, key, webhook_id).headers.filter(name__iexact=name).first()
    if header is None:
        raise not_found("header")
    actions.remove_header(header=header, actor=signed_in(request))
    return Status(204, None)


@router.get(
    "/{key}/webhooks/{webhook_id}/deliveries",
    response={200: list[WebhookDeliveryOut], ERRORS: Error},
    auth=SIGNED_IN,
    summary=f"The webhook's last {DELIVERIES_SHOWN} deliveries, newest first",
)
def list_deliveries(request: HttpRequest, key: Key, webhook_id: int) -> list[WebhookDeliveryOut]:
    webhook = _webhook(request, key, webhook_id)
    return [delivery_out(d) for d in webhook.deliveries.all()[:DELIVERIES_SHOWN]]


@router.post(
    "/{key}/webhooks/{webhook_id}/deliveries/{delivery_id}/retrigger",
    response={202: WebhookDeliveryOut, ERRORS: Error},
    auth=SIGNED_IN,
    summary="Send a delivery's body again, as a new delivery the worker sends",
)
def retrigger_delivery(request: HttpRequest, key: Key, webhook_id: int, delivery_id: int) -> Status[WebhookDeliveryOut]:
    webhook = _webhook(request, key, webhook_id)
    found = webhook.deliveries.filter(pk=delivery_id).first()
    if found is None:
        raise not_found("delivery")
    return Status(202, delivery_out(actions.retrigger_delivery(delivery=found, actor=signed_in(request))))
