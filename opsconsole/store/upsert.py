"""Dialect-aware INSERT ... ON CONFLICT helpers (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def _insert(conn: Connection, table: Table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]):
    """Insert unless a row with the same ``keys`` exists; returns the result (rowcount 0 if ignored)."""
    stmt = _insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return conn.execute(stmt)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]):
    stmt = _insert(conn, table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={k: v for k, v in values.items() if k not in keys})
    return conn.execute(stmt)
