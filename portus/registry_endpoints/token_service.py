"""Distribution's token service: who is asking, what they asked for, what the policy grants."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from portus import policy
from portus.accounts.credentials import Failure, verify
from portus.accounts.models import User
from portus.principal import Principal
from portus.registry.models import Namespace, Registry, TeamMembership
from portus.registry.names import split_repository_name
from portus.registry.signing import registry_token
from portus.registry_endpoints.scopes import Scope, ScopeError, parse_scopes
from portus.sql_rows import fetch_joined, quote, select_list, table

MAX_QUERY_STRING = 8192
MAX_CREDENTIAL_BYTES = 4096
# How long a worker remembers which registry answers to a service name. Registries are added and
# renamed rarely; a stale entry can only deny (see namespaces_for), never grant.
REGISTRY_MEMORY_SECONDS = 10.0
_registries: dict[str, tuple[float, Registry]] = {}


class TokenRequestError(Exception):
    """Refused request: HTTP status plus a sentence for the client."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # 429: seconds until the client may try again
        # A short word for the metrics (portus_token_requests_total{reason=...}): one of a few, never input.
        self.reason = reason or code.lower()


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def parse_basic_auth(header: str | None) -> Credentials | None:
    """The credentials of an ``Authorization: Basic`` header; None for no header (anonymous)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise TokenRequestError(401, "UNAUTHORIZED", "use HTTP Basic authentication (user name and password or token).")
    value = value.strip()
    if len(value) > MAX_CREDENTIAL_BYTES:
        raise TokenRequestError(400, "BAD_REQUEST", "the Authorization header is too long.")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TokenRequestError(400, "BAD_REQUEST", "the Basic credentials are not valid base64.") from None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenRequestError(400, "BAD_REQUEST", "the Basic credentials are not valid UTF-8.") from None
    username, sep, password = text.partition(":")
    if not sep or not username:
        raise TokenRequestError(400, "BAD_REQUEST", "the Basic credentials must be USER:PASSWORD.")
    return Credentials(username, password)


def find_registry(service: str | None) -> Registry:
    if not service:
        raise TokenRequestError(400, "BAD_REQUEST", "the service parameter is missing; the registry always sends it.")
    if len(service) > 255:
        raise TokenRequestError(400, "BAD_REQUEST", "the service parameter is too long.")
    now = time.monotonic()
    remembered = _registries.get(service)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    registry = Registry.objects.filter(Q(hostname=service) | Q(external_hostname=service)).first()
    if registry is None:
        raise TokenRequestError(
            400,
            "BAD_REQUEST",
            f"unknown service {service!r}: no registry with that host name is configured in Portus.",
            reason="unknown_service",
        )
    if service in (registry.hostname, registry.external_hostname):
        # Only exact names: a case-insensitive collation must not let clients grow this dict.
        _registries[service] = (now + REGISTRY_MEMORY_SECONDS, registry)
    return registry


@receiver(post_save, sender=Registry)
@receiver(post_delete, sender=Registry)
def forget_registries(**_: Any) -> None:
    """This process forgets at once; other workers within REGISTRY_MEMORY_SECONDS."""
    _registries.clear()


def namespaces_for(
    principal: Principal, registry: Registry, service: str, names: set[str]
) -> tuple[dict[str, Namespace], policy.TeamRoles]:
    """The namespaces called NAMES on REGISTRY by name, and the principal's role in each of their
    teams (None: not a member), read in one query.

    The join on the registry's host names makes a stale entry of find_registry harmless: a registry
    renamed or deleted since then yields no namespace, so nothing is granted."""
    if not names:
        return {}, {}
    user_id = principal.pk if isinstance(principal, User) else None
    placeholders = ", ".join(["%s"] * len(names))
    # Only identifiers are formatted in; the values go as parameters.
    sql = (
        f"SELECT {select_list(Namespace, 'ns')}, m.{quote('role')} FROM {table(Namespace)} ns"  # noqa: S608
        f" INNER JOIN {table(Registry)} r ON r.id = ns.registry_id"
        f" LEFT OUTER JOIN {table(TeamMembership)} m"
        f" ON m.team_id = ns.team_id AND m.user_id = %s"
        f" WHERE ns.registry_id = %s AND (r.hostname = %s OR r.external_hostname = %s)"
        f" AND ns.{quote('name')} IN ({placeholders})"
    )
    params = [user_id, registry.pk, service, service, *sorted(names)]
    found: dict[str, Namespace] = {}
    team_roles: dict[int, str | None] = {}
    for namespace, role in fetch_joined([Namespace], sql, params):
        if namespace.team_id is not None:
            team_roles[namespace.team_id] = role
        found[namespace.name] = namespace
    return found, team_roles


def authenticate(credentials: Credentials | None, account: str | None, address: str = "") -> User | None:
    if credentials is None:
        return None
    allow_passwords = settings.PORTUS.registry.token_passwords.enabled
    result = verify(credentials.username, credentials.password, address=address, allow_passwords=allow_passwords)
    if result.failure is Failure.THROTTLED:
        raise TokenRequestError(
            429,
            "TOOMANYREQUESTS",
            f"{Failure.THROTTLED.value} (in {result.retry_after} s).",
            retry_after=result.retry_after,
            reason="throttled",
        )
    if result.user is None:
        failure = result.failure or Failure.BAD_CREDENTIALS
        raise TokenRequestError(401, "UNAUTHORIZED", failure.value + ".", reason=failure.name.lower())
    if account and account != result.user.username:
        raise TokenRequestError(
            401,
            "UNAUTHORIZED",
            f"the account {account!r} does not match the user name in the credentials.",
            reason="account_mismatch",
        )
    return result.user


def grant(
    principal: Principal, registry: Registry, scopes: list[Scope], service: str | None = None
) -> list[dict[str, Any]]:
    """The access list for the token: only what the policy allows, denied scopes left out."""
    access: list[dict[str, Any]] = []
    names = {split_repository_name(s.name)[0] for s in scopes if s.type == "repository"}
    namespaces, team_roles = namespaces_for(principal, registry, service or registry.hostname, names)
    for scope in scopes:
        if scope.type == "registry":
            if policy.can_list_catalog(principal):
                access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            continue
        namespace = namespaces.get(split_repository_name(scope.name)[0])
        actions = policy.allowed_repository_actions(principal, namespace, set(scope.actions), team_roles)
        if actions:
            access.append({"type": "repository", "name": scope.name, "actions": actions})
    return access


def handle_token_request(
    *,
    service: str | None,
    scope_values: list[str],
    account: str | None,
    authorization: str | None,
    query_string_length: int,
    address: str = "",
) -> dict[str, Any]:
    """Everything the token endpoint does but HTTP; raises TokenRequestError for a refusal."""
    if query_string_length > MAX_QUERY_STRING:
        raise TokenRequestError(400, "BAD_REQUEST", f"the query string is longer than {MAX_QUERY_STRING} bytes.")
    credentials = parse_basic_auth(authorization)
    try:
        scopes = parse_scopes(scope_values)
    except ScopeError as exc:
        raise TokenRequestError(400, "BAD_REQUEST", str(exc)) from None
    registry = find_registry(service)
    user = authenticate(credentials, account, address)
    access = grant(user, registry, scopes, service)
    token, expires_in, issued_at = registry_token(user.username if user else "", str(service), access)
    issued = dt.datetime.fromtimestamp(issued_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "access_token": token, "expires_in": expires_in, "issued_at": issued}
