"""Online backup and restore of a SQLite store.

- :func:`backup` copies the store through SQLite's online backup API: a consistent snapshot taken
  while the engine keeps writing (WAL readers never block the writer).
- :func:`restore` refuses while an engine holds the lease, takes the lease itself for the time of
  the copy, checks the backup (integrity, schema revision) and records the restore in the audit chain.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from opsconsole.store.db import make_engine
from opsconsole.store.hygiene import HygieneRefused, sqlite_path


@dataclass
class BackupResult:
    path: str
    bytes: int
    revision: str | None
    seconds: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _revision(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _check(db: sqlite3.Connection, what: str) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise HygieneRefused(f"{what} is damaged: {result}")


def backup(url: str, dest: str | Path) -> BackupResult:
    """Copy the store to ``dest`` (a single self-contained file, journal_mode DELETE) through SQLite's
    online backup API, while the engine keeps running: one step, so one consistent snapshot. Written
    beside ``dest`` and renamed into place, so ``dest`` is never half a backup."""
    started = time.perf_counter()
    src_path = sqlite_path(url)
    if not src_path.exists():
        raise HygieneRefused(f"there is no store at {src_path}")
    dest = Path(dest)
    if dest.resolve() == src_path.resolve():
        raise HygieneRefused("the backup cannot overwrite the store itself")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    for leftover in (tmp, Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    src = sqlite3.connect(src_path, timeout=10)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # pages=-1: all in one step under one read snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            _check(dst, "the copy")
            revision = _revision(dst)
        finally:
            dst.close()
    finally:
        src.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    return BackupResult(str(dest), dest.stat().st_size, revision, time.perf_counter() - started)


@dataclass
class RestoreResult:
    path: str
    revision: str | None
    upgraded: bool
    audit_entry: int | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def inspect_backup(path: str | Path) -> tuple[str | None, str]:
    """(schema revision, status against this code: current | older | newer | empty) of a backup file;
    raises :class:`HygieneRefused` for a missing, unreadable or damaged file."""
    from opsconsole.store.migrate import schema_status

    path = Path(path)
    if not path.is_file():
        raise HygieneRefused(f"no backup file at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            _check(db, f"the backup {path}")
        except sqlite3.DatabaseError as exc:
            raise HygieneRefused(f"{path} is not a SQLite store: {exc}") from None
        revision = _revision(db)
    finally:
        db.close()
    return revision, schema_status(revision)


def restore(url: str, source: str | Path, *, audit: Any = None, actor: str = "operator") -> RestoreResult:
    """Replace the store's content with the backup at ``source``.

    Refused while an engine holds the lease; the lease is taken (holder ``restore:...``) for the time
    of the copy so no engine starts meanwhile, then left released with a fencing number above both
    the store's and the backup's (an engine frozen since before can never commit into the restored
    store). A backup at an older schema is upgraded after the copy; one newer than this code, or
    without a schema, is refused. With ``audit``, the restore is appended to the (restored) audit
    chain and the head kept outside the store follows it.

    Raises:
        HygieneRefused: an engine runs, the backup is missing, damaged, empty or newer.
    """
    from opsconsole.engine.lease import ENGINE_LEASE, Lease, read_lease
    from opsconsole.store.migrate import head_revision, upgrade

    revision, status = inspect_backup(source)
    if status == "empty":
        raise HygieneRefused(f"{source} has no opsconsole schema: not a backup of an opsconsole store")
    if status == "newer":
        raise HygieneRefused(f"the backup {source} is at revision {revision}, newer than this opsconsole (which "
                             f"expects {head_revision()}): upgrade opsconsole to restore it")
    path = sqlite_path(url)
    write = make_engine(url, write=True)
    holder = f"restore:{socket.gethostname()}:{os.getpid()}"
    entry = None
    try:
        with write.connect() as conn:
            has_lease = _has_lease_table(conn)
            held = read_lease(conn) if has_lease else None
            conn.rollback()
        if held is not None and held.alive:
            raise HygieneRefused(f"an engine holds the lease ({held.holder}, fencing {held.fencing}): stop it first "
                                 "(systemctl stop opsconsole-worker, or quit the console that runs it)")
        # hold the lease while copying: an engine starting meanwhile waits (a worker) or attaches (a console)
        guard = Lease(write, holder, ttl_s=600.0, info={"kind": "restore"}) if has_lease else None
        if guard is not None and not guard.try_acquire():
            raise HygieneRefused("an engine took the lease meanwhile: stop it first")
        fencing = max(held.fencing if held else 0, guard.fencing or 0 if guard else 0)
        write.dispose()
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            src.backup(dst)
            # at once, on the same connection: the backup's lease row (maybe an engine's, maybe still
            # "alive") becomes ours, released, with a fencing number above every one before
            row = dst.execute("SELECT fencing FROM lease WHERE name = ?", (ENGINE_LEASE,)).fetchone()
            fencing = max(fencing, row[0] if row else 0) + 1
            dst.execute("INSERT INTO lease (name, holder, fencing, expires_at, acquired_at, info) "
                        "VALUES (?, ?, ?, 0.0, ?, '{\"kind\": \"restore\"}') ON CONFLICT (name) DO UPDATE SET "
                        "holder = excluded.holder, fencing = excluded.fencing, expires_at = 0.0, info = excluded.info",
                        (ENGINE_LEASE, holder, fencing, time.time()))
            _check(dst, "the restored store")
            dst.execute("PRAGMA journal_mode=WAL")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
            src.close()
        upgraded = status == "older"
        if upgraded:
            upgrade(url)
        if audit is not None:
            try:
                with write.begin() as conn:
                    entry = audit.append(conn, actor, "store.restored", "store",
                                         {"backup": Path(source).name, "revision": revision, "upgraded": upgraded})
            except BaseException:
                audit.discard_pending()
                raise
            audit.flush_head()
    finally:
        write.dispose()
    return RestoreResult(str(source), head_revision() if upgraded else revision, upgraded, entry)


def _has_lease_table(conn: Connection) -> bool:
    return conn.dialect.has_table(conn, "lease")


