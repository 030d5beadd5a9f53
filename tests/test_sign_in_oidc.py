"""Sign-in through OpenID Connect with a real provider: the certified `oidc-provider` package on Node
(tests/support/oidc, installed by `npm ci` from scripts/setup), started on a loopback port, and a real browser
(Debian's Chromium through Playwright) on a live Portus.

The journey: discovery; the code flow with PKCE (the provider refuses a flow without it); the person picks a
user name (prefilled from the configured claim) and gets an account and personal namespace; signs out and in
again; someone whose verified address is an existing account's signs in to that account."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.conf import settings

from portus.accounts.models import User
from portus.accounts.providers import social_providers
from portus.registry.models import Namespace
from tests.conftest import make_world, require
from tests.support.registry import free_port
from tests.test_web_journeys import browser, new_page  # noqa: F401  (browser: the Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

OIDC_DIR = Path(__file__).resolve().parent / "support" / "oidc"
CLIENT_ID = "portus"
CLIENT_SECRET = "portus-test-client-secret-0123456789"
ACCOUNTS = {
    "jane": {"email": "jane@example.com", "email_verified": True, "preferred_username": "Jane.Doe", "name": "Jane Doe"},
    # An existing Portus account's address, verified by the provider.
    "olivia": {"email": "owner@example.com", "email_verified": True, "preferred_username": "olivia"},
}
DEADLINE_SECONDS = 30


@pytest.fixture
def portus_url(live_server: Any) -> str:
    # oidc-provider refuses "localhost" in a web client's redirect URI; the live server answers on 127.0.0.1.
    return str(live_server.url).replace("localhost", "127.0.0.1")


@pytest.fixture
def oidc_issuer(portus_url: str, tmp_path: Path) -> Iterator[str]:
    node = shutil.which("node")
    require(node is not None, "Node.js is not installed (apt-get install nodejs npm)")
    require(
        (OIDC_DIR / "node_modules" / "oidc-provider").is_dir(),
        "oidc-provider is not installed: run `npm ci` in tests/support/oidc (scripts/setup does)",
    )
    port = free_port()
    config = {
        "port": port,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": f"{portus_url}/accounts/oidc/oidc/login/callback/",
        "accounts": ACCOUNTS,
    }
    config_file = tmp_path / "oidc.json"
    config_file.write_text(json.dumps(config))
    log = (tmp_path / "oidc.log").open("w")
    process = subprocess.Popen([str(node), str(OIDC_DIR / "provider.mjs"), str(config_file)], stdout=log, stderr=log)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"oidc-provider did not start: {(tmp_path / 'oidc.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def oidc_enabled(oidc_issuer: str, portus_config: Any, settings: Any) -> str:
    for key, value in {
        "name": "Company SSO",
        "issuer": oidc_issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "enabled": True,
    }.items():
        portus_config(f"oauth.openid_connect.{key}", value)
    settings.SOCIALACCOUNT_PROVIDERS = social_providers(settings.PORTUS.oauth)
    return oidc_issuer


def sign_in_at_provider(page: Any, base: str, login: str, *, consent: bool) -> None:
    page.goto(f"{base}/login/")
    page.get_by_role("button", name="Sign in with Company SSO").click()
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password: the development sign-in page")
    page.get_by_role("button", name="Sign-in").click()
    if consent:
        page.get_by_role("button", name="Continue").click()


def test_openid_connect_sign_up_sign_out_sign_in_again_and_link_by_verified_address(
    browser: Any,  # noqa: F811
    portus_url: str,
    oidc_enabled: str,
    transactional_db: None,
) -> None:
    world = make_world()
    page = new_page(browser)
    authorize_requests: list[str] = []
    page.on("request", lambda request: authorize_requests.append(request.url) if "/auth?" in request.url else None)

    # First sign-in: discovery, the code flow with PKCE, the provider's sign-in and consent pages.
    sign_in_at_provider(page, portus_url, "jane", consent=True)
    page.wait_for_url(f"{portus_url}/accounts/3rdparty/signup/")
    assert page.input_value("input[name=username]") == "jane.doe"  # preferred_username, fitted to the rules
    page.fill("input[name=username]", "Jane Doe")  # not a namespace name: refused with the rule
    page.get_by_role("button", name="Create account").click()
    assert "lower-case letters" in page.inner_text("main")
    page.fill("input[name=username]", "jane")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{portus_url}/")
    assert authorize_requests and authorize_requests[0].startswith(f"{oidc_enabled}/auth?")
    assert "code_challenge_method=S256" in authorize_requests[0] and "code_challenge=" in authorize_requests[0]
    jane = User.objects.get(username="jane")
    assert jane.email == "jane@example.com" and not jane.has_usable_password()
    assert SocialAccount.objects.get(user=jane).provider == "oidc"
    assert Namespace.objects.filter(owner=jane, name="jane").exists()

    # The profile says how to log in to the registry, and lists the link.
    page.goto(f"{portus_url}/profile/")
    profile = page.inner_text("main")
    assert "Company SSO: linked as Jane.Doe" in profile
    assert "you have no password for docker login: create a token below" in profile

    # Sign out, then in again: the provider remembers the person; Portus finds the account by its link.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()
    page.goto(f"{portus_url}/login/")
    page.get_by_role("button", name="Sign in with Company SSO").click()
    page.wait_for_url(f"{portus_url}/")
    page.goto(f"{portus_url}/profile/")
    assert page.locator("h1").inner_text() == "jane"
    assert User.objects.filter(email="jane@example.com").count() == 1

    # Someone else, in another browser: their verified address is the owner's, so they sign in as the owner.
    other = new_page(browser)
    sign_in_at_provider(other, portus_url, "olivia", consent=True)
    other.wait_for_url(f"{portus_url}/")
    other.goto(f"{portus_url}/profile/")
    assert other.locator("h1").inner_text() == "owner"
    assert SocialAccount.objects.get(user=world.owner).provider == "oidc"
    assert not User.objects.filter(username="olivia").exists()
    assert settings.PORTUS.oauth.openid_connect.pkce
