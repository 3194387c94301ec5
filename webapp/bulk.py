"""Set-based statements for PostgreSQL batches: many rows in one INSERT or UPDATE, a handful of parameters.

Each column travels as ONE array parameter and the statement reads them back with `unnest(...)`:
`INSERT INTO t (a, b) SELECT * FROM unnest(CAST(%(a0)b AS T[]), CAST(%(a1)b AS U[]))`, or
`UPDATE t SET ... FROM unnest(...) AS v(a, b) WHERE t.id = v.a`. A thousand rows then cost one short statement
instead of one with tens of thousands of placeholders, which SQLAlchemy and the driver would re-render and
re-parse on every call. The statements run on the session's connection (same transaction) straight through
psycopg with binary parameters (arrays are dumped in C). Values are converted as the SQLAlchemy column types
would store them (enums by value, JSON as `json.dumps` text), so rows written here equal rows written through
the ORM.

Used by the renewal batch primitives (billing.ledger, subscriptions.transitions, notifications.services);
PostgreSQL only.
"""
from __future__ import annotations

import enum
import json
from functools import lru_cache

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql

from .extensions import db

_DIALECT = postgresql.dialect()


@lru_cache(maxsize=None)
def _pg_type(table: Table, name: str) -> str:
    return table.c[name].type.compile(dialect=_DIALECT)


@lru_cache(maxsize=None)
def _converter(table: Table, name: str):
    if isinstance(table.c[name].type, JSON):
        return lambda value: None if value is None else json.dumps(value)
    return lambda value: value.value if isinstance(value, enum.Enum) else value


def unnest(table: Table, columns: list[str], rows: list[dict], *, typed_as: dict | None = None,
           prefix: str = "a") -> tuple[str, dict]:
    """(`unnest(CAST(%(a0)b AS type[]), ...)`, parameters) for `rows` (dicts with at least `columns`). A column's
    type is that of the table column of the same name, or of `typed_as[name]`."""
    parts, params = [], {}
    for i, name in enumerate(columns):
        like = (typed_as or {}).get(name, name)
        convert = _converter(table, like)
        params[f"{prefix}{i}"] = [convert(row[name]) for row in rows]
        parts.append(f"CAST(%({prefix}{i})b AS {_pg_type(table, like)}[])")
    return f"unnest({', '.join(parts)})", params


def _execute(sql: str, params: dict, *, returning: bool) -> list:
    """Run on the session's connection (its transaction), through the driver with BINARY parameters: psycopg
    dumps a binary array in C, while the text format escapes every element in Python."""
    import psycopg
    from psycopg.rows import namedtuple_row
    from sqlalchemy.exc import DBAPIError

    raw = db.session.connection().connection.driver_connection
    try:
        with raw.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if returning else []
    except psycopg.Error as exc:  # the same exception classes as through SQLAlchemy (IntegrityError, ...)
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def insert_rows(table: Table, rows: list[dict], *, on_conflict_do_nothing: str | None = None,
                returning: str | None = None) -> list:
    """INSERT every row of `rows` (same keys: column names) in one statement; returns the RETURNING rows."""
    if not rows:
        return []
    columns = list(rows[0])
    source, params = unnest(table, columns, rows)
    sql = f'INSERT INTO {table.name} ({", ".join(columns)}) SELECT * FROM {source}'
    if on_conflict_do_nothing:
        sql += f" ON CONFLICT ({on_conflict_do_nothing}) DO NOTHING"
    if returning:
        sql += f" RETURNING {returning}"
    return _execute(sql, params, returning=bool(returning))


def update_from(table: Table, key: str, rows: list[dict], *, set_sql: str, where_sql: str = "",
                returning: str | None = None, params: dict | None = None, typed_as: dict | None = None) -> list:
    """UPDATE `table` AS t SET <set_sql> FROM unnest(...) AS v(<keys of rows>) WHERE t.<key> = v.<key>
    [AND <where_sql>] [RETURNING <returning>]. Row keys are columns of `table` or map to one in `typed_as`
    (for the array types); `set_sql` / `where_sql` refer to `t.<column>` and `v.<key>` and to `params` (scalars) as
    `%(name)s` (psycopg placeholders)."""
    if not rows:
        return []
    columns = list(rows[0])
    source, values = unnest(table, columns, rows, typed_as=typed_as)
    sql = (f"UPDATE {table.name} AS t SET {set_sql} FROM {source} AS v({', '.join(columns)}) "
           f"WHERE t.{key} = v.{key}")
    if where_sql:
        sql += f" AND {where_sql}"
    if returning:
        sql += f" RETURNING {returning}"
    return _execute(sql, {**values, **(params or {})}, returning=bool(returning))
