"""Statements built once and reused: the engine's hot path runs thousands of small writes a
second, and building a SQLAlchemy statement per execution (plus its cache key) costs more CPU than
SQLite takes to run it. Parameters are bound at execution (``bindparam``)."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Connection, Table, bindparam, insert, update

_cache: dict[tuple, Any] = {}


def cached(key: Any, conn: Connection, build: Callable[[str], Any]) -> Any:
    """The statement for ``key`` on this connection's dialect, built on first use."""
    k = (key, conn.dialect.name)
    stmt = _cache.get(k)
    if stmt is None:
        stmt = _cache[k] = build(conn.dialect.name)
    return stmt


def _dialect_insert(dialect: str, table: Table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def insert_ignore(conn: Connection, table: Table, keys: tuple[str, ...], params: dict):
    """INSERT ... ON CONFLICT (keys) DO NOTHING; rowcount 0 when the row existed."""
    stmt = cached(("ignore", table.name, keys), conn,
                  lambda d: _dialect_insert(d, table).on_conflict_do_nothing(index_elements=list(keys)))
    return conn.execute(stmt, params)


def upsert(conn: Connection, table: Table, keys: tuple[str, ...], params: dict) -> int:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other given column; returns the row's id."""
    cols = tuple(sorted(params))

    def build(d):
        stmt = _dialect_insert(d, table)
        return stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in cols if c not in keys}
                                          ).returning(table.c.id)
    return conn.execute(cached(("upsert", table.name, keys, cols), conn, build), params).scalar_one()


def insert_row(conn: Connection, table: Table, params: dict):
    return conn.execute(cached(("insert", table.name), conn, lambda d: insert(table)), params)


def update_by_id(conn: Connection, table: Table, row_id: int, values: dict):
    """UPDATE table SET <values> WHERE id = row_id, one cached statement per column set."""
    cols = tuple(sorted(values))
    stmt = cached(("update", table.name, cols), conn, lambda d: update(table).where(
        table.c.id == bindparam("_id")).values({c: bindparam(f"v_{c}") for c in cols}))
    return conn.execute(stmt, {"_id": row_id, **{f"v_{c}": v for c, v in values.items()}})
