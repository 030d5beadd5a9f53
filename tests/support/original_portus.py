"""An original Portus database, built from its published schema (SUSE/Portus db/schema.rb) and
filled the way the original's Rails code fills it: Devise bcrypt passwords at cost 10, application
tokens hashed with their own bcrypt salt, a hidden team and personal namespace per user, the
internal ``portus`` user and the global team, the enum values, public_activity's YAML parameters.

Both MariaDB and PostgreSQL; source databases are named by ``source_name`` after this run's own test
database (PORTUS_DB_DATABASE, one per checkout and CI job) so runs side by side never share one, and
are dropped after."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import bcrypt

# (column, type, options) in schema.rb's order; types are schema.rb's. "2.4"/"2.5": added in that release.
Column = tuple[str, str, dict[str, Any]]
NN: dict[str, Any] = {"null": False}

SCHEMA: dict[str, list[Column]] = {
    "activities": [
        ("trackable_type", "string", {}),
        ("trackable_id", "integer", {}),
        ("owner_type", "string", {}),
        ("owner_id", "integer", {}),
        ("key", "string", {}),
        ("parameters", "text", {}),
        ("recipient_type", "string", {}),
        ("recipient_id", "integer", {}),
        ("created_at", "datetime", {}),
        ("updated_at", "datetime", {}),
    ],
    "application_tokens": [
        ("application", "string", NN),
        ("token_hash", "string", NN),
        ("token_salt", "string", NN),
        ("user_id", "integer", NN),
    ],
    "comments": [
        ("body", "text", {}),
        ("repository_id", "integer", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("user_id", "integer", {}),
    ],
    "namespaces": [
        ("name", "string", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("team_id", "integer", {}),
        ("registry_id", "integer", NN),
        ("global", "boolean", {"default": False}),
        ("description", "text", {}),
        ("visibility", "integer", {}),
    ],
    "registries": [
        ("name", "string", NN),
        ("hostname", "string", NN),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("use_ssl", "boolean", {}),
        ("external_hostname", "string", {}),
    ],
    "registry_events": [
        ("event_id", "string", {"default": ""}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("status", "integer", {"default": 0}),
        ("data", "text", {}),
    ],
    "repositories": [
        ("name", "string", {"default": "", "null": False}),
        ("namespace_id", "integer", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("marked", "boolean", {"default": False}),
        ("description", "text", {"since": "2.5"}),
    ],
    "scan_results": [
        ("tag_id", "integer", {}),
        ("vulnerability_id", "integer", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
    ],
    "stars": [
        ("user_id", "integer", {}),
        ("repository_id", "integer", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
    ],
    "tags": [
        ("name", "string", {"default": "latest", "null": False}),
        ("repository_id", "integer", NN),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("user_id", "integer", {}),
        ("digest", "string", {}),
        ("image_id", "string", {"default": ""}),
        ("marked", "boolean", {"default": False}),
        ("username", "string", {}),
        ("scanned", "integer", {"default": 0}),
        ("vulnerabilities", "mediumtext", {"until": "2.4"}),  # 2.3 kept them on the tag
        ("size", "bigint", {"since": "2.5"}),
        ("pulled_at", "datetime", {"since": "2.5"}),
    ],
    "team_users": [
        ("user_id", "integer", {}),
        ("team_id", "integer", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("role", "integer", {"default": 0}),
    ],
    "teams": [
        ("name", "string", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("hidden", "boolean", {"default": False}),
        ("description", "text", {}),
        ("ldap_group_checked", "integer", {"default": 0, "since": "2.5"}),
        ("checked_at", "datetime", {"since": "2.5"}),
    ],
    "users": [
        ("username", "string", {"default": "", "null": False}),
        ("email", "string", {"default": ""}),
        ("encrypted_password", "string", {"default": "", "null": False}),
        ("reset_password_token", "string", {}),
        ("reset_password_sent_at", "datetime", {}),
        ("remember_created_at", "datetime", {}),
        ("sign_in_count", "integer", {"default": 0, "null": False}),
        ("current_sign_in_at", "datetime", {}),
        ("last_sign_in_at", "datetime", {}),
        ("current_sign_in_ip", "string", {}),
        ("last_sign_in_ip", "string", {}),
        ("created_at", "datetime", {}),
        ("updated_at", "datetime", {}),
        ("admin", "boolean", {"default": False}),
        ("enabled", "boolean", {"default": True}),
        ("ldap_name", "string", {}),
        ("failed_attempts", "integer", {"default": 0}),
        ("locked_at", "datetime", {}),
        ("namespace_id", "integer", {}),
        ("display_name", "string", {}),
        ("provider", "string", {}),
        ("uid", "string", {}),
        ("bot", "boolean", {"default": False, "since": "2.4"}),
        ("ldap_group_checked", "integer", {"default": 0, "since": "2.5"}),
    ],
    "vulnerabilities": [
        ("name", "string", NN),
        ("scanner", "string", {"default": "", "null": False}),
        ("severity", "string", {"default": "", "null": False}),
        ("link", "string", {"default": "", "null": False}),
        ("fixed_by", "string", {"default": "", "null": False}),
        ("metadata", "text", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("description", "text", {}),
    ],
    "webhook_deliveries": [
        ("webhook_id", "integer", {}),
        ("uuid", "string", {}),
        ("status", "integer", {}),
        ("request_header", "text", {}),
        ("request_body", "text", {}),
        ("response_header", "text", {}),
        ("response_body", "text", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
    ],
    "webhook_headers": [
        ("webhook_id", "integer", {}),
        ("name", "string", {}),
        ("value", "string", {}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
    ],
    "webhooks": [
        ("namespace_id", "integer", {}),
        ("url", "string", {}),
        ("username", "string", {}),
        ("password", "string", {}),
        ("request_method", "integer", {}),
        ("content_type", "integer", {}),
        ("enabled", "boolean", {"default": False}),
        ("created_at", "datetime", NN),
        ("updated_at", "datetime", NN),
        ("name", "string", NN),
    ],
}
TABLES_SINCE = {"scan_results": "2.4", "vulnerabilities": "2.4"}
UNIQUE_INDEXES = {
    "namespaces": [("name", "registry_id")],
    "registries": [("hostname",), ("name",)],
    "repositories": [("name", "namespace_id")],
    "teams": [("name",)],
    "users": [("display_name",), ("email",), ("reset_password_token",), ("username",)],
    "vulnerabilities": [("name",)],
    "webhook_deliveries": [("webhook_id", "uuid")],
    "webhook_headers": [("webhook_id", "name")],
}
# schema_migrations' last version per release (the original's db/schema.rb at each tag).
VERSIONS = {"2.2": "20170630194953", "2.3": "20180207145522", "2.4": "20180612145708", "2.5": "20190314173309"}
ORDER = ("2.2", "2.3", "2.4", "2.5")

SQL_TYPES = {
    "mysql": {
        "string": "VARCHAR(255)",
        "text": "TEXT",
        "mediumtext": "MEDIUMTEXT",
        "integer": "INT",
        "bigint": "BIGINT",
        "boolean": "TINYINT(1)",
        "datetime": "DATETIME",
    },
    "postgresql": {
        "string": "VARCHAR",
        "text": "TEXT",
        "mediumtext": "TEXT",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "boolean": "BOOLEAN",
        "datetime": "TIMESTAMP",
    },
}


def _present(options: dict[str, Any], release: str) -> bool:
    since, until = options.get("since"), options.get("until")
    if since and ORDER.index(release) < ORDER.index(since):
        return False
    return not (until and ORDER.index(release) >= ORDER.index(until))


def ddl(dialect: str, release: str = "2.5") -> list[str]:
    """CREATE statements for the original's schema at RELEASE, as schema.rb describes it."""
    q = "`" if dialect == "mysql" else '"'
    statements = ["CREATE TABLE schema_migrations (version VARCHAR(255) NOT NULL PRIMARY KEY)"]
    for table, columns in SCHEMA.items():
        if table in TABLES_SINCE and not _present({"since": TABLES_SINCE[table]}, release):
            continue
        pk = "id INT AUTO_INCREMENT PRIMARY KEY" if dialect == "mysql" else "id SERIAL PRIMARY KEY"
        parts = [pk]
        for name, kind, options in columns:
            if not _present(options, release):
                continue
            sql = f"{q}{name}{q} {SQL_TYPES[dialect][kind]}"
            if "default" in options:
                default = options["default"]
                if isinstance(default, bool):
                    default = ("1" if default else "0") if dialect == "mysql" else ("TRUE" if default else "FALSE")
                elif isinstance(default, str):
                    default = f"'{default}'"
                sql += f" DEFAULT {default}"
            if options.get("null") is False:
                sql += " NOT NULL"
            parts.append(sql)
        suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8" if dialect == "mysql" else ""
        statements.append(f"CREATE TABLE {q}{table}{q} ({', '.join(parts)}){suffix}")
        for number, columns_ in enumerate(UNIQUE_INDEXES.get(table, [])):
            cols = ", ".join(f"{q}{c}{q}" for c in columns_)
            statements.append(f"CREATE UNIQUE INDEX {table}_u{number} ON {q}{table}{q} ({cols})")
    return statements


# -- servers -----------------------------------------------------------------------------------------

MYSQL = {"host": "127.0.0.1", "user": "root", "port": 3306}
POSTGRESQL = "postgresql://postgres@127.0.0.1:5432"


def server_reachable(dialect: str) -> bool:
    try:
        with _admin(dialect):
            return True
    except Exception:
        return False


@contextmanager
def _admin(dialect: str) -> Iterator[Any]:
    if dialect == "mysql":
        import MySQLdb

        connection = MySQLdb.connect(**MYSQL, connect_timeout=3)
    else:
        import psycopg

        connection = psycopg.connect(POSTGRESQL + "/postgres", autocommit=True, connect_timeout=3)
    try:
        yield connection
    finally:
        connection.close()


def url(dialect: str, name: str) -> str:
    return f"mysql://root@127.0.0.1:3306/{name}" if dialect == "mysql" else f"{POSTGRESQL}/{name}"


@contextmanager
def connect(dialect: str, name: str) -> Iterator[Any]:
    if dialect == "mysql":
        import MySQLdb

        connection = MySQLdb.connect(**MYSQL, database=name, charset="utf8mb4")
    else:
        import psycopg

        connection = psycopg.connect(f"{POSTGRESQL}/{name}")
    try:
        yield connection
        connection.commit()
    finally:
        connection.close()


def source_name(label: str) -> str:
    """The name of the original-schema database LABEL for this run: after the run's own database name
    (PORTUS_DB_DATABASE), or this process on SQLite, so two runs at once never drop each other's."""
    base = os.environ.get("PORTUS_DB_DATABASE") or f"portus_sqlite{os.getpid()}"
    name = f"{base}_src_{label}"
    assert re.fullmatch(r"[a-z0-9_]{1,64}", name), name
    return name


@contextmanager
def original_database(dialect: str, name: str, release: str = "2.5") -> Iterator[str]:
    """An empty original-schema database NAME at RELEASE; its URL. Dropped afterwards."""
    assert "_src_" in name, "name it with source_name()"
    drop(dialect, name)
    with _admin(dialect) as admin:
        cursor = admin.cursor()
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.close()
    try:
        with connect(dialect, name) as connection:
            cursor = connection.cursor()
            for statement in ddl(dialect, release):
                cursor.execute(statement)
            for version in ORDER[: ORDER.index(release) + 1]:
                cursor.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [VERSIONS[version]])
        yield url(dialect, name)
    finally:
        drop(dialect, name)


def drop(dialect: str, name: str) -> None:
    with _admin(dialect) as admin:
        cursor = admin.cursor()
        if dialect == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.close()


# -- what the original would have written ------------------------------------------------------------


def devise_password(password: str) -> str:
    """Devise's encrypted_password: BCrypt::Password.create(password) at cost 10 (config.stretches)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10, prefix=b"2a")).decode()


def application_token(plain: str) -> tuple[str, str]:
    """(token_salt, token_hash) as ApplicationToken.create_token stores them."""
    salt = bcrypt.gensalt(rounds=10, prefix=b"2a")
    return salt.decode(), bcrypt.hashpw(plain.encode(), salt).decode()


@dataclass
class Original:
    """What was written, for the tests to check against."""

    dialect: str
    release: str
    ids: dict[str, int] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # "user/application" -> plain token


class _Writer:
    def __init__(self, cursor: Any, dialect: str, release: str) -> None:
        self.cursor, self.dialect, self.release = cursor, dialect, release
        self.q = "`" if dialect == "mysql" else '"'

    def insert(self, table: str, **values: Any) -> int:
        columns = {n for n, _, o in SCHEMA[table] if _present(o, self.release)}
        values = {k: v for k, v in values.items() if k in columns}
        names = ", ".join(f"{self.q}{k}{self.q}" for k in values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {self.q}{table}{self.q} ({names}) VALUES ({marks})"
        if self.dialect == "postgresql":
            self.cursor.execute(sql + " RETURNING id", list(values.values()))
            return int(self.cursor.fetchone()[0])
        self.cursor.execute(sql, list(values.values()))
        return int(self.cursor.lastrowid)

    def update(self, table: str, row_id: int, **values: Any) -> None:
        sets = ", ".join(f"{self.q}{k}{self.q} = %s" for k in values)
        self.cursor.execute(f"UPDATE {self.q}{table}{self.q} SET {sets} WHERE id = %s", [*values.values(), row_id])


T0 = dt.datetime(2019, 5, 1, 12, 0, 0)


# The original's webhook_deliveries.request_header: Ruby's Hash#to_s of the headers it sent.
HOOK_REQUEST_HEADER = '{"Content-Type"=>"application/json", "X-Token"=>"abc"}'
HOOK_DELIVERY_UUID = "2f1c5e8a-4b7d-4c1e-9a3f-6d2b8e0c7a15"
BITBUCKET_UUID = "{00004243-0000-0000-0000-000000000000}"
OIDC_SUB = "248289761001"
EXTERNAL_HOSTNAME = "registry.public.example.org"


def fill(
    dialect: str,
    name: str,
    registry_host: str,
    release: str = "2.5",
    webhook_url: str = "http://127.0.0.1:9/hook",
    use_ssl: bool = False,
) -> Original:
    """Registry, users (admin, contributor, viewer, disabled, LDAP, GitHub, Bitbucket, Google, OpenID 2,
    OpenID Connect, bot,
    locked), their hidden teams and personal namespaces, the internal user and global namespace, team qa with
    its namespace, a repository with tags, a star, a comment, tokens, activities, webhooks with a header and
    deliveries (the first at WEBHOOK_URL); plus rows that cannot map."""
    original = Original(dialect, release)
    stamp = {"created_at": T0, "updated_at": T0}
    with connect(dialect, name) as connection:
        w = _Writer(connection.cursor(), dialect, release)
        reg = w.insert(
            "registries",
            name="registry",
            hostname=registry_host,
            external_hostname=EXTERNAL_HOSTNAME,
            use_ssl=use_ssl,
            **stamp,
        )
        original.ids["registry"] = reg

        def personal(username: str, **user: Any) -> int:
            team = w.insert("teams", name=username, hidden=True, **stamp)
            ns = w.insert("namespaces", name=username, team_id=team, registry_id=reg, visibility=0, **stamp)
            password = user.pop("password", None)
            encrypted = devise_password(password) if password else devise_password("unused-" + username)
            if password:
                original.passwords[username] = password
            uid = w.insert("users", username=username, encrypted_password=encrypted, namespace_id=ns, **user, **stamp)
            w.insert("team_users", user_id=uid, team_id=team, role=2, **stamp)
            original.ids[username] = uid
            original.ids[f"ns:{username}"] = ns
            return uid

        # The internal user and the global namespace (User.create_portus_user!, Registry after_create).
        portus = w.insert(
            "users",
            username="portus",
            email="portus@portus.com",
            admin=True,
            encrypted_password=devise_password("internal"),
            **stamp,
        )
        global_team = w.insert("teams", name="portus_global_team_1", hidden=True, **stamp)
        w.insert("team_users", user_id=portus, team_id=global_team, role=2, **stamp)
        original.ids["ns:global"] = w.insert(
            "namespaces",
            name="registry",
            team_id=global_team,
            registry_id=reg,
            visibility=2,
            **{"global": True},
            description="Everything pushed without a namespace",
            **stamp,
        )

        alice = personal(
            "alice",
            email="alice@example.com",
            admin=True,
            password="alice-old-password",
            display_name="Alice A.",
            sign_in_count=3,
            last_sign_in_at=T0,
        )
        bob = personal("bob", email="bob@example.com", password="bob-old-password")
        carol = personal("carol", email="carol@example.com", password="carol-old-password")
        personal("dave", email="dave@example.com", password="dave-old-password", enabled=False)
        # LDAP users: ldap_name is the name the person signed in with (lib/portus/ldap.rb before 2.3).
        personal("erin", email="", ldap_name="erin")
        personal("frank", email="frank@example.com", provider="github", uid="424242")
        personal("ivan", email="ivan@example.com", provider="bitbucket", uid=BITBUCKET_UUID)
        personal("judy", email="judy@example.com", provider="open_id", uid="https://openid.example.org/judy")
        personal("kate", email="kate@example.com", provider="google_oauth2", uid="108234567890123456789")
        if release == "2.5":  # OpenID Connect came with the 2.5 line; omniauth's uid is the ID token's sub
            personal("lena", email="lena@example.com", provider="openid_connect", uid=OIDC_SUB)
        personal(
            "gina",
            email="gina@example.com",
            password="gina-old-password",
            failed_attempts=10,
            locked_at=dt.datetime(2030, 1, 1),
        )
        # Older data: a personal namespace no users.namespace_id names, only its hidden team's name.
        henry = personal("henry", email="henry@example.com", password="henry-old-password")
        w.update("users", henry, namespace_id=None)
        if release != "2.3":
            robot = w.insert(
                "users",
                username="robot",
                email="robot@example.com",
                bot=True,
                encrypted_password=devise_password("x" * 20),
                **stamp,
            )
            original.ids["robot"] = robot

        qa = w.insert("teams", name="qa", description="Quality", **stamp)
        original.ids["team:qa"] = qa
        w.insert("team_users", user_id=alice, team_id=qa, role=2, **stamp)
        w.insert("team_users", user_id=bob, team_id=qa, role=1, **stamp)
        w.insert("team_users", user_id=carol, team_id=qa, role=0, **stamp)
        original.ids["bad_role"] = w.insert("team_users", user_id=carol, team_id=qa, role=7, **stamp)
        ns_qa = w.insert(
            "namespaces", name="qa", team_id=qa, registry_id=reg, visibility=1, description="QA images", **stamp
        )
        original.ids["ns:qa"] = ns_qa

        app = w.insert("repositories", name="app", namespace_id=ns_qa, description="The app", **stamp)
        original.ids["repo:qa/app"] = app
        digest = "sha256:" + "ab" * 32
        w.insert(
            "tags",
            name="v1",
            repository_id=app,
            user_id=alice,
            digest=digest,
            image_id="cd" * 32,
            username="alice",
            size=1234,
            **stamp,
        )
        original.ids["no_digest"] = w.insert(
            "tags", name="broken", repository_id=app, user_id=alice, digest=None, username="alice", **stamp
        )
        w.insert("stars", user_id=bob, repository_id=app, **stamp)
        w.insert("comments", body="Works for me", repository_id=app, user_id=carol, **stamp)

        for owner, app_name, plain in (
            ("bob", "ci", "bobCiT0kenFriendly12"),
            ("robot", "deploy", "r0b0tDeployT0ken3456"),
        ):
            if owner not in original.ids:
                continue
            salt, hashed = application_token(plain)
            w.insert(
                "application_tokens",
                application=app_name,
                token_hash=hashed,
                token_salt=salt,
                user_id=original.ids[owner],
            )
            original.tokens[f"{owner}/{app_name}"] = plain

        hook = w.insert(
            "webhooks",
            namespace_id=ns_qa,
            url=webhook_url,
            request_method=1,
            content_type=0,
            username="hook-user",
            password="hook-password",
            enabled=True,
            name="ci-hook",
            **stamp,
        )
        original.ids["hook:ci-hook"] = hook
        w.insert("webhook_headers", webhook_id=hook, name="X-Token", value="abc", **stamp)
        w.insert(
            "webhook_deliveries",
            webhook_id=hook,
            uuid=HOOK_DELIVERY_UUID,
            status=200,
            request_header=HOOK_REQUEST_HEADER,
            request_body='{"id":"e-1","action":"push","target":{"repository":"qa/app","tag":"v1"}}',
            response_header="HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
            response_body="ok",
            **stamp,
        )
        w.insert("webhook_deliveries", webhook_id=hook, uuid="u-2", status=0, request_body="{}", **stamp)
        form_hook = w.insert(
            "webhooks",
            namespace_id=ns_qa,
            url="https://hooks.example.com/form",
            request_method=0,
            content_type=1,
            enabled=False,
            name="form-hook",
            **stamp,
        )
        original.ids["hook:form-hook"] = form_hook
        original.ids["hook:bad"] = w.insert(
            "webhooks", namespace_id=ns_qa, url="ftp://files.example.com/", request_method=1, name="bad", **stamp
        )

        def activity(key: str, kind: str, target: int, owner: int, parameters: str | None) -> None:
            w.insert(
                "activities",
                trackable_type=kind,
                trackable_id=target,
                owner_type="User",
                owner_id=owner,
                key=key,
                parameters=parameters,
                created_at=T0,
                updated_at=T0,
            )

        activity("namespace.create", "Namespace", ns_qa, alice, "--- {}\n")
        activity("team.add_member", "Team", qa, alice, "---\n:role: contributor\n:team_user: bob\n:team: qa\n")
        activity("repository.push", "Repository", app, bob, "---\n:tag_name: v1\n")
        activity(
            "team.change_member_role",
            "Team",
            qa,
            alice,
            # TeamUser#create_activity! of the original: its role, team and member beside the two roles.
            "--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\nold_role: viewer\nnew_role: :contributor\n"
            "team: qa\nteam_user: bob\nrole: :contributor\n",
        )
        activity("webhook.create", "Webhook", hook, alice, "--- {}\n")
        activity("webhook.disabled", "Webhook", form_hook, alice, "--- {}\n")
        # A deleted webhook: the original wrote what the line needs into its parameters (update_activities!).
        activity(
            "webhook.destroy",
            "Webhook",
            999,
            alice,
            f"---\n:namespace_id: {ns_qa}\n:namespace_name: qa\n:webhook_url: https://old.example.com/x\n"
            ":webhook_host: old.example.com\n:webhook_name: old-hook\n",
        )
        activity("namespace.change_visibility", "Namespace", ns_qa, portus, "---\n:visibility: visibility_protected\n")
        # A key this Portus has no line for, and parameters that are not YAML: both kept, as text.
        activity("namespace.sync_ldap_group", "Namespace", ns_qa, alice, "---\n:group: cn=qa\n")
        activity("repository.retag", "Repository", app, bob, "--- [unclosed\n")

        w.insert("registry_events", event_id="e-1", status=1, data="{}", **stamp)
    return original
