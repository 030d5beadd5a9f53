"""django-allauth's provider settings (SOCIALACCOUNT_PROVIDERS), built from the typed ``oauth.*`` settings alone,
so no provider row is ever created by hand; and where each provider's API answers (for the membership checks)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from portus.config import OAuth

# allauth's provider ids for the keys of config.yml's oauth section.
PROVIDER_IDS = {
    "google_oauth2": "google",
    "github": "github",
    "gitlab": "gitlab",
    "bitbucket": "bitbucket_oauth2",
    "openid_connect": "openid_connect",
}
# The OpenID Connect app's id: its URLs are /accounts/oidc/<this>/login/ and .../login/callback/.
OIDC_APP_ID = "oidc"
GITHUB_URL = "https://github.com"
GITHUB_API = "https://api.github.com"
GITLAB_URL = "https://gitlab.com"
BITBUCKET_API = "https://api.bitbucket.org/2.0"


def github_api(server: str) -> str:
    """GitHub's REST API: api.github.com, or an Enterprise Server's /api/v3."""
    return f"{server.rstrip('/')}/api/v3" if server else GITHUB_API


def gitlab_url(server: str) -> str:
    return server.rstrip("/") if server else GITLAB_URL


def _app(client_id: str, secret: str, **app_settings: Any) -> dict[str, Any]:
    return {"client_id": client_id, "secret": secret, "settings": app_settings}


def social_providers(oauth: OAuth) -> dict[str, dict[str, Any]]:
    """SOCIALACCOUNT_PROVIDERS: one app per enabled provider (a provider without apps shows no button)."""
    providers: dict[str, dict[str, Any]] = {}
    google = oauth.google_oauth2
    if google.enabled:
        providers["google"] = {
            "SCOPE": ["profile", "email"],
            # A hint for Google's account chooser; the adapter checks the `hd` claim itself.
            "AUTH_PARAMS": {"hd": google.options.hd} if google.options.hd else {},
            "APPS": [_app(google.id, google.secret)],
        }
    github = oauth.github
    if github.enabled:
        scope = ["read:user", "user:email"]
        if github.organization:
            scope.append("read:org")  # to read the user's memberships
        providers["github"] = {"SCOPE": scope, "APPS": [_app(github.client_id, github.client_secret)]}
        if github.server:
            providers["github"]["GITHUB_URL"] = github.server.rstrip("/")
    gitlab = oauth.gitlab
    if gitlab.enabled:
        providers["gitlab"] = {
            "SCOPE": ["read_user", "read_api"] if gitlab.group else ["read_user"],
            "APPS": [_app(gitlab.application_id, gitlab.secret, gitlab_url=gitlab_url(gitlab.server))],
        }
    bitbucket = oauth.bitbucket
    if bitbucket.enabled:
        providers["bitbucket_oauth2"] = {"APPS": [_app(bitbucket.key, bitbucket.secret)]}
    oidc = oauth.openid_connect
    if oidc.enabled:
        app = _app(oidc.client_id, oidc.client_secret, server_url=oidc.issuer, oauth_pkce_enabled=oidc.pkce)
        providers["openid_connect"] = {"APPS": [{**app, "provider_id": OIDC_APP_ID, "name": oidc.name}]}
    return providers


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def authorize_origins(oauth: OAuth) -> list[str]:
    """Where the sign-in buttons' forms are redirected to (the providers' authorize pages): the pages'
    Content-Security-Policy allows exactly these as form targets besides Portus itself."""
    origins = []
    if oauth.google_oauth2.enabled:
        origins.append("https://accounts.google.com")
    if oauth.github.enabled:
        origins.append(_origin(oauth.github.server) if oauth.github.server else GITHUB_URL)
    if oauth.gitlab.enabled:
        origins.append(_origin(gitlab_url(oauth.gitlab.server)))
    if oauth.bitbucket.enabled:
        origins.append("https://bitbucket.org")
    if oauth.openid_connect.enabled:
        origins.append(_origin(oauth.openid_connect.issuer))
    return origins
