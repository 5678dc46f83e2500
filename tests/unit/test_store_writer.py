"""The group-commit writer and the lease's fencing check, on a real SQLite file."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, insert, select, update

from opsconsole.engine.lease import Lease, LeaseLost
from opsconsole.store.db import make_engine, pragma
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import lease as lease_table
from opsconsole.store.tables import rejected_webhooks
from opsconsole.store.writer import Writer, WriterStopped


@pytest.fixture
def url(tmp_path):
    u = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(u)
    return u


def _row(source="x"):
    return lambda c: c.execute(insert(rejected_webhooks).values(source=source, reason="r", at=time.time())).inserted_primary_key[0]


def _count(url):
    eng = make_engine(url, write=False)
    with eng.connect() as c:
        n = c.execute(select(func.count()).select_from(rejected_webhooks)).scalar()
    eng.dispose()
    return n


def test_pragmas_are_wal_and_full(url):
    eng = make_engine(url, write=True)
    assert pragma(eng, "journal_mode") == "wal"
    assert pragma(eng, "synchronous") == "full"
    assert int(pragma(eng, "busy_timeout")) >= 5000


def test_concurrent_submissions_share_commits(url):
    w = Writer(make_engine(url, write=True)).start()
    futures = []
    barrier = threading.Barrier(8)

    def submit_many():
        barrier.wait()
        for _ in range(50):
            futures.append(w.submit(_row()))
    threads = [threading.Thread(target=submit_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [f.result(10) for f in futures]
    w.stop()
    assert len(set(ids)) == 400 and _count(url) == 400
    assert w.ops == 400 and w.commits < 400  # grouped


def test_a_failing_operation_does_not_sink_its_batch(url):
    w = Writer(make_engine(url, write=True)).start()

    def boom(c):
        c.execute(insert(rejected_webhooks).values(source="bad", reason="r", at=1.0))
        raise ValueError("bad op")
    futs = [w.submit(_row()), w.submit(boom), w.submit(_row())]
    assert isinstance(futs[0].result(5), int) and isinstance(futs[2].result(5), int)
    with pytest.raises(ValueError, match="bad op"):
        futs[1].result(5)
    w.stop()
    assert _count(url) == 2  # the bad op's insert was rolled back to its savepoint


def test_stopped_writer_refuses(url):
    w = Writer(make_engine(url, write=True)).start()
    w.stop()
    with pytest.raises(WriterStopped):
        w.submit(_row()).result(1)


def test_lease_fencing_refuses_the_commit_of_a_process_that_lost_it(url):
    eng = make_engine(url, write=True)
    a = Lease(eng, "a", ttl_s=0.2)
    b = Lease(eng, "b", ttl_s=5)
    assert a.try_acquire() and a.fencing == 1
    assert not b.try_acquire()
    time.sleep(0.25)
    assert b.try_acquire() and b.fencing == 2
    w = Writer(eng, fence=a.check).start()
    with pytest.raises(LeaseLost, match="held by b"):
        w.submit(_row()).result(5)
    w.stop()
    assert _count(url) == 0
    with pytest.raises(LeaseLost):
        a.renew()
    wb = Writer(eng, fence=b.check).start()
    assert wb.submit(_row()).result(5)
    wb.stop()
    assert _count(url) == 1


def test_release_lets_a_successor_in_at_once(url):
    eng = make_engine(url, write=True)
    a, b = Lease(eng, "a", ttl_s=60), Lease(eng, "b", ttl_s=60)
    assert a.try_acquire()
    a.release()
    assert b.try_acquire() and b.fencing == 2
    with eng.begin() as c:
        c.execute(update(lease_table).values(expires_at=0))
    assert a.try_acquire() and a.fencing == 3


def test_a_store_locked_by_a_frozen_writer_is_not_acquired_yet(url, tmp_path, monkeypatch):
    """A holder stopped inside a write transaction keeps SQLite's write lock: the next worker
    must wait and ask again, not crash on "database is locked"."""
    import sqlite3

    from opsconsole.store import db
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 50)
    eng = make_engine(url, write=True)
    frozen = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    frozen.execute("BEGIN IMMEDIATE")
    b = Lease(eng, "b", ttl_s=5)
    assert b.try_acquire() is False and b.fencing is None
    frozen.execute("ROLLBACK")
    assert b.try_acquire() is True and b.fencing == 1
    frozen.close()
    eng.dispose()


def test_on_the_engines_loop_operations_run_there_and_only_the_commit_leaves_it(url):
    """The engine's writer: operations on the loop's own thread, grouped; COMMIT in another thread."""
    import asyncio

    seen: dict[str, set] = {"ops": set(), "committed": set()}
    eng = make_engine(url, write=True)

    def row(c):
        seen["ops"].add(threading.get_ident())
        return _row()(c)

    async def main():
        loop_thread = threading.get_ident()
        w = Writer(eng, on_committed=lambda: seen["committed"].add(threading.get_ident())).start()
        ids = await asyncio.gather(*(w.run(row) for _ in range(40)))
        with pytest.raises(RuntimeError, match="would wait for itself"):
            w.run_sync(row)
        from_thread = await asyncio.to_thread(lambda: w.submit(row).result(5))  # another thread's op
        await asyncio.to_thread(w.stop)
        return loop_thread, ids, from_thread, w

    loop_thread, ids, from_thread, w = asyncio.run(main())
    assert len(set(ids)) == 40 and from_thread not in ids
    assert seen["ops"] == {loop_thread}
    assert seen["committed"] and loop_thread not in seen["committed"]
    assert w.ops == 41 and w.commits <= 3  # the 40 concurrent runs share the first group
    assert _count(url) == 41


def test_a_failed_commit_fails_its_group_and_the_next_group_starts_clean(url):
    import asyncio

    eng = make_engine(url, write=True)
    refuse = {"on": True}
    rolled_back = []

    def fence(c):
        if refuse["on"]:
            raise LeaseLost("refused by the test")

    async def main():
        w = Writer(eng, fence=fence, on_rolled_back=lambda: rolled_back.append(1)).start()
        results = await asyncio.gather(w.run(_row()), w.run(_row()), return_exceptions=True)
        refuse["on"] = False
        after = await w.run(_row())
        await asyncio.to_thread(w.stop)
        return results, after, w

    results, after, w = asyncio.run(main())
    assert [type(r) for r in results] == [LeaseLost, LeaseLost]
    assert isinstance(after, int) and rolled_back == [1]
    assert w.ops == 1 and w.commits == 1 and _count(url) == 1


def test_stop_commits_what_is_queued_and_refuses_what_comes_after(url):
    import asyncio

    eng = make_engine(url, write=True)

    async def main():
        w = Writer(eng).start()
        queued = [asyncio.ensure_future(w.run(_row())) for _ in range(5)]
        cancelled = asyncio.ensure_future(w.run(_row()))
        await asyncio.sleep(0)  # every run has queued its operation
        cancelled.cancel()
        await asyncio.to_thread(w.stop)
        done = await asyncio.gather(*queued)
        with pytest.raises(WriterStopped):
            await w.run(_row())
        with pytest.raises(WriterStopped):
            w.submit(_row()).result(1)
        return done, w

    done, w = asyncio.run(main())
    assert len(set(done)) == 5 and w.ops == 5  # the cancelled caller's operation never ran
    assert _count(url) == 5
