"""WAL checkpoints off the commit path: the engine's write connections leave them to a thread."""

from __future__ import annotations

import os
import time

from sqlalchemy import insert

from opsconsole.store.checkpointer import WAL_AUTOCHECKPOINT_PAGES, Checkpointer
from opsconsole.store.db import make_engine, pragma
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import rejected_webhooks


def _fill(eng, rows: int) -> None:
    with eng.begin() as c:
        c.execute(insert(rejected_webhooks), [{"source": "x", "reason": "r" * 200, "at": time.time()} for _ in range(rows)])


def test_write_connections_leave_checkpoints_to_the_checkpointer_and_it_keeps_the_wal_short(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    write, read = make_engine(url, write=True), make_engine(url, write=False)
    assert int(pragma(write, "wal_autocheckpoint")) == WAL_AUTOCHECKPOINT_PAGES
    assert int(pragma(read, "wal_autocheckpoint")) == 1000  # readers never checkpoint anyway
    wal = tmp_path / "s.db-wal"
    for _ in range(25):
        _fill(write, 1000)
    grown = os.path.getsize(wal)
    assert grown > 6_000_000  # well past SQLite's default of 1,000 pages: no commit checkpointed

    cp = Checkpointer(read)
    busy, pages, done = cp.checkpoint()
    assert busy == 0 and pages > 1500 and done == pages  # everything copied, no lock waited for
    _fill(write, 10)  # the next write transaction starts the WAL from its beginning
    busy, pages, done = cp.checkpoint()
    assert pages < 50 and done == pages
    assert cp.stats()["checkpoints"] == 2 and cp.stats()["wal_pages"] == pages
    write.dispose()
    read.dispose()


def test_the_thread_checkpoints_on_its_own_and_once_more_when_stopped(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    write, read = make_engine(url, write=True), make_engine(url, write=False)
    cp = Checkpointer(read, every_s=0.05).start()
    _fill(write, 500)
    deadline = time.monotonic() + 5
    while cp.checkpoints < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cp.checkpoints >= 2
    _fill(write, 500)
    before = cp.checkpoints
    cp.stop()
    assert cp.checkpoints > before and not cp._thread.is_alive()
    write.dispose()
    read.dispose()
