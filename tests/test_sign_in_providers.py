"""Sign-in through GitHub, GitLab, Google and Bitbucket: django-allauth's own provider code against doubles that
answer the providers' documented endpoints on loopback (tests/support/oauth_providers.py), with the Portus
rules on top: organisation, team, group, workspace and domain restrictions; sign-up closed unless the provider
is trusted; linking only by a verified address; user names that satisfy the namespace rules; never unlinking
the last way to sign in; the password form turned off; and /v2/token refusing passwords when told to."""

from __future__ import annotations

import base64
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialLogin
from allauth.socialaccount.providers.github import views as github_views
from django.conf import settings
from django.test import Client

from portus.accounts.actions import create_token, create_user, set_enabled
from portus.accounts.models import User
from portus.accounts.providers import social_providers
from portus.accounts.social import PortusSocialAccountAdapter, proposed_username
from portus.config import ConfigError, load_config
from portus.registry.models import Activity, Namespace
from tests.conftest import PASSWORD, World
from tests.support.oauth_providers import Person, ProviderDouble

SLUGS = {"github": "github", "gitlab": "gitlab", "google_oauth2": "google", "bitbucket": "bitbucket_oauth2"}
CREDENTIALS = {
    "github": {"client_id": "gh-client", "client_secret": "gh-secret"},
    "gitlab": {"application_id": "gl-app", "secret": "gl-secret"},
    "google_oauth2": {"id": "google-client.apps.googleusercontent.com", "secret": "g-secret"},
    "bitbucket": {"key": "bb-key", "secret": "bb-secret"},
}
JANE = Person(login="Jane.Doe", uid=4242, email="jane@example.com")


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderDouble]:
    with ProviderDouble() as running:
        # The double answers the providers' host names, as a resolver entry would send them there.
        monkeypatch.setattr(PortusSocialAccountAdapter, "get_requests_session", lambda self: running.routed_session())
        yield running


@pytest.fixture
def enable(portus_config: Any, settings: Any) -> Any:
    """Turn a provider on with its credentials and extra settings, as config-local.yml would."""

    def turn_on(section: str, **values: Any) -> None:
        for key, value in {**CREDENTIALS[section], **values}.items():
            portus_config(f"oauth.{section}.{key}", value)
        portus_config(f"oauth.{section}.enabled", True)
        settings.SOCIALACCOUNT_PROVIDERS = social_providers(settings.PORTUS.oauth)

    return turn_on


def through(client: Client, double: ProviderDouble, slug: str, person: Person, process: str = "login") -> Any:
    """Press the provider's button, consent at the provider, come back: the callback's answer."""
    double.sign_in_as(person)
    started = client.post(f"/accounts/{slug}/login/", {"process": process})
    assert started.status_code == 302, started.content[:500]
    callback = urlsplit(double.consent(started["Location"]))
    assert callback.path == f"/accounts/{slug}/login/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def choose_name(client: Client, username: str, email: str = "") -> Any:
    return client.post("/accounts/3rdparty/signup/", {"username": username, "email": email})


def signed_in_as(client: Client) -> str | None:
    response = client.get("/profile/")
    return response.context["user"].username if response.status_code == 200 else None


# -- the restrictions, per provider ---------------------------------------------------------------------------------


def test_a_github_organization_member_picks_a_user_name_and_gets_an_account_and_namespace(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github", organization="acme-corp")
    member = Person(**{**JANE.__dict__, "github_orgs": {"acme-corp"}})
    response = through(client, double, "github", member)
    assert response.status_code == 302 and response["Location"] == "/accounts/3rdparty/signup/"
    page = client.get("/accounts/3rdparty/signup/")
    assert page.context["form"].initial["username"] == "jane.doe"  # GitHub's login, fitted to the rules
    assert page.context["form"].initial["email"] == "jane@example.com"
    done = choose_name(client, "jane.doe", "jane@example.com")
    assert done.status_code == 302 and done["Location"] == "/"
    user = User.objects.get(username="jane.doe")
    assert not user.has_usable_password()
    assert SocialAccount.objects.get(user=user).provider == "github"
    assert Namespace.objects.filter(owner=user, name="jane.doe").exists()
    assert Activity.objects.filter(action="user.signup", target="jane.doe").exists()
    assert signed_in_as(client) == "jane.doe"
    assert ("GET", "api.github.com", "/user/memberships/orgs/acme-corp") in double.requests
    assert not SocialApp.objects.exists()  # the app came from the settings alone
    # No password: docker login takes an application token.
    _, secret = create_token(user=user, name="laptop", actor=user)
    assert token_request(client, "jane.doe", secret).status_code == 200


def test_someone_outside_the_github_organization_is_refused_with_a_page_that_says_why(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github", organization="acme-corp")
    response = through(client, double, "github", Person(**{**JANE.__dict__, "github_orgs": {"other"}}))
    assert response.status_code == 403
    assert "Only members of the acme-corp organization on GitHub may sign in here." in response.content.decode()
    assert not SocialAccount.objects.exists() and signed_in_as(client) is None


def test_only_members_of_the_github_team_are_let_in(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github", organization="acme-corp", team="registry-users")
    outsider = Person(**{**JANE.__dict__, "github_orgs": {"acme-corp"}, "github_teams": {("acme-corp", "other")}})
    refused = through(client, double, "github", outsider)
    assert refused.status_code == 403 and "acme-corp/registry-users team" in refused.content.decode()
    member = Person(**{**JANE.__dict__, "github_teams": {("acme-corp", "registry-users")}})
    assert through(client, double, "github", member)["Location"] == "/accounts/3rdparty/signup/"
    assert ("GET", "api.github.com", "/orgs/acme-corp/teams/registry-users/memberships/Jane.Doe") in double.requests


def github_adapter_as_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """allauth's GitHub adapter takes its URLs from GITHUB_URL when its module is imported, at start (see
    test_github_enterprise_server_is_read_at_start); the suite imported it before this test turned the server
    on, so run that module's own code again with the settings now and give the adapter the URLs it computes."""
    spec = importlib.util.find_spec(github_views.__name__)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    for name in ("web_url", "api_url", "access_token_url", "authorize_url", "profile_url", "emails_url"):
        monkeypatch.setattr(github_views.GitHubOAuth2Adapter, name, getattr(fresh.GitHubOAuth2Adapter, name))


def test_a_github_enterprise_server_answers_the_sign_in_and_the_membership_check(
    world: World, double: ProviderDouble, enable: Any, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    double.extra_hosts.add("github.example.com")
    enable("github", organization="acme-corp", server="https://github.example.com")
    assert settings.SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"] == "https://github.example.com"
    github_adapter_as_started(monkeypatch)
    member = Person(**{**JANE.__dict__, "github_orgs": {"acme-corp"}})
    assert through(client, double, "github", member)["Location"] == "/accounts/3rdparty/signup/"
    # Every step went to the Enterprise server, its API under /api/v3; nothing to github.com.
    assert [host for _, host, _ in double.requests] == ["github.example.com"] * len(double.requests)
    assert ("GET", "github.example.com", "/login/oauth/authorize") in double.requests
    assert ("POST", "github.example.com", "/login/oauth/access_token") in double.requests
    assert ("GET", "github.example.com", "/api/v3/user") in double.requests
    assert ("GET", "github.example.com", "/api/v3/user/memberships/orgs/acme-corp") in double.requests


def test_github_enterprise_server_is_read_at_start(tmp_path: Path) -> None:
    """A fresh Portus with oauth.github.server set: allauth's GitHub adapter, imported at start, points at it."""
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PORTUS_DATA_DIR": str(tmp_path),
        "PORTUS_OAUTH_GITHUB_ENABLED": "true",
        "PORTUS_OAUTH_GITHUB_CLIENT_ID": "gh-client",
        "PORTUS_OAUTH_GITHUB_CLIENT_SECRET": "gh-secret",
        "PORTUS_OAUTH_GITHUB_SERVER": "https://github.example.com/",
    }
    program = (
        "import django; django.setup(); from django.urls import resolve; resolve('/accounts/github/login/'); "
        "from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter as A; "
        "print(A.authorize_url, A.access_token_url, A.profile_url, A.emails_url)"
    )
    started = subprocess.run(
        [sys.executable, "-c", program], env=environ, capture_output=True, text=True, timeout=120, check=False
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split() == [
        "https://github.example.com/login/oauth/authorize",
        "https://github.example.com/login/oauth/access_token",
        "https://github.example.com/api/v3/user",
        "https://github.example.com/api/v3/user/emails",
    ]


def test_a_self_hosted_gitlab_lets_group_members_in_and_refuses_others(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    double.extra_hosts.add("127.0.0.1")
    enable("gitlab", group="platform/registry", server=f"http://127.0.0.1:{double.port}")
    refused = through(client, double, "gitlab", Person(**{**JANE.__dict__, "gitlab_groups": {"platform"}}))
    assert refused.status_code == 403
    assert "Only members of the platform/registry group on GitLab may sign in here." in refused.content.decode()
    member = Person(**{**JANE.__dict__, "gitlab_groups": {"platform/registry"}})
    assert through(client, double, "gitlab", member)["Location"] == "/accounts/3rdparty/signup/"
    assert client.get("/accounts/3rdparty/signup/").context["form"].initial["username"] == "jane.doe"
    # Every step went to the self-hosted server; nothing to gitlab.com.
    assert {host for _, host, _ in double.requests} == {"127.0.0.1"}
    assert ("POST", "127.0.0.1", "/oauth/token") in double.requests
    assert ("GET", "127.0.0.1", "/api/v4/user") in double.requests
    assert ("GET", "127.0.0.1", "/api/v4/groups/platform%2Fregistry/members/all/4242") in double.requests


def test_google_lets_in_only_accounts_of_the_workspace_domain(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("google_oauth2", options={"hd": "example.com"})
    started = client.post("/accounts/google/login/", {"process": "login"})
    assert "hd=example.com" in started["Location"]  # the account chooser's hint
    refused = through(client, double, "google", Person(**{**JANE.__dict__, "google_hd": ""}))
    assert refused.status_code == 403 and "example.com Google Workspace domain" in refused.content.decode()
    member = Person(**{**JANE.__dict__, "google_hd": "example.com"})
    assert through(client, double, "google", member)["Location"] == "/accounts/3rdparty/signup/"
    assert client.get("/accounts/3rdparty/signup/").context["form"].initial["username"] == "jane"


def test_bitbucket_lets_in_only_members_of_the_workspace(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("bitbucket", options={"team": "acme"})
    refused = through(client, double, "bitbucket_oauth2", Person(**{**JANE.__dict__, "bitbucket_workspaces": {"x"}}))
    assert refused.status_code == 403 and "acme workspace on Bitbucket" in refused.content.decode()
    member = Person(**{**JANE.__dict__, "bitbucket_workspaces": {"acme"}})
    assert through(client, double, "bitbucket_oauth2", member)["Location"] == "/accounts/3rdparty/signup/"


@pytest.mark.parametrize("section", ["github", "gitlab", "google_oauth2", "bitbucket"])
def test_a_domain_restriction_counts_only_addresses_the_provider_verified(
    world: World, double: ProviderDouble, enable: Any, client: Client, section: str
) -> None:
    double.extra_hosts.add("127.0.0.1")
    extra = {"server": f"http://127.0.0.1:{double.port}"} if section == "gitlab" else {}
    enable(section, domain="example.com", **extra)
    slug = SLUGS[section]
    unverified = through(client, double, slug, Person(**{**JANE.__dict__, "email_verified": False}))
    assert unverified.status_code == 403 and "address at example.com" in unverified.content.decode()
    elsewhere = through(client, double, slug, Person(**{**JANE.__dict__, "email": "jane@elsewhere.org"}))
    assert elsewhere.status_code == 403
    assert through(client, double, slug, JANE)["Location"] == "/accounts/3rdparty/signup/"


# -- accounts: sign-up, linking, state --------------------------------------------------------------------------------


def test_with_signup_off_a_provider_creates_no_account_unless_it_is_trusted(
    world: World, double: ProviderDouble, enable: Any, portus_config: Any, client: Client
) -> None:
    portus_config("signup.enabled", False)
    enable("github")
    closed = through(client, double, "github", JANE)
    assert closed.status_code == 200 and "Sign-up is turned off" in closed.content.decode()
    assert not User.objects.filter(email="jane@example.com").exists()
    enable("github", trusted=True)
    assert through(client, double, "github", JANE)["Location"] == "/accounts/3rdparty/signup/"
    assert choose_name(client, "jane", "jane@example.com")["Location"] == "/"
    assert signed_in_as(client) == "jane"


def test_an_existing_account_is_linked_by_a_verified_address(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    _, secret = create_token(user=world.owner, name="ci", actor=world.owner)
    assert token_request(client, "owner", PASSWORD).status_code == 200  # remembered for a while
    response = through(client, double, "github", Person(**{**JANE.__dict__, "email": "owner@example.com"}))
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "owner"
    assert SocialAccount.objects.get(provider="github").user == world.owner
    # Portus never verified the address the account was made with: whoever set that password may not be
    # the address's owner, so allauth removes it, and no remembered verification outlives it.
    world.owner.refresh_from_db()
    assert not world.owner.has_usable_password()
    assert token_request(client, "owner", PASSWORD).status_code == 401
    assert token_request(client, "owner", secret).status_code == 200
    client.post("/logout/")
    # The next sign-in finds the account by the GitHub account itself, whatever the address says now.
    again = through(client, double, "github", Person(**{**JANE.__dict__, "email": "jane@elsewhere.org"}))
    assert again["Location"] == "/" and signed_in_as(client) == "owner"


def test_an_unverified_address_never_links_to_an_existing_account(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    squatter = Person(**{**JANE.__dict__, "email": "owner@example.com", "email_verified": False})
    response = through(client, double, "github", squatter)
    assert response["Location"] == "/accounts/3rdparty/signup/"  # a new account, not the owner's
    taken = choose_name(client, "squatter", "owner@example.com")
    assert taken.status_code == 200 and "already exists with this email" in taken.content.decode()
    assert not SocialAccount.objects.filter(user=world.owner).exists()
    world.owner.refresh_from_db()
    assert world.owner.check_password(PASSWORD)
    assert signed_in_as(client) is None


def test_a_disabled_account_cannot_sign_in_through_its_provider(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    SocialAccount.objects.create(user=world.viewer, provider="github", uid=str(JANE.uid), extra_data={})
    set_enabled(user=world.viewer, enabled=False, actor=world.admin)
    response = through(client, double, "github", JANE)
    assert response.status_code == 403 and "This account is disabled" in response.content.decode()
    assert signed_in_as(client) is None


def test_the_chosen_user_name_must_satisfy_the_namespace_rules(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    through(client, double, "github", JANE)
    for bad, says in (("Jane Doe", "lower-case letters"), ("owner", "taken"), ("portus", "reserved"), ("", "required")):
        page = choose_name(client, bad, "jane@example.com")
        assert page.status_code == 200 and says in page.content.decode(), bad
    assert not User.objects.filter(email="jane@example.com").exists()
    assert choose_name(client, "jane", "jane@example.com")["Location"] == "/"


# -- the profile: link, unlink, never the last way ----------------------------------------------------------------


def test_a_signed_in_user_links_a_provider_and_unlinks_it_while_a_password_remains(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    client.force_login(world.outsider)
    page = client.get("/profile/").content.decode()
    assert "Link GitHub" in page
    linked = through(client, double, "github", Person(**{**JANE.__dict__, "email": "other@example.org"}), "connect")
    assert linked.status_code == 302 and linked["Location"] == "/profile/"
    account = SocialAccount.objects.get(user=world.outsider)
    assert "Unlink GitHub" in client.get("/profile/").content.decode()
    client.post(f"/profile/providers/{account.pk}/unlink/")
    assert not SocialAccount.objects.filter(user=world.outsider).exists()
    assert Activity.objects.filter(action="user.unlink_provider", target="outsider/github").exists()


def test_the_last_way_to_sign_in_cannot_be_unlinked(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    enable("gitlab")
    user = create_user(username="jane", email="jane@example.com")  # no password
    github = SocialAccount.objects.create(user=user, provider="github", uid="1", extra_data={})
    gitlab = SocialAccount.objects.create(user=user, provider="gitlab", uid="2", extra_data={})
    client.force_login(user)
    client.post(f"/profile/providers/{github.pk}/unlink/")
    refused = client.post(f"/profile/providers/{gitlab.pk}/unlink/", follow=True)
    assert "This is your last way to sign in" in refused.content.decode()
    assert list(SocialAccount.objects.filter(user=user)) == [gitlab]
    # Nor someone else's account, whatever its number.
    other = SocialAccount.objects.create(user=world.owner, provider="github", uid="3", extra_data={})
    assert client.post(f"/profile/providers/{other.pk}/unlink/").status_code == 404


def test_with_the_password_form_off_a_password_is_no_way_to_sign_in(
    world: World, double: ProviderDouble, enable: Any, portus_config: Any, client: Client
) -> None:
    enable("github")
    portus_config("oauth.local_login.enabled", False)
    account = SocialAccount.objects.create(user=world.outsider, provider="github", uid="1", extra_data={})
    client.force_login(world.outsider)
    client.post(f"/profile/providers/{account.pk}/unlink/")
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_local_login_off_hides_the_password_form_and_refuses_a_posted_password(
    world: World, enable: Any, portus_config: Any, client: Client
) -> None:
    enable("github")
    page = client.get("/login/").content.decode()
    assert 'name="password"' in page and "Sign in with GitHub" in page
    portus_config("oauth.local_login.enabled", False)
    page = client.get("/login/").content.decode()
    assert 'name="password"' not in page and "Forgot your password" not in page
    assert "Sign in with GitHub" in page
    refused = client.post("/login/", {"username": "owner", "password": PASSWORD})
    assert refused.status_code == 403 and signed_in_as(client) is None
    assert client.get("/signup/").status_code == 403


# -- /v2/token: passwords refused when registry.token_passwords is off ------------------------------------------


def token_request(client: Client, username: str, secret: str) -> Any:
    credentials = base64.b64encode(f"{username}:{secret}".encode()).decode()
    query = {"service": "registry.test", "scope": "repository:acme/app:pull"}
    return client.get("/v2/token", query, HTTP_AUTHORIZATION=f"Basic {credentials}")


def test_the_token_endpoint_refuses_passwords_when_told_to_and_takes_application_tokens(
    world: World, portus_config: Any, client: Client
) -> None:
    _, secret = create_token(user=world.viewer, name="ci", actor=world.viewer)
    assert token_request(client, "viewer", PASSWORD).status_code == 200
    portus_config("registry.token_passwords.enabled", False)
    refused = token_request(client, "viewer", PASSWORD)
    assert refused.status_code == 401
    assert "passwords are not accepted here; create an application token" in refused.json()["errors"][0]["message"]
    assert token_request(client, "viewer", secret).status_code == 200
    world.viewer.refresh_from_db()
    assert world.viewer.failed_sign_ins == 0  # a refused password is no failed guess


def test_the_profile_says_how_to_log_in_to_the_registry_with_a_token(
    world: World, portus_config: Any, client: Client
) -> None:
    user = create_user(username="jane", email="jane@example.com")
    client.force_login(user)
    assert "You sign in through a provider, so you have no password for" in client.get("/profile/").content.decode()
    portus_config("registry.token_passwords.enabled", False)
    client.force_login(world.owner)
    assert "This Portus refuses passwords at" in client.get("/profile/").content.decode()


# -- configuration ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"PORTUS_OAUTH_GITHUB_ENABLED": "true"}, "oauth.github.client_id must be set"),
        (
            {"PORTUS_OAUTH_GITHUB_ENABLED": "true", "PORTUS_OAUTH_GITHUB_CLIENT_ID": "a"},
            "oauth.github.client_secret must be set when oauth.github.enabled is true (or set "
            "PORTUS_OAUTH_GITHUB_CLIENT_SECRET)",
        ),
        (
            {
                "PORTUS_OAUTH_GITHUB_ENABLED": "1",
                "PORTUS_OAUTH_GITHUB_CLIENT_ID": "a",
                "PORTUS_OAUTH_GITHUB_CLIENT_SECRET": "b",
                "PORTUS_OAUTH_GITHUB_TEAM": "t",
            },
            "oauth.github.organization must be set",
        ),
        ({"PORTUS_OAUTH_GITLAB_ENABLED": "true"}, "oauth.gitlab.application_id must be set"),
        ({"PORTUS_OAUTH_GOOGLE_OAUTH2_ENABLED": "true"}, "oauth.google_oauth2.id must be set"),
        ({"PORTUS_OAUTH_BITBUCKET_ENABLED": "true"}, "oauth.bitbucket.key must be set"),
        ({"PORTUS_OAUTH_OPENID_CONNECT_ENABLED": "true"}, "oauth.openid_connect.issuer must be set"),
        (
            {
                "PORTUS_OAUTH_GITLAB_ENABLED": "true",
                "PORTUS_OAUTH_GITLAB_APPLICATION_ID": "a",
                "PORTUS_OAUTH_GITLAB_SECRET": "b",
                "PORTUS_OAUTH_GITLAB_SERVER": "gitlab.example.com",
            },
            "oauth.gitlab.server must be an http(s) URL",
        ),
        (
            {
                "PORTUS_OAUTH_OPENID_CONNECT_ENABLED": "true",
                "PORTUS_OAUTH_OPENID_CONNECT_ISSUER": "id.example.com",
                "PORTUS_OAUTH_OPENID_CONNECT_CLIENT_ID": "a",
                "PORTUS_OAUTH_OPENID_CONNECT_CLIENT_SECRET": "b",
            },
            "oauth.openid_connect.issuer must be an http(s) URL",
        ),
        (
            {
                "PORTUS_OAUTH_GITHUB_ENABLED": "true",
                "PORTUS_OAUTH_GITHUB_CLIENT_ID": "a",
                "PORTUS_OAUTH_GITHUB_CLIENT_SECRET": "b",
                "PORTUS_OAUTH_GITHUB_SERVER": "github.example.com",
            },
            "oauth.github.server must be an http(s) URL",
        ),
        ({"PORTUS_OAUTH_OPENID_CONNECT_USERNAME_CLAIM": ""}, "oauth.openid_connect.username_claim must be set"),
        ({"PORTUS_OAUTH_GITHUB_TRUSTED": "maybe"}, "oauth.github.trusted must be true or false"),
        ({"PORTUS_OAUTH_LOCAL_LOGIN_ENABLED": "nah"}, "oauth.local_login.enabled must be true or false"),
    ],
)
def test_an_incomplete_or_wrong_provider_setting_stops_the_start_naming_the_key(
    environ: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(environ=environ)
    assert says in str(refused.value)
    assert str(refused.value).startswith(next(iter(environ)))  # names where it was turned on


def test_every_provider_key_is_set_through_portus_variables_and_secrets_through_files(tmp_path: Path) -> None:
    secret = tmp_path / "github-secret"
    secret.write_text("gh-secret-from-a-file\n")
    config = load_config(
        environ={
            "PORTUS_OAUTH_GOOGLE_OAUTH2_ENABLED": "true",
            "PORTUS_OAUTH_GOOGLE_OAUTH2_ID": "g-id",
            "PORTUS_OAUTH_GOOGLE_OAUTH2_SECRET": "g-secret",
            "PORTUS_OAUTH_GOOGLE_OAUTH2_DOMAIN": "example.com",
            "PORTUS_OAUTH_GOOGLE_OAUTH2_OPTIONS_HD": "example.com",
            "PORTUS_OAUTH_GITHUB_ENABLED": "true",
            "PORTUS_OAUTH_GITHUB_CLIENT_ID": "gh-id",
            "PORTUS_OAUTH_GITHUB_CLIENT_SECRET_FILE": str(secret),
            "PORTUS_OAUTH_GITHUB_ORGANIZATION": "acme-corp",
            "PORTUS_OAUTH_GITHUB_TEAM": "registry-users",
            "PORTUS_OAUTH_GITHUB_DOMAIN": "acme.example",
            "PORTUS_OAUTH_GITHUB_SERVER": "https://github.example.com",
            "PORTUS_OAUTH_GITLAB_ENABLED": "true",
            "PORTUS_OAUTH_GITLAB_APPLICATION_ID": "gl-id",
            "PORTUS_OAUTH_GITLAB_SECRET": "gl-secret",
            "PORTUS_OAUTH_GITLAB_GROUP": "platform/registry",
            "PORTUS_OAUTH_GITLAB_SERVER": "https://gitlab.example.com",
            "PORTUS_OAUTH_BITBUCKET_ENABLED": "true",
            "PORTUS_OAUTH_BITBUCKET_KEY": "bb-key",
            "PORTUS_OAUTH_BITBUCKET_SECRET": "bb-secret",
            "PORTUS_OAUTH_BITBUCKET_OPTIONS_TEAM": "acme",
            "PORTUS_OAUTH_OPENID_CONNECT_ENABLED": "true",
            "PORTUS_OAUTH_OPENID_CONNECT_ISSUER": "https://id.example.com",
            "PORTUS_OAUTH_OPENID_CONNECT_CLIENT_ID": "portus",
            "PORTUS_OAUTH_OPENID_CONNECT_CLIENT_SECRET": "s3cret",
            "PORTUS_OAUTH_OPENID_CONNECT_PKCE": "false",
            "PORTUS_OAUTH_OPENID_CONNECT_USERNAME_CLAIM": "email",
            "PORTUS_OAUTH_LOCAL_LOGIN_ENABLED": "false",
        }
    )
    oauth = config.oauth
    assert (oauth.google_oauth2.domain, oauth.google_oauth2.options.hd) == ("example.com", "example.com")
    assert (oauth.github.organization, oauth.github.team, oauth.github.domain) == (
        "acme-corp",
        "registry-users",
        "acme.example",
    )
    assert (oauth.gitlab.group, oauth.bitbucket.options.team) == ("platform/registry", "acme")
    assert (oauth.openid_connect.pkce, oauth.openid_connect.username_claim) == (False, "email")
    assert not oauth.local_login.enabled
    providers = social_providers(oauth)
    assert providers["github"]["APPS"][0]["secret"] == "gh-secret-from-a-file"
    assert providers["github"]["GITHUB_URL"] == "https://github.example.com"
    assert "read:org" in providers["github"]["SCOPE"]
    assert providers["google"]["AUTH_PARAMS"] == {"hd": "example.com"}
    assert providers["gitlab"]["APPS"][0]["settings"]["gitlab_url"] == "https://gitlab.example.com"
    assert "read_api" in providers["gitlab"]["SCOPE"]
    assert providers["openid_connect"]["APPS"][0]["settings"]["oauth_pkce_enabled"] is False


def test_the_provider_apps_come_from_the_settings_alone() -> None:
    config = load_config(
        environ={
            "PORTUS_OAUTH_OPENID_CONNECT_ENABLED": "true",
            "PORTUS_OAUTH_OPENID_CONNECT_ISSUER": "https://id.example.com/realms/main",
            "PORTUS_OAUTH_OPENID_CONNECT_CLIENT_ID": "portus",
            "PORTUS_OAUTH_OPENID_CONNECT_CLIENT_SECRET": "s3cret",
            "PORTUS_OAUTH_GITLAB_ENABLED": "true",
            "PORTUS_OAUTH_GITLAB_APPLICATION_ID": "app",
            "PORTUS_OAUTH_GITLAB_SECRET": "secret",
        }
    )
    providers = social_providers(config.oauth)
    assert set(providers) == {"openid_connect", "gitlab"}
    oidc = providers["openid_connect"]["APPS"][0]
    assert oidc["provider_id"] == "oidc" and oidc["client_id"] == "portus" and oidc["secret"] == "s3cret"
    assert oidc["settings"] == {"server_url": "https://id.example.com/realms/main", "oauth_pkce_enabled": True}
    assert providers["gitlab"]["APPS"][0]["settings"]["gitlab_url"] == "https://gitlab.com"
    assert social_providers(load_config(environ={}).oauth) == {}


def test_the_pages_let_the_sign_in_buttons_reach_only_the_enabled_providers(
    world: World, enable: Any, client: Client
) -> None:
    assert "form-action 'self';" in client.get("/login/")["Content-Security-Policy"]
    enable("github", server="https://github.example.com")
    enable("google_oauth2")
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "form-action 'self' https://accounts.google.com https://github.example.com;" in policy


def test_a_bot_is_never_signed_in_through_a_provider(
    world: World, double: ProviderDouble, enable: Any, client: Client
) -> None:
    enable("github")
    create_user(username="ci-bot", email="bot@example.com", bot=True, actor=world.admin)
    response = through(client, double, "github", Person(**{**JANE.__dict__, "email": "bot@example.com"}))
    assert response.status_code == 403 and "bots sign in with application tokens only" in response.content.decode()
    assert not SocialAccount.objects.exists() and signed_in_as(client) is None


@pytest.mark.parametrize(
    ("claim", "claims", "proposed"),
    [
        ("preferred_username", {"preferred_username": "Jane.Doe", "email": "x@example.com"}, "jane.doe"),
        ("email", {"preferred_username": "Jane.Doe", "email": "j.doe+ci@example.com"}, "j.doe-ci-example.com"),
        ("nickname", {"email": "jd@example.com"}, "jd"),  # no such claim: the address's local part
        ("preferred_username", {"preferred_username": "--__--"}, ""),  # nothing fits: the person types one
    ],
)
def test_openid_connect_proposes_the_user_name_from_the_configured_claim(
    portus_config: Any, claim: str, claims: dict[str, str], proposed: str
) -> None:
    portus_config("oauth.openid_connect.username_claim", claim)
    login = SocialLogin(account=SocialAccount(provider="oidc", uid="1", extra_data={"userinfo": claims}))
    assert proposed_username(login, {"email": claims.get("email")}) == proposed
