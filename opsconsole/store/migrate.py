"""Alembic, driven programmatically: ``opsconsole db upgrade`` and the start-up check."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the store at ``url`` to ``revision`` (creating it if needed)."""
    from opsconsole.store.db import make_engine

    engine = make_engine(url, write=True)  # creates the parent directory of a SQLite file
    try:  # and, connecting once, sets a new file's auto_vacuum=INCREMENTAL (and WAL) before any table
        with engine.connect():
            pass
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), revision)


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration this code ships (read once per process: every Services checks it)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --- the schema version a process accepts ---------------------------------------------------------
class SchemaMismatch(RuntimeError):
    """The store's schema is not the one this opsconsole was built for; the message says what to do."""


def schema_status(current: str | None, head: str | None = None) -> str:
    """``"current"``, ``"empty"`` (no schema yet), ``"older"`` (this code has a migration for it) or
    ``"newer"`` (a revision this code does not know: written by a newer opsconsole)."""
    head = head or head_revision()
    if current == head:
        return "current"
    if current is None:
        return "empty"
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = script.get_revision(current) is not None
    except Exception:  # alembic raises its own errors for an unknown revision
        known = False
    return "older" if known else "newer"


def mismatch_message(status: str, current: str | None, head: str) -> str:
    if status == "empty":
        return (f"the store has no schema yet, this opsconsole expects revision {head}: start the engine "
                "(`opsconsole worker`) or run `opsconsole db upgrade`")
    if status == "newer":
        return (f"the store is at revision {current}, newer than this opsconsole (which expects {head}): "
                "upgrade opsconsole")
    return f"the store is at revision {current}, this opsconsole expects {head}: run `opsconsole db upgrade`"


def check_schema(url_or_engine: "str | Engine") -> str:
    """Refuse to attach to a store whose schema is not this code's (the console and every CLI verb,
    through :class:`opsconsole.services.Services`). Returns the revision.

    Raises:
        SchemaMismatch: the store is older (run ``opsconsole db upgrade``), newer (upgrade
            opsconsole), or has no schema at all.
    """
    from opsconsole.store.db import make_engine

    engine = make_engine(url_or_engine, write=False) if isinstance(url_or_engine, str) else url_or_engine
    try:
        current = current_revision(engine)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
    head = head_revision()
    status = schema_status(current, head)
    if status != "current":
        raise SchemaMismatch(mismatch_message(status, current, head))
    return head


def ensure_schema(url: str) -> str:
    """The engine's start-up: create a new store, upgrade an older one, refuse one newer than this
    code (its migrations are unknown here). Returns what was done: "current", "created", "upgraded".

    Raises:
        SchemaMismatch: the store was written by a newer opsconsole.
    """
    from opsconsole.store.db import make_engine

    eng = make_engine(url, write=False)
    try:
        current = current_revision(eng)
    finally:
        eng.dispose()
    head = head_revision()
    status = schema_status(current, head)
    if status == "newer":
        raise SchemaMismatch(mismatch_message(status, current, head))
    if status == "current":
        return status
    upgrade(url)
    return "created" if status == "empty" else "upgraded"
