"""The webhook pages: who may open and post to them (a table written by hand, as in test_web_page_access),
adding one with its secret shown once, the write-only password and header values, the on/off button,
a new secret, deleting, the deliveries log and retrigger, CSRF."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from portus.registry.models import Activity, Namespace, NamespaceKind
from portus.webhooks import actions
from portus.webhooks.actions import WebhookFields
from portus.webhooks.models import DeliveryState, Webhook, WebhookDelivery
from tests.conftest import World
from tests.support.web import PERSONAS, client_as, is_sign_in_redirect

pytestmark = pytest.mark.django_db

PASSWORD_SENT = "basic-auth-pw-Zq81"
HEADER_VALUE = "Bearer header-token-Kw27"
STATUS = {"admin": 200, "owner": 200, "contributor": 403, "viewer": 403, "outsider": 404, "anonymous": "login"}


def make_webhook(world: World, **fields: object) -> Webhook:
    given = WebhookFields(
        **{
            "name": "ci",
            "url": "https://ci.example.com/hook",
            "username": "portus",
            "password": PASSWORD_SENT,
            **fields,
        }
    )
    webhook = actions.create_webhook(namespace=world.namespace, fields=given, actor=world.owner)[0]
    actions.set_header(webhook=webhook, name="X-Token", value=HEADER_VALUE, actor=world.owner)
    return webhook


def make_delivery(webhook: Webhook, **fields: object) -> WebhookDelivery:
    values = {
        "event": "push",
        "state": DeliveryState.DELIVERED,
        "status": 200,
        "attempts": 1,
        "duration": 0.042,
        "request_body": '{"action":"push","target":{"repository":"acme/app"}}',
        "request_header": "Content-Type: application/json\nX-Portus-Event: push",
        "response_header": "X-Receiver: test",
        "response_body": "thanks",
        **fields,
    }
    return WebhookDelivery.objects.create(webhook=webhook, **values)


def urls(world: World, webhook: Webhook, delivery: WebhookDelivery) -> dict[str, str]:
    base = f"/namespaces/{world.namespace.pk}/webhooks"
    one = f"{base}/{webhook.pk}"
    return {
        "list": f"{base}/",
        "new": f"{base}/new/",
        "edit": f"{one}/",
        "enabled": f"{one}/enabled/",
        "header": f"{one}/headers/",
        "header-remove": f"{one}/headers/{webhook.headers.get().pk}/remove/",
        "secret": f"{one}/secret/",
        "delete": f"{one}/delete/",
        "deliveries": f"{one}/deliveries/",
        "retrigger": f"{one}/deliveries/{delivery.pk}/retrigger/",
    }


def answered(response: object, wanted: object) -> bool:
    if wanted == "login":
        return is_sign_in_redirect(response)
    return response.status_code == wanted  # type: ignore[attr-defined]


# -- who may ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("page", ["list", "new", "edit", "delete", "deliveries"])
def test_webhook_pages_open_to_namespace_owners_and_admins_only(world: World, page: str, persona: str) -> None:
    webhook = make_webhook(world)
    url = urls(world, webhook, make_delivery(webhook))[page]
    response = client_as(world, persona).get(url)
    assert answered(response, STATUS[persona]), (url, persona, response.status_code)
    if response.status_code == 200:
        assert "ci.example.com" in response.content.decode() or page == "new"


POSTS = {
    "new": {
        "name": "evil",
        "url": "https://evil.example.com/",
        "request_method": "POST",
        "content_type": "application/json",
    },
    "edit": {
        "name": "ci",
        "url": "https://evil.example.com/",
        "request_method": "POST",
        "content_type": "application/json",
        "enabled": "on",
    },
    "enabled": {"enabled": "false"},
    "header": {"header-name": "X-Evil", "header-value": "1"},
    "header-remove": {},
    "secret": {},
    "delete": {},
    "retrigger": {},
}


@pytest.mark.parametrize("persona", ["contributor", "viewer", "outsider", "anonymous"])
@pytest.mark.parametrize("action", list(POSTS))
def test_contributors_viewers_outsiders_and_visitors_cannot_change_webhooks(
    world: World, action: str, persona: str
) -> None:
    webhook = make_webhook(world)
    delivery = make_delivery(webhook)
    before = (
        list(Webhook.objects.values()),
        list(webhook.headers.values()),
        WebhookDelivery.objects.count(),
        Activity.objects.count(),
    )
    response = client_as(world, persona).post(urls(world, webhook, delivery)[action], POSTS[action])
    assert answered(response, STATUS[persona]), (action, persona, response.status_code)
    after = (
        list(Webhook.objects.values()),
        list(webhook.headers.values()),
        WebhookDelivery.objects.count(),
        Activity.objects.count(),
    )
    assert after == before


def test_a_webhook_of_another_namespace_is_not_found_under_this_one(world: World) -> None:
    webhook = make_webhook(world)
    personal = Namespace.objects.get(kind=NamespaceKind.PERSONAL, owner=world.owner)
    client = client_as(world, "owner")
    assert client.get(f"/namespaces/{personal.pk}/webhooks/").status_code == 200
    assert client.get(f"/namespaces/{personal.pk}/webhooks/{webhook.pk}/").status_code == 404
    assert client.post(f"/namespaces/{personal.pk}/webhooks/{webhook.pk}/delete/").status_code == 404
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_the_namespace_page_links_to_webhooks_for_owners_only(world: World) -> None:
    link = f'href="/namespaces/{world.namespace.pk}/webhooks/"'
    assert link in client_as(world, "owner").get(f"/namespaces/{world.namespace.pk}/").content.decode()
    assert link in client_as(world, "admin").get(f"/namespaces/{world.namespace.pk}/").content.decode()
    for persona in ("contributor", "viewer"):
        page = client_as(world, persona).get(f"/namespaces/{world.namespace.pk}/")
        assert page.status_code == 200 and link not in page.content.decode()


def test_a_post_without_the_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    response = client.post(
        f"/namespaces/{world.namespace.pk}/webhooks/new/",
        {"name": "ci", "url": "https://ci.example.com/", "request_method": "POST", "content_type": "application/json"},
    )
    assert response.status_code == 403
    assert not Webhook.objects.exists()


# -- what the owner does ---------------------------------------------------------------------------------


def test_owner_adds_a_webhook_and_sees_its_secret_once(world: World) -> None:
    client = client_as(world, "owner")
    response = client.post(
        f"/namespaces/{world.namespace.pk}/webhooks/new/",
        {
            "name": "deploy",
            "url": "https://deploy.example.com/hook",
            "request_method": "GET",
            "content_type": "application/x-www-form-urlencoded",
            "username": "portus",
            "password": PASSWORD_SENT,
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    webhook = Webhook.objects.get()
    assert (webhook.name, webhook.request_method, webhook.content_type, webhook.enabled) == (
        "deploy",
        "GET",
        "application/x-www-form-urlencoded",
        True,
    )
    assert webhook.password == PASSWORD_SENT
    shown = re.search(r'id="webhook-secret" type="text" readonly value="([^"]+)"', response.content.decode())
    assert shown is not None and shown.group(1) == webhook.secret
    assert Activity.objects.filter(action="webhook.create", actor=world.owner).exists()
    for url in (
        f"/namespaces/{world.namespace.pk}/webhooks/",
        f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/",
    ):
        page = client.get(url).content.decode()
        assert "deploy.example.com" in page
        assert webhook.secret not in page and PASSWORD_SENT not in page


def test_an_address_that_is_not_http_is_refused_with_the_reason(world: World) -> None:
    response = client_as(world, "owner").post(
        f"/namespaces/{world.namespace.pk}/webhooks/new/",
        {"name": "ci", "url": "ftp://ci.example.com/", "request_method": "POST", "content_type": "application/json"},
    )
    assert response.status_code == 400
    assert "is not an http:// or https:// address" in response.content.decode()
    assert not Webhook.objects.exists()


def test_saving_with_an_empty_password_keeps_it_and_the_box_removes_it(world: World) -> None:
    webhook = make_webhook(world)
    client = client_as(world, "owner")
    url = f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/"
    page = client.get(url).content.decode()
    assert PASSWORD_SENT not in page and HEADER_VALUE not in page and "password: set" in page
    fields = {"name": "ci2", "url": "http://ci.example.com/x", "request_method": "POST"}
    fields |= {"content_type": "application/json", "username": "portus"}
    response = client.post(url, {**fields, "password": ""})  # enabled unticked: turned off
    assert response.status_code == 302 and response["Location"] == url
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url, webhook.enabled, webhook.password) == (
        "ci2",
        "http://ci.example.com/x",
        False,
        PASSWORD_SENT,
    )
    client.post(url, {**fields, "password": "another-one", "enabled": "on"})
    webhook.refresh_from_db()
    assert webhook.password == "another-one" and webhook.enabled
    client.post(url, {**fields, "password": "ignored", "clear_password": "on", "enabled": "on"})
    webhook.refresh_from_db()
    assert not webhook.has_password
    assert "password: none" in client.get(url).content.decode()


def test_the_list_turns_a_webhook_off_and_on(world: World) -> None:
    webhook = make_webhook(world)
    client = client_as(world, "owner")
    listing = f"/namespaces/{world.namespace.pk}/webhooks/"
    assert 'aria-label="Disable ci"' in client.get(listing).content.decode()
    response = client.post(f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/enabled/", {"enabled": "false"})
    assert response.status_code == 302 and response["Location"] == listing
    webhook.refresh_from_db()
    assert not webhook.enabled
    assert 'aria-label="Enable ci"' in client.get(listing).content.decode()
    client.post(f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/enabled/", {"enabled": "true"})
    webhook.refresh_from_db()
    assert webhook.enabled
    toggles = Activity.objects.filter(action__in=["webhook.enable", "webhook.disable"]).order_by("pk")
    assert list(toggles.values_list("action", flat=True)) == ["webhook.disable", "webhook.enable"]


def test_headers_are_added_changed_and_removed_and_their_values_never_shown(world: World) -> None:
    webhook = make_webhook(world)
    client = client_as(world, "owner")
    base = f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}"
    response = client.post(f"{base}/headers/", {"header-name": "X-Team", "header-value": "acme-secret-value"})
    assert response.status_code == 302
    assert {h.name: h.value for h in webhook.headers.all()} == {"X-Token": HEADER_VALUE, "X-Team": "acme-secret-value"}
    page = client.get(f"{base}/").content.decode()
    assert "X-Team" in page and "acme-secret-value" not in page
    refused = client.post(
        f"{base}/headers/", {"header-name": "X-Portus-Signature-256", "header-value": "forged"}, follow=True
    )
    assert "is set by Portus on every delivery" in refused.content.decode()
    header = webhook.headers.get(name="X-Team")
    client.post(f"{base}/headers/{header.pk}/remove/")
    assert list(webhook.headers.values_list("name", flat=True)) == ["X-Token"]


def test_a_new_secret_is_shown_once_and_replaces_the_old_one(world: World) -> None:
    webhook = make_webhook(world)
    old = webhook.secret
    response = client_as(world, "owner").post(f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/secret/")
    webhook.refresh_from_db()
    assert webhook.secret != old
    assert f'value="{webhook.secret}"' in response.content.decode()
    assert Activity.objects.filter(action="webhook.update", data__changed=["secret"]).exists()


def test_owner_deletes_a_webhook_with_its_deliveries(world: World) -> None:
    webhook = make_webhook(world)
    make_delivery(webhook)
    client = client_as(world, "owner")
    response = client.post(f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/namespaces/{world.namespace.pk}/webhooks/"
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
    assert "Webhook ci deleted" in client.get(response["Location"]).content.decode()


def test_the_deliveries_page_shows_the_log_cut_and_retrigger_queues_a_new_delivery(world: World) -> None:
    webhook = make_webhook(world)
    long_body = "x" * 20_000
    failed = make_delivery(
        webhook,
        state=DeliveryState.FAILED,
        status=503,
        attempts=8,
        error="HTTP 503 from the receiver",
        response_body=long_body,
    )
    client = client_as(world, "owner")
    deliveries = f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/deliveries/"
    page = client.get(deliveries).content.decode()
    assert "Failed" in page and "<code>503</code>" in page and "HTTP 503 from the receiver" in page
    assert "X-Portus-Event: push" in page and "X-Receiver: test" in page and "0.042 s" in page
    assert "x" * 7000 in page and long_body not in page  # cut on the page; the API has the whole log
    response = client.post(f"{deliveries}{failed.pk}/retrigger/")
    assert response.status_code == 302 and response["Location"] == deliveries
    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.state, again.retrigger_of, again.request_body) == (
        DeliveryState.PENDING,
        failed,
        failed.request_body,
    )
    assert Activity.objects.filter(action="webhook.retrigger", actor=world.owner).exists()
    assert "sent again from an earlier delivery" in client.get(deliveries).content.decode()


def test_retrigger_of_a_disabled_webhook_is_refused_with_what_to_do(world: World) -> None:
    webhook = make_webhook(world, enabled=False)
    delivery = make_delivery(webhook)
    url = f"/namespaces/{world.namespace.pk}/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retrigger/"
    page = client_as(world, "owner").post(url, follow=True).content.decode()
    assert "The webhook is disabled; enable it first" in page
    assert WebhookDelivery.objects.count() == 1


def test_an_admin_manages_the_global_namespaces_webhooks_and_its_owner_cannot(world: World) -> None:
    global_namespace = Namespace.objects.get(kind=NamespaceKind.GLOBAL)
    assert client_as(world, "admin").get(f"/namespaces/{global_namespace.pk}/webhooks/").status_code == 200
    assert client_as(world, "owner").get(f"/namespaces/{global_namespace.pk}/webhooks/").status_code == 403
