"""Engine setup: SQLite pragmas (WAL, synchronous=FULL, busy timeout), BEGIN IMMEDIATE for writers.

Two engines per store: a *write* engine whose transactions start with BEGIN IMMEDIATE (SQLAlchemy's
documented pysqlite recipe; without it pysqlite defers the lock and concurrent writers deadlock
into SQLITE_BUSY), used by the one group-commit writer, the lease and operator commands; and a *read*
engine (plain deferred BEGIN) for queries. PostgreSQL uses the same code with default isolation.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from opsconsole.store.checkpointer import WAL_AUTOCHECKPOINT_PAGES

BUSY_TIMEOUT_MS = 10_000


def _json_dumps(value) -> str:
    # orjson: several times faster than json.dumps on the payloads every step stores
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection, *, immediate: bool) -> None:
    # isolation_level=None stops pysqlite emitting its own BEGIN; the begin event emits ours
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # a new file only, before WAL (an older store: `opsconsole db vacuum`, once); on an existing store the
    # pragma would take the write lock on every connect
    if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
        cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged event survives a power loss (WAL + NORMAL could lose the last commits)
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-32000")
    if immediate:  # the engine's checkpointer thread does this work off the commit path
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.close()


def make_engine(url: str, *, write: bool) -> Engine:
    """An engine for the store at ``url``; ``write`` selects BEGIN IMMEDIATE transactions."""
    if is_sqlite(url):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
                               json_serializer=_json_dumps, json_deserializer=orjson.loads)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            _sqlite_pragmas(dbapi_connection, immediate=write)

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=orjson.loads)


def pragma(engine: Engine, name: str) -> str:
    """Read back one SQLite pragma (for status and the benchmark's config block)."""
    with engine.connect() as conn:
        value = conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        conn.rollback()
    if name == "synchronous":
        return {0: "off", 1: "normal", 2: "full", 3: "extra"}.get(int(value), str(value))
    return str(value)
