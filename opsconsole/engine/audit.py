"""The tamper-evident audit log: an HMAC chain whose key lives outside the store.

Each entry's MAC covers its content and the previous entry's MAC, so an edited, removed or
reordered entry breaks the chain; the head (last id + MAC) is also written to a file outside the
store, so cutting entries off the end is detected too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Connection, insert, select

from opsconsole.store.tables import audit

GENESIS = "0" * 64


def _mac(key: bytes, prev_mac: str, at: float, actor: str, action: str, subject: str, detail: Any) -> str:
    body = json.dumps([prev_mac, repr(at), actor, action, subject, detail], sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


class AuditLog:
    def __init__(self, key: bytes, head_file: Path | None = None) -> None:
        self.key = key
        self.head_file = head_file
        self._lock = threading.Lock()
        self._pending: tuple[int, str] | None = None
        self._written = 0

    def append(self, conn: Connection, actor: str, action: str, subject: str, detail: dict | None = None, *,
               at: float | None = None) -> int:
        """Add an entry inside the caller's (BEGIN IMMEDIATE) transaction; returns its id (``at``: the
        entry's time, now unless given: fixtures with a fixed clock)."""
        detail = detail or {}
        last = conn.execute(select(audit.c.id, audit.c.mac).order_by(audit.c.id.desc()).limit(1)).first()
        prev = last.mac if last else GENESIS
        at = time.time() if at is None else at
        mac = _mac(self.key, prev, at, actor, action, subject, detail)
        entry_id = conn.execute(insert(audit).values(
            at=at, actor=actor, action=action, subject=subject, detail=detail, prev_mac=prev, mac=mac,
        )).inserted_primary_key[0]
        with self._lock:
            if self._pending is None or entry_id >= self._pending[0]:  # a redone batch reuses ids
                self._pending = (entry_id, mac)
        return entry_id

    def flush_head(self) -> None:
        """After the commit: record the newest entry outside the store."""
        with self._lock:
            pending, self._pending = self._pending, None
            if self.head_file is None or pending is None or pending[0] <= self._written:
                return
            self.head_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.head_file.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(f"{pending[0]} {pending[1]}\n")
            os.replace(tmp, self.head_file)
            self._written = pending[0]

    def discard_pending(self) -> None:
        """The transaction rolled back: its entries never existed."""
        with self._lock:
            self._pending = None

    def authentic_entry(self, conn: Connection, entry_id: int | None) -> dict | None:
        """The entry, if its MAC proves the engine wrote it with this key (None for a forged,
        edited or missing entry). One entry's check: what maker-checker needs before a write."""
        if entry_id is None:
            return None
        row = conn.execute(select(audit).where(audit.c.id == entry_id)).mappings().first()
        if row is None:
            return None
        expected = _mac(self.key, row["prev_mac"], row["at"], row["actor"], row["action"], row["subject"], row["detail"])
        return dict(row) if hmac.compare_digest(expected, row["mac"]) else None

    def verify(self, conn: Connection, should_stop: Callable[[], bool] | None = None) -> "Verification":
        """Walk the whole chain (O(N), oldest first) and the head file.

        Args:
            conn: a read connection to the store.
            should_stop: polled every 1000 entries; when it returns True the walk stops and the result
                says so (``ok`` False, ``stopped`` True): a console worker being cancelled.
        Returns:
            A :class:`Verification`; ``broken_at`` is the id of the first entry that does not match
            (for a cut-off chain, the first entry missing; for a head that differs, the entry it names).
        """
        started = time.perf_counter()
        prev = GENESIS
        count = 0
        last_id = 0
        macs: dict[int, str] = {}

        def done(ok: bool, message: str, broken_at: int | None = None, head: str = "", stopped: bool = False):
            return Verification(ok, count, message, broken_at, head, time.perf_counter() - started, stopped)

        for row in conn.execute(select(audit).order_by(audit.c.id)).mappings():
            if should_stop is not None and count % 1000 == 999 and should_stop():
                return done(False, f"stopped after {count} entries", stopped=True)
            expected = _mac(self.key, prev, row["at"], row["actor"], row["action"], row["subject"], row["detail"])
            if row["prev_mac"] != prev or not hmac.compare_digest(expected, row["mac"]):
                return done(False, f"entry {row['id']} does not match the chain", row["id"])
            prev = row["mac"]
            count += 1
            last_id = row["id"]
            macs[last_id] = prev
        head = "no head file"
        if self.head_file is not None and self.head_file.exists():
            head_id, _, head_mac = self.head_file.read_text().strip().partition(" ")
            if int(head_id) > last_id:
                return done(False, f"the chain ends at entry {last_id}, the head file says {head_id}", last_id + 1,
                            "cut off")
            if macs.get(int(head_id)) != head_mac:
                return done(False, f"entry {head_id} differs from the head file", int(head_id), "differs")
            head = "head matches"
        return done(True, f"{count} entries verified", head=head)


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    """Entries verified (before the first broken one)."""
    message: str
    broken_at: int | None = None
    """The id of the first entry that breaks the chain."""
    head: str = ""
    """What the head file kept outside the store says: "head matches", "no head file", "cut off", "differs"."""
    seconds: float = 0.0
    stopped: bool = False
    """The walk was stopped before the end (``should_stop``)."""


class AuditKeyUnavailable(Exception):
    """The audit key cannot be had (no such environment variable, unreadable file, ...): the chain
    cannot be verified by this operator. The message says why."""


def verify_audit(settings: Any, read_engine: Any = None, *,
                 should_stop: Callable[[], bool] | None = None) -> Verification:
    """Verify the store's audit chain with the key the settings name (``opsconsole audit verify`` and
    the console's audit pane both call this).

    Args:
        settings: the :class:`opsconsole.settings.Settings`; the key is resolved from ``audit_key``.
        read_engine: a read-only engine on the store (one is made and disposed of when None).
        should_stop: see :meth:`AuditLog.verify`.
    Raises:
        AuditKeyUnavailable: the key cannot be resolved.
    """
    from opsconsole.engine.app import audit_log
    from opsconsole.store.db import make_engine

    try:
        log = audit_log(settings)
    except (KeyError, OSError) as exc:
        raise AuditKeyUnavailable(str(exc.args[0]) if exc.args else type(exc).__name__) from exc
    engine = read_engine if read_engine is not None else make_engine(settings.store_url, write=False)
    try:
        with engine.connect() as conn:
            try:
                return log.verify(conn, should_stop)
            finally:
                conn.rollback()
    finally:
        if read_engine is None:
            engine.dispose()
