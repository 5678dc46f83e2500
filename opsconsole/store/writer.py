"""The one writer: every engine write goes through here, in group commits.

Callers submit small functions of a Connection; a dedicated thread drains the queue and runs what
it finds in ONE ``BEGIN IMMEDIATE`` transaction, checks the lease's fencing number, commits, and
only then resolves each caller's future. If an operation raises, the batch is rolled back and redone
with a SAVEPOINT per operation, so one failing operation never sinks the others. One fsync covers many events: that is what makes synchronous=FULL affordable.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")
Op = Callable[[Connection], Any]

MAX_BATCH = 512


class WriterStopped(RuntimeError):
    pass


class Writer:
    """Group-commit writer over a BEGIN IMMEDIATE engine.

    Args:
        engine: a write engine from :func:`opsconsole.store.db.make_engine` (``write=True``).
        fence: called inside every transaction before commit; raises to refuse the commit
            (the lease's fencing check).
        on_commit_point: called inside every transaction after the operations ran and before the
            commit (the crash test's ``in_group_commit`` fault point).
        on_committed: called after every successful commit (the audit head is written then).
        on_rolled_back: called when a batch did not commit.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        fence: Callable[[Connection], None] | None = None,
        on_commit_point: Callable[[], None] | None = None,
        on_committed: Callable[[], None] | None = None,
        on_rolled_back: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.fence = fence
        self.on_commit_point = on_commit_point
        self.on_committed = on_committed
        self.on_rolled_back = on_rolled_back
        self._queue: queue.SimpleQueue[tuple[Op, Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._stopped = False
        self._conn: Connection | None = None
        self.commits = 0
        self.ops = 0
        self.busy_s = 0.0
        """Seconds spent in transactions (running the operations and committing)."""
        self.commit_s = 0.0
        """Of those, seconds spent in COMMIT (the WAL's fsync with synchronous=FULL)."""
        self.fatal: BaseException | None = None

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def submit(self, op: Op) -> Future:
        fut: Future = Future()
        if self._stopped:
            fut.set_exception(WriterStopped("the store writer has stopped"))
            return fut
        self._queue.put((op, fut))
        return fut

    async def run(self, op: Callable[[Connection], T]) -> T:
        """Run ``op`` in the next group commit; return its result once committed."""
        return await asyncio.wrap_future(self.submit(op))

    def run_sync(self, op: Callable[[Connection], T], timeout: float | None = 30) -> T:
        return self.submit(op).result(timeout)

    def stop(self, timeout: float = 10) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout)

    # --- the writer thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._drain_refused()
                self._close_connection()
                return
            batch = [item]
            stop_after = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop_after = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop_after:
                self._drain_refused()
                self._close_connection()
                return

    def _connection(self) -> Connection:
        """The writer thread's own connection, kept between transactions: a pool checkout and the
        pool's reset on return cost as much as a small operation."""
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _drain_refused(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(WriterStopped("the store writer has stopped"))

    def _commit(self, batch: list[tuple[Op, Future]]) -> None:
        live = [(op, fut) for op, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        started = time.perf_counter()
        try:
            results = self._transaction(live, isolate=False)
        except _OpFailed:
            # one operation raised: redo the batch with each operation under its own SAVEPOINT, so
            # the others still commit (rare, so the common path pays for no savepoints at all)
            try:
                results = self._transaction(live, isolate=True)
            except BaseException as exc:
                self._fail(live, exc)
                return
        except BaseException as exc:  # the commit itself failed (or the fence refused it)
            self._fail(live, exc)
            return
        self.busy_s += time.perf_counter() - started
        if self.on_committed is not None:
            self.on_committed()
        self.commits += 1
        self.ops += len(live)
        for fut, value, exc in results:
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)

    def _fail(self, live: list[tuple[Op, Future]], exc: BaseException) -> None:
        if self.on_rolled_back is not None:
            self.on_rolled_back()
        for _op, fut in live:
            if not fut.done():
                fut.set_exception(exc)

    def _transaction(self, live: list[tuple[Op, Future]], *, isolate: bool) -> list[tuple[Future, Any, BaseException | None]]:
        results: list[tuple[Future, Any, BaseException | None]] = []
        conn = self._connection()
        with conn.begin():
            if self.fence is not None:
                self.fence(conn)
            for op, fut in live:
                if not isolate:
                    try:
                        results.append((fut, op(conn), None))
                    except Exception as exc:
                        raise _OpFailed() from exc
                    continue
                # plain SQL savepoints: SQLAlchemy's begin_nested compiles a new statement each time
                conn.exec_driver_sql("SAVEPOINT writer_op")
                try:
                    value = op(conn)
                except Exception as exc:
                    conn.exec_driver_sql("ROLLBACK TO SAVEPOINT writer_op")
                    conn.exec_driver_sql("RELEASE SAVEPOINT writer_op")
                    results.append((fut, None, exc))
                else:
                    conn.exec_driver_sql("RELEASE SAVEPOINT writer_op")
                    results.append((fut, value, None))
            if self.on_commit_point is not None:
                self.on_commit_point()
            committing = time.perf_counter()
        self.commit_s += time.perf_counter() - committing
        return results


class _OpFailed(Exception):
    """An operation of an optimistic (savepoint-free) batch raised; the batch is redone isolated."""
