"""Runs by status, for the status line and the tab counts on every poll.

On SQLite the store keeps ``run_status_counts`` (migration 0010) exact through triggers, so this is
a read of a few rows whatever the store's size; elsewhere (or on a store without the table) it is a
GROUP BY over the runs' status index.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, text

from opsconsole.store.tables import runs


def has_counter(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite" and conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_status_counts'")).first() is not None


def runs_by_status(conn: Connection, *, counter: bool | None = None) -> dict[str, int]:
    """{status: runs} for every status with at least one run. ``counter``: whether the store keeps
    the counts table (None: look)."""
    if counter is None:
        counter = has_counter(conn)
    if counter:
        return {s: n for s, n in conn.execute(text("SELECT status, n FROM run_status_counts")).all() if n > 0}
    return dict(conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all())
