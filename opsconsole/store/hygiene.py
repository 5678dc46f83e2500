"""Store hygiene: retention (prune) and giving space back (incremental vacuum). Online backup and
restore are in :mod:`opsconsole.store.backup`, erasing a customer in :mod:`opsconsole.store.erasure`.

- :func:`prune` applies ``[retention]``: strips old inbox raw bodies (the row stays, so a
  re-delivered event is still a duplicate), deletes old succeeded runs with their steps, old spans and
  old resolved/closed exceptions, old records of refused webhooks and old resolved incidents whose
  notices were all delivered. It works in small batches, each its own short write transaction
  (or one operation of the engine's group-commit writer, through ``run``), so the writer is never
  held up for long. The audit log is never touched.
- :func:`vacuum` gives the freed pages back to the file system: the store must be in
  ``auto_vacuum=INCREMENTAL`` (new stores are, see ``db.py``; an older file is switched once by a
  full VACUUM), then ``PRAGMA incremental_vacuum`` in chunks and a WAL checkpoint that truncates.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Connection, Engine, and_, func, select, update
from sqlalchemy.engine import make_url

from opsconsole.store.db import is_sqlite
from opsconsole.store.tables import exceptions, inbox, incidents, rejected_webhooks, runs, spans, steps

DAY = 86400.0
KINDS = ("inbox_raw", "runs", "steps", "spans", "exceptions", "rejected_webhooks", "incidents")
"""What :func:`prune` counts: raw bodies stripped, succeeded runs and their steps deleted, spans,
resolved/closed exceptions, records of refused webhooks and resolved incidents deleted."""
ERASED = "[erased]"
"""What an erased value becomes."""
VACUUM_CHUNK_PAGES = 2048
"""Pages given back per incremental-vacuum transaction (8 MiB at 4 KiB pages)."""

Run = Callable[[Callable[[Connection], Any]], Any]


class HygieneRefused(RuntimeError):
    """The operation may not run now or on this store; the message says why and what to do."""


def _in_transaction(engine: Engine) -> Run:
    def run(op):
        with engine.begin() as conn:
            return op(conn)
    return run


def sqlite_path(url: str) -> Path:
    """The file of a SQLite store (refuses other stores: PostgreSQL has pg_dump and autovacuum)."""
    if not is_sqlite(url):
        raise HygieneRefused("this store is not SQLite: use the database's own tools (pg_dump, pg_restore)")
    database = make_url(url).database
    if not database or database == ":memory:":
        raise HygieneRefused("an in-memory store has no file")
    return Path(database)


# --- retention ------------------------------------------------------------------------------------
def cutoffs(retention: Any, now: float) -> dict[str, float | None]:
    """The time before which each kind is pruned (None: kept for ever)."""
    def cut(days: float) -> float | None:
        return now - days * DAY if days and days > 0 else None
    return {"inbox_raw": cut(retention.inbox_raw_days), "runs": cut(retention.succeeded_runs_days),
            "spans": cut(retention.spans_days), "exceptions": cut(retention.closed_exceptions_days),
            "rejected_webhooks": cut(retention.rejected_webhooks_days),
            "incidents": cut(retention.resolved_incidents_days)}


_CLOSED = ("resolved", "closed")


def _old_inbox(cut: float):
    return and_(inbox.c.received_at < cut, inbox.c.status != "pending", func.length(inbox.c.raw_body) > 0)


def _old_runs(cut: float):
    return and_(runs.c.status == "succeeded", runs.c.updated_at < cut)


def _old_exceptions(cut: float):
    return and_(exceptions.c.state.in_(_CLOSED), exceptions.c.updated_at < cut)


def _old_rejected(cut: float):
    return rejected_webhooks.c.at < cut


def _old_incidents(cut: float):
    # "sent": no alert or resolution notice is still owed to a webhook (pending and failed ones are)
    return and_(incidents.c.state == "resolved", incidents.c.resolved_at < cut, incidents.c.delivery == "sent")


# the kinds deleted row by row: (kind, table, which rows are old by a cut-off)
_DELETED = (("spans", spans, lambda cut: spans.c.started_at < cut), ("exceptions", exceptions, _old_exceptions),
            ("rejected_webhooks", rejected_webhooks, _old_rejected), ("incidents", incidents, _old_incidents))


def prune(engine: Engine, retention: Any, now: float, *, dry_run: bool = False, run: Run | None = None,
          batch: int | None = None, pause_s: float = 0.0) -> dict[str, int]:
    """Apply ``retention`` (the settings' ``[retention]``) as of ``now``; returns rows per kind
    (:data:`KINDS`). Never touches the audit log.

    Args:
        engine: a write engine on the store (a read engine is enough with ``dry_run``).
        run: executes one batch ``op(conn)`` in one write transaction and returns its result; the
            engine passes its writer's ``run_sync`` (fenced, group-committed). Default: a short
            transaction of its own on ``engine``.
        batch: rows per transaction (default ``retention.batch_rows``).
        pause_s: sleep between batches (a CLI run beside a busy engine).
        dry_run: count what would go, change nothing.
    """
    cuts = cutoffs(retention, now)
    counts = dict.fromkeys(KINDS, 0)
    if dry_run:
        with engine.connect() as conn:
            if cuts["inbox_raw"] is not None:
                counts["inbox_raw"] = conn.scalar(select(func.count()).select_from(inbox).where(_old_inbox(cuts["inbox_raw"])))
            if cuts["runs"] is not None:
                old = select(runs.c.id).where(_old_runs(cuts["runs"]))
                counts["runs"] = conn.scalar(select(func.count()).select_from(old.subquery()))
                counts["steps"] = conn.scalar(select(func.count()).select_from(steps).where(steps.c.run_id.in_(old)))
            for kind, table, old_rows in _DELETED:
                if cuts[kind] is not None:
                    counts[kind] = conn.scalar(select(func.count()).select_from(table).where(old_rows(cuts[kind])))
            conn.rollback()
        return counts
    run = run or _in_transaction(engine)
    size = max(1, int(batch or getattr(retention, "batch_rows", 500)))

    Batch = tuple[int, int, dict[str, int]]  # (cursor: the last id seen, rows found, rows changed per kind)

    def batches(op: Callable[[Connection, int], Batch]) -> None:
        # an operation only returns what it did: the writer may run it twice (its SAVEPOINT redo)
        after = 0
        while True:
            after, found, done = run(lambda conn: op(conn, after))
            for kind, n in done.items():
                counts[kind] += n
            if found < size:
                return
            if pause_s:
                time.sleep(pause_s)

    if cuts["inbox_raw"] is not None:
        def strip(conn: Connection, after: int) -> Batch:
            ids = conn.execute(select(inbox.c.id).where(inbox.c.id > after, _old_inbox(cuts["inbox_raw"]))
                               .order_by(inbox.c.id).limit(size)).scalars().all()
            if ids:
                conn.execute(update(inbox).where(inbox.c.id.in_(ids)).values(raw_body=b""))
            return (ids[-1] if ids else after), len(ids), {"inbox_raw": len(ids)}
        batches(strip)
    if cuts["runs"] is not None:
        def drop_runs(conn: Connection, after: int) -> Batch:
            ids = conn.execute(select(runs.c.id).where(_old_runs(cuts["runs"])).order_by(runs.c.updated_at)
                               .limit(size)).scalars().all()
            if not ids:
                return 0, 0, {}
            n_steps = conn.execute(steps.delete().where(steps.c.run_id.in_(ids))).rowcount
            return 0, len(ids), {"steps": n_steps, "runs": conn.execute(runs.delete().where(runs.c.id.in_(ids))).rowcount}
        batches(drop_runs)
    for kind, table, where in _DELETED:
        if cuts[kind] is None:
            continue

        def drop(conn: Connection, after: int, table=table, where=where, kind=kind) -> Batch:
            ids = conn.execute(select(table.c.id).where(table.c.id > after, where(cuts[kind]))
                               .order_by(table.c.id).limit(size)).scalars().all()
            n = conn.execute(table.delete().where(table.c.id.in_(ids))).rowcount if ids else 0
            return (ids[-1] if ids else after), len(ids), {kind: n}
        batches(drop)
    return counts


# --- giving space back --------------------------------------------------------------------------
AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}


@dataclass
class VacuumResult:
    mode_before: str
    mode: str
    full_vacuum: bool
    pages_freed: int
    bytes_before: int
    bytes_after: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def vacuum(engine: Engine, *, allow_full: bool = True, chunk_pages: int = VACUUM_CHUNK_PAGES,
           checkpoint: str = "TRUNCATE") -> VacuumResult:
    """Give free pages back to the file system. A store not yet in ``auto_vacuum=INCREMENTAL`` is
    switched by one full VACUUM (it rewrites the file and blocks writers meanwhile: only with
    ``allow_full``, else :class:`HygieneRefused`); then ``incremental_vacuum`` in chunks of
    ``chunk_pages`` (each its own short write transaction) and a WAL checkpoint (``TRUNCATE`` waits
    for readers and holds new writers back meanwhile; the engine's job passes ``PASSIVE``, which never
    waits). Sizes are of the database file and its WAL together."""
    if checkpoint not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"no checkpoint mode {checkpoint!r}")
    path = sqlite_path(str(engine.url))
    raw = engine.raw_connection()
    try:
        db: sqlite3.Connection = raw.driver_connection
        db.execute(f"PRAGMA wal_checkpoint({checkpoint})").fetchall()
        before = _file_bytes(path)
        mode_before = AUTO_VACUUM.get(db.execute("PRAGMA auto_vacuum").fetchone()[0], "?")
        full = False
        if mode_before != "incremental":
            if not allow_full:
                raise HygieneRefused(f"the store is in auto_vacuum={mode_before}: switching it takes one full VACUUM "
                                     "(stop the engine first)")
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.executescript("VACUUM;")
            full = True
        freed = 0
        while True:
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            if not free:
                break
            # executescript steps the pragma to the end (execute would free one page per call)
            db.executescript(f"PRAGMA incremental_vacuum({min(free, chunk_pages)});")
            left = db.execute("PRAGMA freelist_count").fetchone()[0]
            if left >= free:
                break
            freed += free - left
        db.execute(f"PRAGMA wal_checkpoint({checkpoint})").fetchall()
        mode = AUTO_VACUUM.get(db.execute("PRAGMA auto_vacuum").fetchone()[0], "?")
    finally:
        raw.close()
    return VacuumResult(mode_before, mode, full, freed, before, _file_bytes(path))


class PruneJob:
    """The engine's scheduled prune (``[retention] prune_every_s``): batches through the engine's
    writer (``run``: fenced and group-committed, one small operation each), then an incremental
    vacuum with a passive checkpoint. A store not yet in incremental auto-vacuum is left as it is
    (``opsconsole db vacuum`` switches it once) and said so in the log, once."""

    def __init__(self, retention: Any, engine: Engine, run: Run, log: Any = None) -> None:
        self.retention = retention
        self.engine = engine
        self._run = run
        self.log = log
        self.last_result: dict = {}
        self._told = False

    async def run(self) -> None:
        import asyncio

        try:
            counts = await asyncio.to_thread(prune, self.engine, self.retention, time.time(), run=self._run)
            result: dict = {"pruned": counts}
            if is_sqlite(str(self.engine.url)) and any(counts.values()):
                try:
                    v = await asyncio.to_thread(vacuum, self.engine, allow_full=False, checkpoint="PASSIVE")
                    result["vacuum"] = v.as_dict()
                except HygieneRefused as exc:
                    if not self._told and self.log is not None:
                        self.log.warning("no incremental vacuum: %s; run `opsconsole db vacuum` once", exc)
                    self._told = True
            self.last_result = result
            if self.log is not None and any(counts.values()):
                self.log.info("pruned by retention: %s", counts)
        except Exception as exc:  # a lost lease or a busy store: the next round tries again
            self.last_result = {"failed": str(exc)}
            if self.log is not None:
                self.log.warning("prune failed: %s", exc)
