"""Model instances from fixed SQL, converted as the ORM would: the reads of every token request.

Each token request reads its user, token and namespaces afresh, so that revoking, disabling or a
visibility change takes effect at once. Compiling a queryset costs several times what the database
needs to answer it (about 300 µs against 30 µs here), so those few reads are written as SQL once.
Only the compilation is skipped: values still go through the database backend's converters, and the
instances are ordinary model instances. Manager.raw() would do the same with public API only, but it
resolves the columns and converters again on every query: bench/token_rows.py measured 40-60 µs more
per read, 14-21% of a token request's CPU time, so these few reads keep this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, Model
from django.db.models.sql import Query

M = TypeVar("M", bound=Model)


@lru_cache(maxsize=256)
def quote(name: str) -> str:
    return str(connections[DEFAULT_DB_ALIAS].ops.quote_name(name))


def table(model: type[Model]) -> str:
    return quote(model._meta.db_table)


@lru_cache(maxsize=64)
def select_list(model: type[Model], alias: str) -> str:
    """``alias.col, ...`` for every concrete field, in the order fetch_models expects."""
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


@lru_cache(maxsize=64)
def _converters(model: type[Model], connection: BaseDatabaseWrapper) -> tuple[Any, dict[int, Any]]:
    # Keyed by the connection too: converters are bound to the backend of one thread's connection.
    compiler = connection.ops.compiler("SQLCompiler")(Query(model), connection, connection.alias)
    columns: list[Expression] = [field.get_col(model._meta.db_table) for field in model._meta.concrete_fields]
    return compiler, compiler.get_converters(columns)


def _run(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _rows(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of SQL; on a kept connection, the first read of a request is its health check.

    With CONN_HEALTH_CHECKS, Django asks the database "SELECT 1" (MySQL: a ping) before the first
    query of every request: a round trip on every token request, for a connection that is nearly
    always fine. Here the read itself is the check: should it fail on a connection that turns out
    to be dead (the database restarted), the connection is replaced and the read made once more,
    as Django's check would have done before it. A read that fails on a live connection fails."""
    # Django's own attributes (since 4.1); django-stubs does not list them.
    if (
        connection.connection is None
        or not getattr(connection, "health_check_enabled", False)
        or getattr(connection, "health_check_done", True)
        or connection.in_atomic_block
    ):
        return _run(connection, sql, params)
    connection.health_check_done = True  # type: ignore[attr-defined]
    try:
        return _run(connection, sql, params)
    except DatabaseError:
        if connection.is_usable():
            raise
    connection.close()
    return _run(connection, sql, params)


def fetch_joined(models: Sequence[type[Model]], sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run SQL whose columns are select_list() of each of MODELS in turn, then any extra columns;
    each row becomes a tuple of instances followed by the extra values."""
    connection = connections[DEFAULT_DB_ALIAS]
    compiler = None
    converters: dict[int, Any] = {}
    offset = 0
    for model in models:
        compiler, found = _converters(model, connection)
        converters.update({offset + index: value for index, value in found.items()})
        offset += len(model._meta.concrete_fields)
    rows: Any = _rows(connection, sql, params)
    if converters and compiler is not None:
        rows = compiler.apply_converters(rows, converters)
    result = []
    for row in rows:
        start, loaded = 0, []
        for model in models:
            width = len(model._meta.concrete_fields)
            # No field names: every concrete field is there, in order, so nothing is deferred (Django accepts
            # None for that; the stubs ask for a collection).
            loaded.append(model.from_db(connection.alias, None, list(row[start : start + width])))  # type: ignore[arg-type]
            start += width
        result.append((*loaded, *row[start:]))
    return result


def fetch_models(model: type[M], sql: str, params: Sequence[Any]) -> list[M]:
    """Run SQL whose columns are select_list(model, ...); one instance per row."""
    return [row[0] for row in fetch_joined([model], sql, params)]
