"""Reading an original Portus database, read-only: the connection, its schema version, its rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

# The schema versions (schema_migrations) of the releases this importer reads.
SCHEMA_2_3 = "20180207145522"  # 2.3.0 to 2.3.7
SCHEMA_2_4 = "20180612145708"  # 2.4.0 (users.bot, scan_results)
SCHEMA_2_5 = "20190314173309"  # the 2.5 line (repositories.description, tags.size, tags.pulled_at)
RELEASES = ((SCHEMA_2_5, "2.5"), ("20181213101302", "2.4"), (SCHEMA_2_4, "2.4"), (SCHEMA_2_3, "2.3"))

MYSQL_SCHEMES = ("mysql", "mysql2", "mariadb")
POSTGRESQL_SCHEMES = ("postgres", "postgresql", "postgis")


class SourceError(Exception):
    """The source database cannot be read or is not an original Portus 2.3 or later; the message says why."""


class _Cursor(Protocol):
    description: Any

    def execute(self, sql: str, params: Any = ...) -> Any: ...
    def fetchall(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def close(self) -> Any: ...


def redacted(url: str) -> str:
    """URL without its password, for messages and the import record."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def release_of(version: str) -> str:
    return next((name for floor, name in RELEASES if version >= floor), "older than 2.3")


@dataclass
class Source:
    """An open, read-only connection to the original's database."""

    url: str
    connection: Any
    dialect: str  # "mysql" or "postgresql"
    schema_version: str = ""

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row of TABLE as a mapping of column to value, in id order; nothing when the table is absent."""
        if table not in self.tables():
            return
        cursor: _Cursor = self.connection.cursor()
        try:
            quote = "`" if self.dialect == "mysql" else '"'
            cursor.execute(f"SELECT * FROM {quote}{table}{quote} ORDER BY id")  # noqa: S608 - fixed table names
            names = [column[0] for column in cursor.description]
            for values in cursor.fetchall():
                yield dict(zip(names, values, strict=True))
        finally:
            cursor.close()

    def count(self, table: str) -> int:
        return sum(1 for _ in self.rows(table))

    def tables(self) -> set[str]:
        if not hasattr(self, "_tables"):
            cursor: _Cursor = self.connection.cursor()
            if self.dialect == "mysql":
                cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
            else:
                cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            self._tables = {str(row[0]) for row in cursor.fetchall()}
            cursor.close()
        return self._tables

    def close(self) -> None:
        try:
            self.connection.rollback()  # nothing was written; end the read-only transaction
        finally:
            self.connection.close()


def _connect_mysql(url: str) -> Any:
    try:
        import MySQLdb  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - an install without the mysql extra
        raise SourceError("reading a MySQL/MariaDB source needs mysqlclient: pip install 'portus[mysql]'.") from None
    parts = urlsplit(url)
    options: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
        "port": parts.port or 3306,
        "charset": "utf8mb4",
        "connect_timeout": 10,
    }
    try:
        connection = MySQLdb.connect(**options)
        cursor = connection.cursor()
        # Every statement of this session is refused if it would write.
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.execute("START TRANSACTION READ ONLY")
        cursor.close()
    except MySQLdb.Error as exc:
        raise SourceError(f"cannot read {redacted(url)}: {exc.args[-1] if exc.args else exc}") from None
    return connection


def _connect_postgresql(url: str) -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - an install without the postgresql extra
        raise SourceError("reading a PostgreSQL source needs psycopg: pip install 'portus[postgresql]'.") from None
    conninfo = urlunsplit(urlsplit(url)._replace(scheme="postgresql"))
    try:
        connection = psycopg.connect(conninfo, connect_timeout=10)
        connection.read_only = True  # BEGIN READ ONLY: the server refuses any write
        connection.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise SourceError(f"cannot read {redacted(url)}: {str(exc).strip().splitlines()[0]}") from None
    return connection


def open_source(url: str) -> Source:
    """Connect to URL read-only and check that it is an original Portus 2.3 or later database."""
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in MYSQL_SCHEMES:
        source = Source(url, _connect_mysql(url), "mysql")
    elif scheme in POSTGRESQL_SCHEMES:
        source = Source(url, _connect_postgresql(url), "postgresql")
    else:
        raise SourceError(
            f"{redacted(url)!r}: give the original's database as mysql://USER:PASSWORD@HOST/NAME "
            "or postgresql://USER:PASSWORD@HOST/NAME."
        )
    try:
        source.schema_version = _schema_version(source)
    except BaseException:
        source.close()
        raise
    return source


def _schema_version(source: Source) -> str:
    needed = {"schema_migrations", "users", "namespaces", "registries", "teams", "team_users", "repositories", "tags"}
    missing = needed - source.tables()
    if missing:
        raise SourceError(
            f"{redacted(source.url)} is not an original Portus database (no {', '.join(sorted(missing))} table)."
        )
    cursor = source.connection.cursor()
    cursor.execute("SELECT MAX(version) FROM schema_migrations")
    row = cursor.fetchone()
    cursor.close()
    version = str(row[0] or "") if row else ""
    if version < SCHEMA_2_3:
        raise SourceError(
            f"{redacted(source.url)} holds an original Portus older than 2.3 (schema version {version or 'none'}): "
            "upgrade it to 2.3 or later with the original's own migrations (rake db:migrate), then import."
        )
    return version
