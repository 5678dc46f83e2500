"""WAL checkpoints in a thread of their own, off the commit path (SQLite).

SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: every thousand
pages, that commit also copied the WAL's pages into the database file and synced it, and the
engine's next group waited for it. The engine's write connections set a higher threshold (``WAL_AUTOCHECKPOINT_PAGES``, a backstop) and
this thread checkpoints PASSIVE-ly four times a second on its own connection: copying pages needs
no lock writers wait for, and it runs in SQLite's C code, outside the interpreter lock, on the other
core. Under a steady load the backstop's commit then only copies the last quarter second's pages and
starts the WAL from its beginning again, so the file stays near 16 MB; when writes pause, a
checkpoint catches up and the next write restarts it.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

log = logging.getLogger(__name__)

WAL_AUTOCHECKPOINT_PAGES = 4_000
"""Set on write connections: the commit that crosses it checkpoints whatever this thread has not."""


class Checkpointer:
    """``PRAGMA wal_checkpoint(PASSIVE)`` every ``every_s`` seconds until stopped."""

    def __init__(self, engine: Engine, every_s: float = 0.25) -> None:
        self.engine = engine
        self.every_s = every_s
        self.checkpoints = 0
        self.wal_pages = 0
        """The WAL's length in pages at the last checkpoint (it restarts once one has caught up)."""
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="store-checkpoint", daemon=True)

    def start(self) -> "Checkpointer":
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop after one last checkpoint (the WAL a stopped engine leaves behind is short)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, pages in the WAL, pages checkpointed)."""
        started = time.perf_counter()
        raw = self.engine.raw_connection()
        try:
            busy, wal, done = raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
        self.seconds += time.perf_counter() - started
        self.checkpoints += 1
        self.wal_pages = max(wal, 0)
        return busy, wal, done

    def _loop(self) -> None:
        while True:
            stopping = self._stop.wait(self.every_s)
            try:
                self.checkpoint()
            except Exception:  # a locked or vanished store: the writer's own backstop still checkpoints
                log.warning("WAL checkpoint failed", exc_info=True)
            if stopping:
                return

    def stats(self) -> dict:
        return {"checkpoints": self.checkpoints, "wal_pages": self.wal_pages, "seconds": round(self.seconds, 3)}
