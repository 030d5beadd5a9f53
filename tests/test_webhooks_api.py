"""The webhooks API: /api/v1/namespaces/{key}/webhooks, headers, deliveries and retrigger, for owners and admins."""

from __future__ import annotations

import pytest

from portus.registry.models import Activity
from portus.webhooks.actions import WebhookFields, create_webhook
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)

BASE = "namespaces/acme/webhooks"


def test_an_owner_creates_a_webhook_and_gets_its_secret_once(api: Api) -> None:
    created = api.post(
        BASE,
        {
            "name": "ci",
            "url": "https://ci.example.com/hook",
            "username": "u",
            "password": "p",
            "content_type": "application/x-www-form-urlencoded",
        },
        persona="owner",
    )
    assert created.status == 201, created.body
    assert created.body["has_password"] and created.body["has_secret"] and len(created.body["secret"]) >= 32
    assert created.body["content_type"] == "application/x-www-form-urlencoded"
    shown = api.get(f"{BASE}/{created.body['id']}", persona="owner")
    assert "secret" not in shown.body and "password" not in shown.body
    assert Webhook.objects.get().secret == created.body["secret"]
    assert Activity.objects.filter(action="webhook.create", actor=api.world.owner).exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [("admin", 200), ("owner", 200), ("contributor", 403), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_only_owners_and_admins_see_the_webhooks(api: Api, persona: str, status: int) -> None:
    create_webhook(
        namespace=api.world.namespace,
        fields=WebhookFields(name="ci", url="https://ci.example.com/"),
        actor=api.world.owner,
    )
    answer = api.get(BASE, persona=persona)
    assert answer.status == status
    if status == 200:
        assert [w["name"] for w in answer.body] == ["ci"]


@pytest.mark.parametrize("persona", ["contributor", "viewer"])
def test_contributors_and_viewers_cannot_create_change_or_delete(api: Api, persona: str) -> None:
    webhook, _ = create_webhook(
        namespace=api.world.namespace,
        fields=WebhookFields(name="ci", url="https://ci.example.com/"),
        actor=api.world.owner,
    )
    assert api.post(BASE, {"name": "x", "url": "https://x.example.com/"}, persona=persona).status == 403
    assert api.put(f"{BASE}/{webhook.pk}", {"enabled": False}, persona=persona).status == 403
    assert api.delete(f"{BASE}/{webhook.pk}", persona=persona).status == 403
    assert Webhook.objects.get().enabled


def test_update_headers_deliveries_retrigger_and_delete(api: Api) -> None:
    webhook, _ = create_webhook(
        namespace=api.world.namespace,
        fields=WebhookFields(name="ci", url="https://ci.example.com/"),
        actor=api.world.owner,
    )
    changed = api.put(
        f"{BASE}/{webhook.pk}", {"request_method": "GET", "url": "https://ci2.example.com/h"}, persona="owner"
    )
    assert (changed.status, changed.body["request_method"], changed.body["url"]) == (
        200,
        "GET",
        "https://ci2.example.com/h",
    )
    header = api.put(f"{BASE}/{webhook.pk}/headers/X-Token", {"value": "abc"}, persona="owner")
    assert header.body["headers"] == [{"name": "X-Token", "value": "abc"}]
    assert api.put(f"{BASE}/{webhook.pk}/headers/Host", {"value": "evil"}, persona="owner").status == 400
    first = WebhookDelivery.objects.create(
        webhook=webhook, event="push", request_body='{"id":"e"}', state=DeliveryState.FAILED
    )
    listed = api.get(f"{BASE}/{webhook.pk}/deliveries", persona="owner")
    assert [(d["uuid"], d["state"]) for d in listed.body] == [(str(first.uuid), "failed")]
    again = api.post(f"{BASE}/{webhook.pk}/deliveries/{first.pk}/retrigger", persona="owner")
    assert (again.status, again.body["state"], again.body["retrigger_of"]) == (202, "pending", first.pk)
    assert api.post(f"{BASE}/{webhook.pk}/deliveries/{first.pk}/retrigger", persona="contributor").status == 403
    assert api.delete(f"{BASE}/{webhook.pk}/headers/X-Token", persona="owner").status == 204
    assert api.delete(f"{BASE}/{webhook.pk}", persona="owner").status == 204
    assert not Webhook.objects.exists()
    assert Activity.objects.filter(action="webhook.delete").exists()


def test_a_bad_address_is_a_400_with_a_sentence(api: Api) -> None:
    answer = api.post(BASE, {"name": "x", "url": "ftp://x.example.com/"}, persona="owner")
    assert answer.status == 400 and "http://" in answer.body["message"]


def test_the_openapi_document_describes_the_webhook_routes(api: Api) -> None:
    paths = api.get("/api/openapi.json", persona=None).body["paths"]
    assert "/api/v1/namespaces/{key}/webhooks" in paths
    assert "/api/v1/namespaces/{key}/webhooks/{webhook_id}/deliveries/{delivery_id}/retrigger" in paths
