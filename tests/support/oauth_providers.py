"""Doubles of GitHub, GitLab, Google and Bitbucket: one real HTTP server on loopback that answers their documented
authorize, token, user, e-mail and membership endpoints with the JSON shapes of their public API docs.

Each provider's host names (github.com, api.github.com, gitlab.com, accounts.google.com, oauth2.googleapis.com,
www.googleapis.com, bitbucket.org, api.bitbucket.org, and any Enterprise or self-hosted name a test adds) are
answered here: `routed_session()` is a requests session that sends those hosts to the double, as a resolver
entry would, so django-allauth's own provider code talks to it unchanged. The person signing in is chosen
with `sign_in_as(...)`; the authorize endpoint answers as if they had consented.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

import jwt
import requests
from requests.adapters import HTTPAdapter

PROVIDER_HOSTS = {
    "github": ("github.com", "api.github.com"),
    "gitlab": ("gitlab.com",),
    "google": ("accounts.google.com", "oauth2.googleapis.com", "www.googleapis.com"),
    "bitbucket": ("bitbucket.org", "api.bitbucket.org"),
}


@dataclass
class Person:
    """Someone with an account at the providers: what each one's API says about them."""

    login: str
    uid: int
    email: str
    email_verified: bool = True
    name: str = "Test Person"
    github_orgs: set[str] = field(default_factory=set)
    github_teams: set[tuple[str, str]] = field(default_factory=set)  # (org, team slug)
    gitlab_groups: set[str] = field(default_factory=set)
    google_hd: str = ""
    bitbucket_workspaces: set[str] = field(default_factory=set)


class ProviderDouble:
    def __init__(self) -> None:
        self.person: Person | None = None
        self.codes: dict[str, Person] = {}
        self.tokens: dict[str, Person] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, host, path) as received
        self.client_id = ""
        self.extra_hosts: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ProviderDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign_in_as(self, person: Person) -> None:
        self.person = person

    @property
    def hosts(self) -> set[str]:
        return {host for hosts in PROVIDER_HOSTS.values() for host in hosts} | self.extra_hosts

    def routed_session(self) -> requests.Session:
        session = requests.Session()
        adapter = _RoutingAdapter(self)
        for host in self.hosts:
            session.mount(f"https://{host}/", adapter)
        return session

    def consent(self, authorize_url: str) -> str:
        """What the browser does at the provider's authorize page: the person consents; the callback URL."""
        response = self.routed_session().get(authorize_url, allow_redirects=False)
        assert response.status_code == 302, (response.status_code, response.text)
        return response.headers["Location"]


class _RoutingAdapter(HTTPAdapter):
    """Sends a provider's https URL to the double on loopback, keeping the Host header (a resolver entry)."""

    def __init__(self, double: ProviderDouble) -> None:
        super().__init__()
        self.double = double

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(("http", f"127.0.0.1:{self.double.port}", parts.path, parts.query, ""))
        return super().send(request, *args, **kwargs)


def _handler(double: ProviderDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def bearer(self) -> Person | None:
            header = self.headers.get("Authorization", "")
            token = header.partition(" ")[2] if header.lower().startswith(("bearer ", "token ")) else ""
            token = token or parse_qs(urlsplit(self.path).query).get("access_token", [""])[0]
            return double.tokens.get(token)

        def do_GET(self) -> None:
            host = self.headers.get("Host", "").partition(":")[0]
            parts = urlsplit(self.path)
            path = parts.path
            double.requests.append(("GET", host, path))  # as sent: a test can tell which server was asked
            if host in double.extra_hosts and path.startswith("/api/v3/"):
                host, path = "api.github.com", path.removeprefix("/api/v3")  # GitHub Enterprise Server
            elif host in double.extra_hosts:
                host = "gitlab.com" if path.startswith(("/api/v4/", "/oauth/")) else "github.com"
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            if path in ("/login/oauth/authorize", "/oauth/authorize", "/o/oauth2/v2/auth", "/site/oauth2/authorize"):
                return self.authorize(query)
            person = self.bearer()
            if person is None:
                return self.reply(401, {"message": "Bad credentials"})
            self.api(host, path, person)

        def authorize(self, query: dict[str, str]) -> None:
            assert double.person is not None, "sign_in_as() first"
            code = secrets.token_urlsafe(12)
            double.codes[code] = double.person
            double.client_id = query.get("client_id", "")
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def do_POST(self) -> None:
            host = self.headers.get("Host", "").partition(":")[0]
            length = int(self.headers.get("Content-Length") or 0)
            form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
            double.requests.append(("POST", host, self.path))
            person = double.codes.pop(form.get("code", ""), None)
            if person is None:
                return self.reply(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
            token = secrets.token_urlsafe(16)
            double.tokens[token] = person
            body: dict[str, Any] = {"access_token": token, "token_type": "bearer", "scope": form.get("scope", "")}
            if host == "oauth2.googleapis.com":
                body["expires_in"] = 3599
                body["id_token"] = google_id_token(person, double.client_id)
            self.reply(200, body)

        def api(self, host: str, path: str, person: Person) -> None:
            not_found = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            segments = [unquote(part) for part in path.strip("/").split("/")]
            if host == "api.github.com":
                if path == "/user":
                    return self.reply(200, github_user(person))
                if path == "/user/emails":
                    return self.reply(200, [github_email(person)])
                if segments[:3] == ["user", "memberships", "orgs"] and segments[3] in person.github_orgs:
                    return self.reply(
                        200, {"state": "active", "role": "member", "organization": {"login": segments[3]}}
                    )
                if segments[0] == "orgs" and segments[2] == "teams" and segments[4] == "memberships":
                    if (segments[1], segments[3]) in person.github_teams and segments[5] == person.login:
                        return self.reply(200, {"state": "active", "role": "member", "url": path})
                return self.reply(404, not_found)
            if host == "gitlab.com":
                if path == "/api/v4/user":
                    return self.reply(200, gitlab_user(person))
                if segments[:3] == ["api", "v4", "groups"] and segments[4:6] == ["members", "all"]:
                    if segments[3] in person.gitlab_groups and segments[6] == str(person.uid):
                        return self.reply(200, {**gitlab_user(person), "access_level": 30})
                return self.reply(404, {"message": "404 Not found"})
            if host == "api.bitbucket.org":
                if path == "/2.0/user":
                    return self.reply(200, bitbucket_user(person))
                if path == "/2.0/user/emails":
                    entry = {"email": person.email, "is_primary": True, "is_confirmed": person.email_verified}
                    return self.reply(200, {"pagelen": 10, "page": 1, "size": 1, "values": [entry]})
                if path == "/2.0/user/permissions/workspaces":
                    values = [
                        {"type": "workspace_membership", "permission": "member", "workspace": {"slug": slug}}
                        for slug in sorted(person.bitbucket_workspaces)
                    ]
                    return self.reply(200, {"pagelen": 100, "page": 1, "size": len(values), "values": values})
                return self.reply(404, {"type": "error", "error": {"message": "Resource not found"}})
            self.reply(404, {"error": "not found"})

    return Handler


# -- the recorded shapes (fields as in each provider's API documentation) ------------------------------------------


def github_user(person: Person) -> dict[str, Any]:
    return {
        "login": person.login,
        "id": person.uid,
        "node_id": f"MDQ6VXNlcj{person.uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{person.uid}?v=4",
        "html_url": f"https://github.com/{person.login}",
        "type": "User",
        "site_admin": False,
        "name": person.name,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,  # private addresses are read from /user/emails
        "bio": None,
        "public_repos": 2,
        "created_at": "2011-01-25T18:44:36Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }


def github_email(person: Person) -> dict[str, Any]:
    return {"email": person.email, "verified": person.email_verified, "primary": True, "visibility": "private"}


def gitlab_user(person: Person) -> dict[str, Any]:
    return {
        "id": person.uid,
        "username": person.login,
        "name": person.name,
        "state": "active",
        "avatar_url": None,
        "web_url": f"https://gitlab.com/{person.login}",
        "created_at": "2012-05-23T08:00:58Z",
        "email": person.email,
        "confirmed_at": "2012-05-23T09:05:22Z" if person.email_verified else None,
        "two_factor_enabled": False,
    }


def bitbucket_user(person: Person) -> dict[str, Any]:
    return {
        "type": "user",
        "username": person.login,
        "display_name": person.name,
        "uuid": f"{{{person.uid:08d}-0000-0000-0000-000000000000}}",
        "account_id": f"5b10a2844c20165700ede{person.uid}",
        "nickname": person.login,
        "links": {"avatar": {"href": "https://bitbucket.org/account/avatar"}},
        "created_on": "2018-06-01T00:00:00+00:00",
    }


def google_id_token(person: Person, client_id: str) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "azp": client_id,
        "aud": client_id,
        "sub": str(person.uid),
        "email": person.email,
        "email_verified": person.email_verified,
        "name": person.name,
        "given_name": person.name.partition(" ")[0],
        "family_name": person.name.partition(" ")[2],
        "iat": now,
        "exp": now + 3600,
    }
    if person.google_hd:
        claims["hd"] = person.google_hd
    # Received straight from the token endpoint over TLS, so allauth (as OpenID Connect allows) does not
    # check the signature; Google signs with RS256, this double with a key of its own.
    return jwt.encode(claims, "double-signing-key-" + "x" * 32, algorithm="HS256")
