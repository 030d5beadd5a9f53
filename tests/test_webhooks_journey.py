"""The webhook pages in a real browser (Debian's Chromium through Playwright) with JavaScript off, on a live
Portus, a real docker-registry, skopeo, the background worker as its own process and a receiver on loopback.

The journey: the namespace's owner opens Webhooks from the namespace page, adds one and copies its secret
(shown once), sees it listed, adds a header; a contributor pushes with skopeo; the worker applies the push
and delivers it; the owner sees the delivery with the receiver's answer, retriggers it, and sees the second
one delivered with the same body; the receiver checks both signatures with the copied secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.e2e import Stack, start_stack
from tests.support.background import start_worker
from tests.support.browser import launched_chromium, poll_page
from tests.support.images import make_image
from tests.support.registry import skopeo
from tests.support.webhook_receiver import Receiver, running_receiver

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def stack(live_server: Any, transactional_db: None, tmp_path: Path, portus_config: Any) -> Iterator[Stack]:
    # Everything that writes through the ORM happens here, before Playwright takes over the thread.
    portus_config("gravatar.enabled", False)
    yield from start_stack(live_server, tmp_path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def browser(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with launched_chromium(monkeypatch) as chromium:
        yield chromium


def signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_owner_adds_a_webhook_sees_a_push_delivered_and_retriggers_it(
    stack: Stack, receiver: Receiver, browser: Any, tmp_path: Path
) -> None:
    base = stack.portus_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    context.set_default_timeout(60_000)
    page = context.new_page()
    worker = None
    try:
        page.goto(f"{base}/login/")
        page.fill("#id_username", "owner")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]:has-text('Sign in')")
        page.wait_for_url(f"{base}/")

        # 1. From the namespace page to its webhooks, and a new one.
        page.goto(f"{base}/namespaces/{stack.world.namespace.pk}/")
        page.get_by_role("link", name="Webhooks").click()
        page.wait_for_url(re.compile(r"/webhooks/$"))
        assert "No webhooks yet." in page.inner_text("#webhooks")
        page.get_by_role("link", name="New webhook").click()
        page.fill("#id_name", "ci")
        page.fill("#id_url", receiver.url)
        page.check("input[name=request_method][value=POST]")
        page.check("input[name=content_type][value='application/json']")
        page.fill("#id_username", "portus")
        page.fill("#id_password", "receiver-password")
        page.click("button:has-text('Add webhook')")

        # 2. The secret is shown once, in the answer itself.
        page.wait_for_selector("text=Webhook ci added.")
        secret = page.input_value("#webhook-secret")
        assert len(secret) >= 32
        page.get_by_role("link", name="All webhooks").click()
        row = page.locator("#webhooks tr[data-webhook=ci]")
        assert receiver.url in row.inner_text() and "enabled" in row.inner_text() and "none yet" in row.inner_text()
        assert secret not in page.content()

        # 3. A header for every delivery; its value is not shown back, nor the password.
        row.get_by_role("link", name="ci", exact=True).click()
        page.fill("#id_header-name", "X-Token")
        page.fill("#id_header-value", "team-token-123")
        page.click("button:has-text('Set header')")
        page.wait_for_selector("text=Header X-Token set")
        content = page.content()
        assert "X-Token" in page.inner_text("#headers") and "team-token-123" not in content
        assert "receiver-password" not in content and secret not in content
        webhook_url = page.url

        # 4. A contributor pushes; the worker applies the push and delivers it.
        image = make_image(tmp_path / "image", tag="v1", files={"app.txt": b"hello\n"})
        pushed = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"contributor:{PASSWORD}",
            image.reference,
            stack.ref("acme/app", "v1"),
        )
        assert pushed.returncode == 0, pushed.stderr
        worker = start_worker(
            tmp_path / "worker.log",
            PORTUS_BACKGROUND_SYNC_STRATEGY="disabled",
            # This journey is about a push; a finished scan would add a delivery of its own.
            PORTUS_BACKGROUND_SECURITY_SCANNING_ENABLED="false",
            PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="0.5",
            PORTUS_WEBHOOKS_OUTGOING_ALLOW_PRIVATE_ADDRESSES="true",
        )
        page.goto(webhook_url)
        page.get_by_role("link", name="Deliveries").click()
        deliveries_url = page.url
        delivered = "#deliveries li[data-state=delivered]"
        poll_page(page, lambda p: p.locator(delivered).count() == 1, "the push delivered")
        first = page.locator(delivered).first
        assert "push" in first.inner_text() and "answered 200" in first.inner_text()
        first.locator("summary").click()  # <details> opens without script
        log = first.inner_text()
        assert "X-Portus-Signature-256: sha256=" in log and "X-Receiver: test" in log and '"action":"push"' in log
        assert "team-token-123" not in log and "receiver-password" not in log

        # 5. Retrigger: a second delivery of the same body.
        first.get_by_role("button", name="Retrigger").click()
        page.wait_for_url(deliveries_url)
        page.wait_for_selector("text=Queued the delivery again")
        poll_page(page, lambda p: p.locator(delivered).count() == 2, "the retriggered delivery")
        assert "sent again from an earlier delivery" in page.locator(delivered).first.inner_text()
    except BaseException:
        if (tmp_path / "worker.log").exists():
            print((tmp_path / "worker.log").read_text(errors="replace")[-4000:])
        print(stack.registry.log()[-4000:])
        raise
    finally:
        context.close()
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()

    # What the receiver got: the registry's push, twice, each signed with the secret the page showed once.
    first_got, again = receiver.received
    assert first_got.body == again.body and json.loads(first_got.body)["target"]["tag"] == "v1"
    assert first_got.headers["X-Portus-Delivery"] != again.headers["X-Portus-Delivery"]
    for got in (first_got, again):
        assert hmac.compare_digest(got.headers["X-Portus-Signature-256"], signed(got.body, secret))
        assert got.headers["X-Token"] == "team-token-123"
        assert got.headers["Authorization"].startswith("Basic ")
