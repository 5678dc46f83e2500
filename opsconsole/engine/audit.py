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
from typing import Any

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

    def append(self, conn: Connection, actor: str, action: str, subject: str, detail: dict | None = None) -> int:
        """Add an entry inside the caller's (BEGIN IMMEDIATE) transaction; returns its id."""
        detail = detail or {}
        last = conn.execute(select(audit.c.id, audit.c.mac).order_by(audit.c.id.desc()).limit(1)).first()
        prev = last.mac if last else GENESIS
        at = time.time()
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

    def verify(self, conn: Connection) -> "Verification":
        prev = GENESIS
        count = 0
        last_id = 0
        macs: dict[int, str] = {}
        for row in conn.execute(select(audit).order_by(audit.c.id)).mappings():
            expected = _mac(self.key, prev, row["at"], row["actor"], row["action"], row["subject"], row["detail"])
            if row["prev_mac"] != prev or not hmac.compare_digest(expected, row["mac"]):
                return Verification(False, count, f"entry {row['id']} does not match the chain")
            prev = row["mac"]
            count += 1
            last_id = row["id"]
            macs[last_id] = prev
        if self.head_file is not None and self.head_file.exists():
            head_id, _, head_mac = self.head_file.read_text().strip().partition(" ")
            if int(head_id) > last_id:
                return Verification(False, count, f"the chain ends at entry {last_id}, the head file says {head_id}")
            if macs.get(int(head_id)) != head_mac:
                return Verification(False, count, f"entry {head_id} differs from the head file")
        return Verification(True, count, f"{count} entries verified")


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    message: str
