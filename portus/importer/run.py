"""Importing an original Portus database: every row mapped onto this Portus's models in one transaction.

A dry run runs the very same import and rolls it back, so what it prints is what a real run would do.
Each imported row is recorded (ImportedRow), so a second run refuses, or with ``merge`` skips what
it brought before; a row whose natural key (user name, team name, registry host, namespace name)
already exists here is refused without ``merge`` and mapped onto the existing object with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from allauth.socialaccount.models import SocialAccount
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from portus.accounts.hashers import wrap_devise_hash
from portus.accounts.models import INTERNAL_ACCOUNT, ApplicationToken, User, validate_username
from portus.accounts.providers import OIDC_APP_ID, PROVIDER_IDS
from portus.errors import ActionError
from portus.importer.models import ImportedRow, ImportRun, LegacyIdentity
from portus.importer.parameters import member_fields, parse_parameters
from portus.importer.source import Source, redacted, release_of
from portus.registry.models import (
    Activity,
    Comment,
    Namespace,
    NamespaceKind,
    Registry,
    Repository,
    Role,
    Star,
    Tag,
    Team,
    TeamMembership,
    Visibility,
)
from portus.registry.names import COMPONENT_RE
from portus.webhooks.actions import check_header, check_url, new_secret
from portus.webhooks.delivery import LOG_LIMIT
from portus.webhooks.models import (
    ContentType,
    DeliveryState,
    RequestMethod,
    Webhook,
    WebhookDelivery,
    WebhookHeader,
)

M = TypeVar("M", bound=Model)
SKIP = object()  # a row that clashes with what is here, without --merge

ROLES = {0: Role.VIEWER, 1: Role.CONTRIBUTOR, 2: Role.OWNER}
VISIBILITIES = {0: Visibility.PRIVATE, 1: Visibility.PROTECTED, 2: Visibility.PUBLIC}
# Devise's lockable: the original unlocked an account this long after locked_at.
UNLOCK_IN = dt.timedelta(minutes=10)
# The original's activity keys that mean one of ours; any other key is kept as it is.
ACTIVITY_KEYS = {
    "team.change_member_role": "team.change_role",
    "namespace.change_team": "namespace.transfer",
    "namespace.change_namespace_description": "namespace.change_description",
    "namespace.public": "namespace.change_visibility",
    "namespace.private": "namespace.change_visibility",
    "namespace.destroy": "namespace.delete",
    "repository.destroy": "repository.delete",
    "repository.change_repository_description": "repository.change_description",
    "team.destroy": "team.delete",
    "team.change_team_description": "team.update",
    "user.enabled": "user.enable",
    "user.disabled": "user.disable",
    "application_token.create": "token.create",
    "application_token.destroy": "token.revoke",
    "webhook.destroy": "webhook.delete",
    "webhook.enabled": "webhook.enable",
    "webhook.disabled": "webhook.disable",
}
MEMBER_ACTIONS = frozenset({"team.add_member", "team.change_role", "team.remove_member"})
# The original's Webhook enums (app/models/webhook.rb); a NULL method was Typhoeus's default, GET.
REQUEST_METHODS = {0: RequestMethod.GET, 1: RequestMethod.POST}
CONTENT_TYPES = {0: ContentType.JSON, 1: ContentType.FORM}
# A delivery's request headers as the original logged them: a Ruby Hash's inspect, {"Name"=>"value", ...}.
RUBY_HASH_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')
NOT_LOGGED = "(custom header value, not logged)"
# The original's omniauth providers (users.provider) and the allauth provider each one is here. Bitbucket:
# the original knew an account by its uuid, allauth by its account_id; the first sign-in moves the link
# over (portus.accounts.social.adopt_imported_bitbucket_account). OpenID Connect (the 2.5 line): omniauth's
# uid and allauth's are both the ID token's `sub`, so the link holds for the same issuer.
OAUTH_PROVIDERS = {name: PROVIDER_IDS[name] for name in ("google_oauth2", "github", "gitlab", "bitbucket")}
OAUTH_PROVIDERS["openid_connect"] = OIDC_APP_ID
OPENID2 = (
    "OpenID 2 (open_id) cannot be linked: this Portus signs in through OpenID Connect, which knows people "
    "by another identifier; they sign in with their password or have an admin give them one, then link a "
    "provider on their profile page"
)
# Tables this Portus rebuilds itself instead of importing.
NOT_IMPORTED = {
    "registry_events": "not imported: old registry notifications; `portusctl sync` reads the registry instead",
    "scan_results": "not imported: vulnerabilities are scanned again by this Portus",
    "vulnerabilities": "not imported: vulnerabilities are scanned again by this Portus",
}


class ImportRefused(Exception):
    """The import cannot go ahead as asked; the message says what to do."""


@dataclass
class Report:
    """What an import did (or a dry run would do): counts per table and every row it could not map."""

    source: str
    schema_version: str
    dry_run: bool
    merge: bool
    imported: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)  # mapped onto what was already here
    skipped: list[tuple[str, Any, str]] = field(default_factory=list)  # (table, source id, reason)
    notes: list[str] = field(default_factory=list)  # tables read but not imported, with why

    def skip(self, table: str, source_id: Any, reason: str) -> None:
        self.skipped.append((table, source_id, reason))

    def lines(self) -> list[str]:
        verb = "Would import" if self.dry_run else "Imported"
        out = [
            f"{'Dry run: ' if self.dry_run else ''}{verb} from {self.source} "
            f"(original Portus {release_of(self.schema_version)}, schema version {self.schema_version}):"
        ]
        for table in sorted(set(self.imported) | set(self.existing)):
            line = f"  {table}: {self.imported[table]}"
            if self.existing[table]:
                line += f" ({self.existing[table]} already here, kept)"
            out.append(line)
        out.extend(f"  {note}" for note in self.notes)
        if self.skipped:
            out.append(f"Rows not imported ({len(self.skipped)}):")
            out.extend(f"  {table} #{source_id}: {reason}" for table, source_id, reason in self.skipped)
        return out

    def summary(self) -> dict[str, Any]:
        return {"imported": dict(self.imported), "existing": dict(self.existing), "skipped": len(self.skipped)}


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=dt.UTC)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(errors="replace")
    return str(value)


def _flag(value: Any) -> bool:
    return bool(value) and value not in ("0", "f", "false")


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or url)[:255]


def _event_action(body: str) -> str:
    """The registry event's action (push, delete) a delivery's body carries."""
    try:
        data = json.loads(body)
    except ValueError:
        return "unknown"
    action = data.get("action") if isinstance(data, dict) else None
    return str(action)[:16] if action else "unknown"


def _logged_request_header(text: str) -> str:
    """The original's logged request headers, one a line as ours are, without the custom headers' values
    (the original logged them; this Portus keeps them sealed and never in a log)."""
    pairs = RUBY_HASH_PAIR.findall(text)
    if not pairs:
        return ""
    lines = [f"{name}: {value if name.lower() == 'content-type' else NOT_LOGGED}" for name, value in pairs]
    return "\n".join(lines)[:LOG_LIMIT]


class Importer:
    """One import (or dry run) from SOURCE; ``run()`` returns the report."""

    def __init__(self, source: Source, *, dry_run: bool = False, merge: bool = False) -> None:
        self.source = source
        self.dry_run = dry_run
        self.merge = merge
        self.report = Report(redacted(source.url), source.schema_version, dry_run, merge)
        self.run_row: ImportRun | None = None
        # source id -> our object, per table
        self.registries: dict[int, Registry] = {}
        self.users: dict[int, User] = {}
        self.teams: dict[int, Team] = {}
        self.namespaces: dict[int, Namespace] = {}
        self.repositories: dict[int, Repository] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.team_names: dict[int, str] = {}
        self.done: dict[str, dict[int, int]] = {}

    # -- the whole run ----------------------------------------------------------------------------

    def run(self) -> Report:
        earlier = ImportRun.objects.first()
        if earlier is not None and not self.merge:
            raise ImportRefused(
                f"this Portus already holds an import ({earlier}); run again with --merge to add only "
                "what is new, or start from an empty database."
            )
        with transaction.atomic():
            self.run_row = ImportRun.objects.create(
                source=self.report.source, schema_version=self.source.schema_version, merge=self.merge
            )
            for row in ImportedRow.objects.values_list("source_table", "source_id", "target_id"):
                self.done.setdefault(row[0], {})[row[1]] = row[2]
            self.import_registries()
            self.import_users()
            self.import_teams()
            self.import_namespaces()
            self.import_memberships()
            self.import_repositories()
            self.import_tags()
            self.import_stars()
            self.import_comments()
            self.import_tokens()
            self.import_webhooks()
            self.import_webhook_headers()
            self.import_webhook_deliveries()
            self.import_activities()
            self.note_not_imported()
            conflicts = [s for s in self.report.skipped if s[2].startswith("already exists here")]
            if conflicts and not self.merge and not self.dry_run:
                raise ImportRefused(
                    f"{len(conflicts)} rows clash with what this Portus already holds (first: "
                    f"{conflicts[0][0]} #{conflicts[0][1]}: {conflicts[0][2]}); run with --dry-run to see "
                    "them all, then with --merge to keep what is here and import the rest."
                )
            self.run_row.summary = self.report.summary()
            self.run_row.save(update_fields=["summary"])
            if self.dry_run:
                transaction.set_rollback(True)
        return self.report

    # -- bookkeeping ------------------------------------------------------------------------------

    def _record(self, table: str, source_id: int, target: Model) -> None:
        assert self.run_row is not None
        ImportedRow.objects.create(run=self.run_row, source_table=table, source_id=source_id, target_id=target.pk)
        self.report.imported[table] += 1

    def _earlier(self, table: str, source_id: int, model: type[M]) -> M | None:
        """The object an earlier run made of this row (a --merge run skips it)."""
        target_id = self.done.get(table, {}).get(source_id)
        if target_id is None:
            return None
        found = model._default_manager.filter(pk=target_id).first()
        if found is not None:
            self.report.existing[table] += 1
        return found

    def _already(self, table: str, source_id: int, model: type[M], here: QuerySet[M], what: str) -> M | object | None:
        """What this row already is here: the object an earlier run made of it, or (with --merge) the
        object with the same natural key (HERE); SKIP for a clash without --merge; None when new."""
        existing = self._earlier(table, source_id, model)
        if existing is not None:
            return existing
        found = here.first()
        if found is None:
            return None
        return self._clash(table, source_id, found, what) or SKIP

    def _parent(self, table: str, source_id: int, imported: dict[int, M], parent_id: Any, what: str) -> M | None:
        """The imported object PARENT_ID names (a row's namespace, repository); None, reported, if none."""
        found = imported.get(int(parent_id or 0))
        if found is None:
            self.report.skip(table, source_id, f"{what}: what it belongs to was not imported")
        return found

    def _clash(self, table: str, source_id: int, found: M | None, what: str) -> M | None:
        """FOUND, an object already here with the same natural key: kept with --merge, else a clash."""
        if found is None:
            return None
        if self.merge:
            self.report.existing[table] += 1
            return found
        self.report.skip(table, source_id, f"already exists here: {what}")
        return None

    # -- the tables -------------------------------------------------------------------------------

    def import_registries(self) -> None:
        for row in self.source.rows("registries"):
            rid = int(row["id"])
            hostname = _text(row["hostname"]).strip()
            here = Registry.objects.filter(hostname=hostname)
            found = self._already("registries", rid, Registry, here, f"registry at {hostname}")
            if found is not None:
                if isinstance(found, Registry):
                    self.registries[rid] = found
                continue
            name = _text(row["name"]).strip()[:100] or hostname
            if Registry.objects.filter(name=name).exists():
                name = hostname[:100]
            registry = Registry.objects.create(
                name=name,
                hostname=hostname,
                external_hostname=_text(row.get("external_hostname")).strip(),
                use_ssl=_flag(row.get("use_ssl")),
                created_at=_aware(row.get("created_at")) or timezone.now(),
                # The original's registry sends its notifications without a secret: accepted until an
                # admin puts the secret in its configuration and ends this (Admin > Registries).
                legacy_unsigned_notifications=True,
            )
            Namespace.objects.create(
                registry=registry, name="", kind=NamespaceKind.GLOBAL, visibility=Visibility.PUBLIC
            )
            self.registries[rid] = registry
            self._record("registries", rid, registry)

    def import_users(self) -> None:
        for row in self.source.rows("users"):
            uid = int(row["id"])
            username = _text(row["username"])
            if username == INTERNAL_ACCOUNT:
                continue  # the original's internal user is this Portus's own internal account
            found = self._already("users", uid, User, User.objects.filter(username=username), f"user {username}")
            if found is not None:
                if isinstance(found, User):
                    self.users[uid] = found
                continue
            try:
                validate_username(username)
            except ValidationError as exc:
                self.report.skip("users", uid, f"user name {username!r}: {exc.messages[0]}")
                continue
            self.users[uid] = self._new_user(uid, username, row)

    def _new_user(self, uid: int, username: str, row: dict[str, Any]) -> User:
        bot = _flag(row.get("bot"))
        locked_at = _aware(row.get("locked_at"))
        user = User(
            username=username,
            email=_text(row.get("email"))[:254],
            admin=_flag(row.get("admin")) and not bot,
            bot=bot,
            is_active=_flag(row.get("enabled", True)),
            display_name=_text(row.get("display_name"))[:150],
            failed_sign_ins=int(row.get("failed_attempts") or 0),
            locked_until=locked_at + UNLOCK_IN if locked_at else None,
            date_joined=_aware(row.get("created_at")) or timezone.now(),
            last_login=_aware(row.get("last_sign_in_at")),
        )
        ldap_name, provider, oauth_uid = (_text(row.get(k)).strip() for k in ("ldap_name", "provider", "uid"))
        # The original's LDAP users: the directory checks their password here too (the hash the original
        # kept is the directory's password of their first sign-in, never used again).
        user.ldap = bool(ldap_name) and not bot
        hashed = "" if bot or user.ldap else wrap_devise_hash(_text(row.get("encrypted_password")))
        if hashed:
            user.password = hashed
        else:
            user.set_unusable_password()
        user.save()
        if ldap_name or provider or oauth_uid:
            identity = LegacyIdentity.objects.create(
                user=user, ldap_name=ldap_name[:255], provider=provider[:64], uid=oauth_uid[:255]
            )
            self._link_identity(uid, identity)
        self._record("users", uid, user)
        return user

    def _link_identity(self, uid: int, identity: LegacyIdentity) -> None:
        """The original's way in besides a password, made this Portus's: the LDAP flag (set above) or a
        provider account (an allauth SocialAccount) that signs in to this user once the provider is on."""
        user = identity.user
        if identity.ldap_name and identity.ldap_name != user.username:
            # Portus 2.0-2.2 renamed an LDAP user whose directory name was not a valid user name; LDAP
            # sign-in here looks the directory up by the user name.
            self.report.skip(
                "identities",
                uid,
                f"{user}: the directory knows them as {identity.ldap_name!r}; LDAP sign-in looks the directory "
                f"up by the user name {user.username!r}, so rename one of them to match",
            )
        if not identity.provider:
            return
        provider = OAUTH_PROVIDERS.get(identity.provider)
        if identity.provider == "open_id":
            self.report.skip("identities", uid, f"{user}: {OPENID2}")
        elif provider is None:
            self.report.skip("identities", uid, f"{user}: unknown sign-in provider {identity.provider!r}")
        elif not identity.uid:
            self.report.skip("identities", uid, f"{user}: {identity.provider} account without its uid")
        elif (taken := SocialAccount.objects.filter(provider=provider, uid=identity.uid).first()) is not None:
            self.report.skip(
                "identities", uid, f"{user}: the {identity.provider} account {identity.uid} signs in to {taken.user}"
            )
        else:
            SocialAccount.objects.create(user=user, provider=provider, uid=identity.uid, extra_data={})
            identity.linked_at = timezone.now()
            identity.save(update_fields=["linked_at"])
            self.report.imported["identities"] += 1

    def import_teams(self) -> None:
        for row in self.source.rows("teams"):
            tid = int(row["id"])
            name = _text(row["name"])
            self.team_names[tid] = name
            if _flag(row.get("hidden")):
                continue  # a user's personal team or the global team: their namespaces say whose
            found = self._already("teams", tid, Team, Team.objects.filter(name=name), f"team {name}")
            if found is not None:
                if isinstance(found, Team):
                    self.teams[tid] = found
                continue
            if not name or len(name) > 128:
                self.report.skip("teams", tid, f"team name {name!r} is empty or longer than 128 characters")
                continue
            team = Team.objects.create(
                name=name,
                description=_text(row.get("description")),
                created_at=_aware(row.get("created_at")) or timezone.now(),
            )
            self.teams[tid] = team
            self._record("teams", tid, team)

    def import_namespaces(self) -> None:
        owners = {
            int(row["namespace_id"]): int(row["id"])
            for row in self.source.rows("users")
            if row.get("namespace_id") is not None
        }
        for row in self.source.rows("namespaces"):
            nid = int(row["id"])
            registry = self.registries.get(int(row["registry_id"]))
            name = _text(row["name"])
            if registry is None:
                self.report.skip("namespaces", nid, f"namespace {name!r}: its registry was not imported")
                continue
            visibility = VISIBILITIES.get(int(row["visibility"]) if row.get("visibility") is not None else 0)
            if visibility is None:
                self.report.skip("namespaces", nid, f"namespace {name!r}: unknown visibility {row['visibility']!r}")
                continue
            if _flag(row.get("global")):
                self._global_namespace(nid, registry, row, visibility)
                continue
            here = Namespace.objects.filter(registry=registry, name=name)
            found = self._already("namespaces", nid, Namespace, here, f"namespace {name}")
            if found is not None:
                if isinstance(found, Namespace):
                    self.namespaces[nid] = found
                continue
            if not COMPONENT_RE.match(name) or len(name) > 128:
                self.report.skip("namespaces", nid, f"namespace name {name!r} is not valid here")
                continue
            kind, team, owner = self._namespace_owner(nid, row, owners, name)
            if kind is None:
                continue
            namespace = Namespace.objects.create(
                registry=registry,
                name=name,
                kind=kind,
                team=team,
                owner=owner,
                visibility=visibility,
                description=_text(row.get("description")),
                created_at=_aware(row.get("created_at")) or timezone.now(),
            )
            self.namespaces[nid] = namespace
            self._record("namespaces", nid, namespace)

    def _namespace_owner(
        self, nid: int, row: dict[str, Any], owners: dict[int, int], name: str
    ) -> tuple[str | None, Team | None, User | None]:
        owner_id = owners.get(nid)
        if owner_id is None and row.get("team_id") is not None and int(row["team_id"]) not in self.teams:
            # A hidden team's namespace that no users.namespace_id names (older data): the user the
            # hidden team is named after owns it.
            team_name = self.team_names.get(int(row["team_id"]), "")
            owner_id = next((uid for uid, user in self.users.items() if user.username == team_name), None)
        if owner_id is not None:
            user = self.users.get(owner_id)
            if user is None:
                self.report.skip("namespaces", nid, f"personal namespace {name!r}: its user was not imported")
                return None, None, None
            if Namespace.objects.filter(owner=user).exists():
                self.report.skip("namespaces", nid, f"personal namespace {name!r}: {user} already has one here")
                return None, None, None
            return NamespaceKind.PERSONAL, None, user
        team = self.teams.get(int(row["team_id"])) if row.get("team_id") is not None else None
        if team is None:
            team_name = self.team_names.get(int(row["team_id"] or 0), "?")
            self.report.skip("namespaces", nid, f"namespace {name!r}: its team {team_name!r} was not imported")
            return None, None, None
        return NamespaceKind.TEAM, team, None

    def _global_namespace(self, nid: int, registry: Registry, row: dict[str, Any], visibility: str) -> None:
        ours = Namespace.objects.get(registry=registry, kind=NamespaceKind.GLOBAL)
        self.namespaces[nid] = ours
        if self._earlier("namespaces", nid, Namespace) is not None:
            return
        # Ours cannot be private: the global namespace holds what every user pulls by a bare name.
        ours.visibility = Visibility.PROTECTED if visibility == Visibility.PRIVATE else visibility
        ours.description = _text(row.get("description")) or ours.description
        ours.save(update_fields=["visibility", "description"])
        self._record("namespaces", nid, ours)

    def import_memberships(self) -> None:
        for row in self.source.rows("team_users"):
            mid = int(row["id"])
            team = self.teams.get(int(row["team_id"] or 0))
            user = self.users.get(int(row["user_id"] or 0))
            if team is None:
                if int(row["team_id"] or 0) not in self.team_names:
                    self.report.skip("team_users", mid, "its team does not exist in the original")
                continue  # a hidden team's owner: the personal namespace says it
            if user is None:
                self.report.skip("team_users", mid, f"member of {team.name}: the user was not imported")
                continue
            role = ROLES.get(int(row["role"]) if row.get("role") is not None else 0)
            if role is None:
                self.report.skip("team_users", mid, f"{user} in {team.name}: unknown role {row['role']!r}")
                continue
            here = TeamMembership.objects.filter(team=team, user=user)
            if self._already("team_users", mid, TeamMembership, here, f"{user} in {team.name}") is not None:
                continue
            membership = TeamMembership.objects.create(
                team=team, user=user, role=role, created_at=_aware(row.get("created_at")) or timezone.now()
            )
            self._record("team_users", mid, membership)

    def import_repositories(self) -> None:
        for row in self.source.rows("repositories"):
            rid, name = int(row["id"]), _text(row["name"])
            namespace = self._parent("repositories", rid, self.namespaces, row["namespace_id"], f"repository {name!r}")
            if namespace is None:
                continue
            here = Repository.objects.filter(namespace=namespace, name=name)
            found = self._already(
                "repositories", rid, Repository, here, f"repository {namespace.repository_prefix()}{name}"
            )
            if found is not None:
                if isinstance(found, Repository):
                    self.repositories[rid] = found
                continue
            if _flag(row.get("marked")):
                self.report.skip("repositories", rid, f"repository {name!r} was being deleted in the original")
                continue
            repository = Repository.objects.create(
                namespace=namespace,
                name=name,
                description=_text(row.get("description")),
                created_at=_aware(row.get("created_at")) or timezone.now(),
                updated_at=_aware(row.get("updated_at")) or timezone.now(),
            )
            self.repositories[rid] = repository
            self._record("repositories", rid, repository)

    def import_tags(self) -> None:
        for row in self.source.rows("tags"):
            tid, name = int(row["id"]), _text(row["name"])
            repository = self._parent("tags", tid, self.repositories, row["repository_id"], f"tag {name!r}")
            if repository is None:
                continue
            here = Tag.objects.filter(repository=repository, name=name)
            if self._already("tags", tid, Tag, here, f"tag {repository}:{name}") is not None:
                continue
            if _flag(row.get("marked")):
                self.report.skip("tags", tid, f"tag {repository}:{name} was being deleted in the original")
                continue
            digest = _text(row.get("digest"))
            if not digest:
                self.report.skip("tags", tid, f"tag {repository}:{name} has no digest (`portusctl sync` adds it)")
                continue
            image_id = _text(row.get("image_id"))
            tag = Tag.objects.create(
                repository=repository,
                name=name,
                digest=digest,
                config_digest=(image_id if ":" in image_id else f"sha256:{image_id}") if image_id else "",
                size=int(row.get("size") or 0),
                author=self.users.get(int(row["user_id"])) if row.get("user_id") is not None else None,
                pushed_at=_aware(row.get("updated_at")) or _aware(row.get("created_at")) or timezone.now(),
                last_pulled_at=_aware(row.get("pulled_at")),
            )
            self._record("tags", tid, tag)

    def _simple_rows(self, table: str, build: Callable[[dict[str, Any]], Model | str]) -> None:
        """Rows that hang off a user and a repository: BUILD returns the new object or why not."""
        for row in self.source.rows(table):
            sid = int(row["id"])
            if self.done.get(table, {}).get(sid) is not None:
                self.report.existing[table] += 1
                continue
            made = build(row)
            if isinstance(made, str):
                self.report.skip(table, sid, made)
            else:
                self._record(table, sid, made)

    def import_stars(self) -> None:
        def star(row: dict[str, Any]) -> Model | str:
            user = self.users.get(int(row["user_id"] or 0))
            repository = self.repositories.get(int(row["repository_id"] or 0))
            if user is None or repository is None:
                return "its user or repository was not imported"
            if Star.objects.filter(user=user, repository=repository).exists():
                return f"{user} already stars {repository} here"
            return Star.objects.create(
                user=user, repository=repository, created_at=_aware(row.get("created_at")) or timezone.now()
            )

        self._simple_rows("stars", star)

    def import_comments(self) -> None:
        def comment(row: dict[str, Any]) -> Model | str:
            repository = self.repositories.get(int(row["repository_id"] or 0))
            if repository is None:
                return "its repository was not imported"
            return Comment.objects.create(
                repository=repository,
                author=self.users.get(int(row["user_id"])) if row.get("user_id") is not None else None,
                body=_text(row.get("body")),
                created_at=_aware(row.get("created_at")) or timezone.now(),
            )

        self._simple_rows("comments", comment)

    def import_tokens(self) -> None:
        now = timezone.now()

        def token(row: dict[str, Any]) -> Model | str:
            user = self.users.get(int(row["user_id"] or 0))
            name = _text(row.get("application")).strip()[:100]
            hashed = _text(row.get("token_hash"))
            if user is None:
                return f"token {name!r}: its user was not imported"
            if not hashed.startswith("$2"):
                return f"token {name!r} of {user}: its hash is not bcrypt"
            if ApplicationToken.objects.filter(user=user, name=name).exists():
                return f"token {name!r}: {user} already has a token of that name here"
            return ApplicationToken.objects.create(
                user=user,
                name=name,
                # A placeholder no secret hashes to, until the secret is first presented.
                digest=hashlib.sha256(f"portus-imported:{hashed}".encode()).hexdigest(),
                hint="imported",
                imported_hash=hashed,
                imported_at=now,
            )

        self._simple_rows("application_tokens", token)

    def import_activities(self) -> None:
        def activity(row: dict[str, Any]) -> Model | str:
            key = _text(row.get("key")) or "unknown"
            data, problem = parse_parameters(_text(row.get("parameters")))
            if problem:
                data["import_note"] = problem
            data["imported"] = True
            if ACTIVITY_KEYS.get(key, key) != key:
                data["original_key"] = key
            if ACTIVITY_KEYS.get(key, key) in MEMBER_ACTIONS:
                data.update(member_fields(data))  # the original's names kept beside ours
            target, namespace, team = self._trackable(row, data)
            owner = self.users.get(int(row["owner_id"])) if row.get("owner_id") is not None else None
            if owner is None and row.get("owner_id") is not None:
                data["reported_actor"] = _text(data.get("owner_name")) or INTERNAL_ACCOUNT
            return Activity.objects.create(
                actor=owner,
                action=ACTIVITY_KEYS.get(key, key)[:64],
                target=target[:300],
                namespace=namespace,
                team=team,
                data=data,
                created_at=_aware(row.get("created_at")) or timezone.now(),
            )

        self._simple_rows("activities", activity)

    def _trackable(self, row: dict[str, Any], data: dict[str, Any]) -> tuple[str, Namespace | None, Team | None]:
        """What the line is about, as text, and the namespace or team that scopes who may read it."""
        kind = _text(row.get("trackable_type"))
        tid = int(row["trackable_id"]) if row.get("trackable_id") is not None else 0
        if kind == "Namespace" and tid in self.namespaces:
            namespace = self.namespaces[tid]
            return namespace.display_name, namespace, None
        if kind == "Repository" and tid in self.repositories:
            repository = self.repositories[tid]
            tag = _text(data.get("tag_name"))
            return f"{repository.full_name}{':' + tag if tag else ''}", repository.namespace, None
        if kind == "Team" and tid in self.teams:
            return self.teams[tid].name, None, self.teams[tid]
        if kind == "User" and tid in self.users:
            return self.users[tid].username, None, None
        if kind == "Webhook":
            return self._webhook_trackable(tid, data)
        named = [key for key in data if key.endswith("_name")]
        for key in ("repository_name", "namespace_name", "team", "name", "application", *named):
            if data.get(key):
                return _text(data[key]), None, None
        return f"{kind or 'object'} #{tid} of the original", None, None

    def _webhook_trackable(self, tid: int, data: dict[str, Any]) -> tuple[str, Namespace | None, Team | None]:
        """A webhook's line: scoped to its namespace, so only those who manage its webhooks read it. The
        original wrote the namespace and webhook into the parameters when it deleted one."""
        webhook = self.webhooks.get(tid)
        namespace: Namespace | None
        if webhook is not None:
            namespace, name = webhook.namespace, webhook.name
            data.setdefault("webhook_host", webhook.host)
        else:
            namespace = self.namespaces.get(int(data.get("namespace_id") or 0))
            name = _text(data.get("webhook_name")) or f"#{tid} of the original"
        data.setdefault("webhook", name)
        if namespace is None:
            return f"webhook {name}", None, None
        return f"{namespace.display_name}: {name}", namespace, None

    def import_webhooks(self) -> None:
        """Each webhook with its password sealed (the original kept it in plain) and a new signing secret
        (the original signed nothing): a receiver that checks signatures gets one from the page."""
        for row in self.source.rows("webhooks"):
            wid, name = int(row["id"]), _text(row.get("name")).strip()[:255]
            namespace = self._parent("webhooks", wid, self.namespaces, row["namespace_id"], f"webhook {name!r}")
            if namespace is None:
                continue
            here = Webhook.objects.filter(namespace=namespace, name=name)
            found = self._already("webhooks", wid, Webhook, here, f"webhook {name} of {namespace.display_name}")
            if found is not None:
                if isinstance(found, Webhook):
                    self.webhooks[wid] = found
                continue
            made = self._new_webhook(row, namespace, name)
            if isinstance(made, str):
                self.report.skip("webhooks", wid, f"webhook {name!r} of {namespace.display_name}: {made}")
                continue
            self.webhooks[wid] = made
            self._record("webhooks", wid, made)

    def _new_webhook(self, row: dict[str, Any], namespace: Namespace, name: str) -> Webhook | str:
        """The webhook ROW describes, saved; or why it cannot be."""
        method_value, type_value = row.get("request_method"), row.get("content_type")
        method = REQUEST_METHODS.get(int(method_value)) if method_value is not None else RequestMethod.GET
        content_type = CONTENT_TYPES.get(int(type_value)) if type_value is not None else ContentType.JSON
        if method is None:
            return f"unknown request method {method_value!r}"
        if content_type is None:
            return f"unknown content type {type_value!r}"
        try:
            url = check_url(_text(row.get("url")))
        except ActionError as exc:
            return str(exc)
        created = _aware(row.get("created_at")) or timezone.now()
        webhook = Webhook(
            namespace=namespace,
            name=name or _host_of(url),
            url=url,
            request_method=method,
            content_type=content_type,
            username=_text(row.get("username")).strip()[:255],
            enabled=_flag(row.get("enabled")),
            original_form_body=True,
            created_at=created,
            updated_at=_aware(row.get("updated_at")) or created,
        )
        webhook.set_password(_text(row.get("password")))
        webhook.set_secret(new_secret())
        webhook.save()
        return webhook

    def import_webhook_headers(self) -> None:
        def header(row: dict[str, Any]) -> Model | str:
            webhook = self.webhooks.get(int(row["webhook_id"] or 0))
            name, value = _text(row.get("name")), _text(row.get("value"))
            if webhook is None:
                return f"header {name!r}: its webhook was not imported"
            try:
                name = check_header(name, value)
            except ActionError as exc:
                return f"header of webhook {webhook.name}: {exc}"
            if WebhookHeader.objects.filter(webhook=webhook, name__iexact=name).exists():
                return f"webhook {webhook.name} already has the header {name} here"
            made = WebhookHeader(webhook=webhook, name=name, created_at=_aware(row.get("created_at")) or timezone.now())
            made.set_value(value)
            made.save()
            return made

        self._simple_rows("webhook_headers", header)

    def import_webhook_deliveries(self) -> None:
        """The delivery log as history: delivered or failed, never pending, so the worker sends none again
        (a person can still send one again from the page)."""

        def delivery(row: dict[str, Any]) -> Model | str:
            webhook = self.webhooks.get(int(row["webhook_id"] or 0))
            if webhook is None:
                return "its webhook was not imported"
            given = _text(row.get("uuid"))
            try:
                delivery_id = uuid.UUID(given)
            except ValueError:
                # Not a UUID (hand-made rows): one derived from it, the same at every run.
                delivery_id = uuid.uuid5(uuid.NAMESPACE_URL, f"portus-import:webhook_deliveries:{row['id']}:{given}")
            if WebhookDelivery.objects.filter(webhook=webhook, uuid=delivery_id).exists():
                return f"delivery {given} of webhook {webhook.name} is already here"
            # Typhoeus reported 0 when no answer came.
            status = int(row["status"]) if row.get("status") else None
            delivered = status is not None and 200 <= status < 300
            body = _text(row.get("request_body"))
            created = _aware(row.get("created_at")) or timezone.now()
            return WebhookDelivery.objects.create(
                webhook=webhook,
                uuid=delivery_id,
                event=_event_action(body),
                state=DeliveryState.DELIVERED if delivered else DeliveryState.FAILED,
                status=status,
                error="" if delivered else ("no answer" if status is None else f"the receiver answered {status}"),
                request_body=body,
                request_header=_logged_request_header(_text(row.get("request_header"))),
                response_header=_text(row.get("response_header"))[:LOG_LIMIT],
                response_body=_text(row.get("response_body"))[:LOG_LIMIT],
                attempts=1,
                created_at=created,
                updated_at=_aware(row.get("updated_at")) or created,
                delivered_at=created if delivered else None,
            )

        self._simple_rows("webhook_deliveries", delivery)

    def note_not_imported(self) -> None:
        for table, why in NOT_IMPORTED.items():
            if table in self.source.tables():
                self.report.notes.append(f"{table}: {self.source.count(table)} rows {why}")
