"""The one writer: every engine write goes through here, in group commits.

Callers submit small functions of a Connection. The writer runs whatever is queued on its event
loop (the engine's own) in ONE ``BEGIN IMMEDIATE`` transaction, checks the lease's fencing number,
and hands only the COMMIT (the WAL's fsync) to a thread; what is queued meanwhile forms the next
group. Each caller's future resolves once its group has committed. If an operation raises, the
group is rolled back and redone with a SAVEPOINT per operation, so one failing operation never
sinks the others. One fsync covers many events: that is what makes synchronous=FULL affordable.

Why the operations run on the loop and not on a writer thread: pysqlite releases the interpreter
lock around every statement, so a writer thread took it back some thirty times an event while the
loop's thread wanted it too, and each hand-over cost a thread wake-up. Measured on the bench, the
engine spent about a third more CPU per event that way (docs/engine.md). Operations are small by
contract; the loop waits for them, never for the disk.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")
Op = Callable[[Connection], Any]

MAX_BATCH = 512


class WriterStopped(RuntimeError):
    pass


def _stopped_error() -> WriterStopped:
    return WriterStopped("the store writer has stopped")


def _claim(fut: Any) -> bool:
    """False for a future its caller cancelled before the group ran: its operation is skipped."""
    if isinstance(fut, Future):
        return fut.set_running_or_notify_cancel()
    return not fut.done()


class Writer:
    """Group-commit writer over a BEGIN IMMEDIATE engine.

    ``start()`` on a running event loop serves on that loop; without one (tools, tests) the writer
    runs a loop of its own in a thread. ``run`` is for coroutines, ``submit``/``run_sync`` for any
    thread but the loop's own.

    Args:
        engine: a write engine from :func:`opsconsole.store.db.make_engine` (``write=True``).
        fence: called inside every transaction before commit; raises to refuse the commit
            (the lease's fencing check).
        on_commit_point: called inside every transaction after the operations ran and before the
            commit (the crash test's ``in_group_commit`` fault point).
        before_commit: called with the connection in the commit thread, inside the transaction,
            just before COMMIT: work that needs no interpreter while SQLite runs it (the runs'
            search index, :mod:`opsconsole.store.search_index`).
        on_committed: called after every successful commit (the audit head is written then).
        on_rolled_back: called when a batch did not commit.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        fence: Callable[[Connection], None] | None = None,
        on_commit_point: Callable[[], None] | None = None,
        before_commit: Callable[[Connection], None] | None = None,
        on_committed: Callable[[], None] | None = None,
        on_rolled_back: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.fence = fence
        self.on_commit_point = on_commit_point
        self.before_commit = before_commit
        self.on_committed = on_committed
        self.on_rolled_back = on_rolled_back
        self._pending: list[tuple[Op, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._own_thread: threading.Thread | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="store-commit")
        self._served = threading.Event()
        self._stopped = False
        self._closed = False
        self._conn: Connection | None = None
        self.commits = 0
        self.ops = 0
        self.busy_s = 0.0
        """Seconds spent in transactions (running the operations and committing)."""
        self.commit_s = 0.0
        """Of those, seconds spent in COMMIT (the WAL's fsync with synchronous=FULL)."""

    # --- starting and stopping ------------------------------------------------------------
    def start(self) -> "Writer":
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._attach(loop)
            return self
        ready = threading.Event()

        def own_loop() -> None:
            loop = asyncio.new_event_loop()
            self._attach(loop)
            ready.set()
            try:
                loop.run_until_complete(self._task)
            finally:
                loop.close()
        self._own_thread = threading.Thread(target=own_loop, name="store-writer", daemon=True)
        self._own_thread.start()
        ready.wait()
        return self

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._serve(), name="store-writer")

    def stop(self, timeout: float = 10) -> None:
        """Commit what is queued, then refuse everything after. Waits for that unless called on the
        writer's own loop (which cannot wait for itself; the engine calls it from a thread)."""
        if self._stopped:
            return
        self._stopped = True
        if self._loop is None:
            return
        if self._on_loop():
            self._wake.set()
            return
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop is already closed: nothing is left to serve
            return
        self._served.wait(timeout)
        if self._own_thread is not None:
            self._own_thread.join(timeout)

    # --- submitting -----------------------------------------------------------------------
    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def submit(self, op: Op) -> Future:
        """Queue ``op`` from any thread; the future resolves once its group has committed."""
        fut: Future = Future()
        if self._stopped or self._loop is None:
            fut.set_exception(_stopped_error())
        elif self._on_loop():
            self._enqueue(op, fut)
        else:
            try:
                self._loop.call_soon_threadsafe(self._enqueue, op, fut)
            except RuntimeError:  # the loop has closed
                fut.set_exception(_stopped_error())
        return fut

    async def run(self, op: Callable[[Connection], T]) -> T:
        """Run ``op`` in the next group commit; return its result once committed."""
        if not self._on_loop():
            return await asyncio.wrap_future(self.submit(op))
        if self._stopped:
            raise _stopped_error()
        fut = self._loop.create_future()
        self._enqueue(op, fut)
        return await fut

    def run_sync(self, op: Callable[[Connection], T], timeout: float | None = 30) -> T:
        if self._on_loop():
            raise RuntimeError("run_sync on the writer's own event loop would wait for itself: await run()")
        return self.submit(op).result(timeout)

    def _enqueue(self, op: Op, fut: Any) -> None:
        if self._closed:  # queued from another thread after the last group
            fut.set_exception(_stopped_error())
            return
        self._pending.append((op, fut))
        self._wake.set()

    # --- serving, on the loop -------------------------------------------------------------
    async def _serve(self) -> None:
        try:
            while True:
                if not self._pending:
                    if self._stopped:
                        return
                    await self._wake.wait()
                    self._wake.clear()
                    continue
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._group(batch)
        finally:
            self._closed = True
            pending, self._pending = self._pending, []
            for _op, fut in pending:
                if not fut.done():
                    fut.set_exception(_stopped_error())
            self._close_connection()
            self._committer.shutdown(wait=False)
            self._served.set()

    async def _group(self, batch: list[tuple[Op, Any]]) -> None:
        live = [(op, fut) for op, fut in batch if _claim(fut)]
        if not live:
            return
        started = time.perf_counter()
        try:
            try:
                results = self._transaction(live, isolate=False)
            except _OpFailed:
                # one operation raised: redo the group with each operation under its own SAVEPOINT,
                # so the others still commit (rare, so the common path pays for no savepoints at all)
                results = self._transaction(live, isolate=True)
            committing = time.perf_counter()
            await self._loop.run_in_executor(self._committer, self._commit)
        except BaseException as exc:  # the fence refused, the commit failed, or the loop is going away
            self._close_connection()  # a failed transaction's connection is not reused
            self._fail(live, exc if isinstance(exc, Exception) else _stopped_error())
            if not isinstance(exc, Exception):
                raise
            return
        self.commit_s += time.perf_counter() - committing
        self.busy_s += time.perf_counter() - started
        self.commits += 1
        self.ops += len(live)
        for fut, value, exc in results:
            if fut.done():  # its caller was cancelled meanwhile; the write stands
                continue
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)

    def _connection(self) -> Connection:
        """The writer's own connection, kept between transactions: a pool checkout and the pool's
        reset on return cost as much as a small operation."""
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except Exception:  # closing a connection whose commit failed: nothing more to lose
                pass

    def _fail(self, live: list[tuple[Op, Any]], exc: BaseException) -> None:
        if self.on_rolled_back is not None:
            self.on_rolled_back()
        for _op, fut in live:
            if not fut.done():
                fut.set_exception(exc)

    def _transaction(self, live: list[tuple[Op, Any]], *, isolate: bool) -> list[tuple[Any, Any, BaseException | None]]:
        """Run the group's operations in an open transaction, left open for :meth:`_commit`."""
        results: list[tuple[Any, Any, BaseException | None]] = []
        conn = self._connection()
        conn.begin()
        try:
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
        except BaseException:
            conn.rollback()
            raise
        return results

    def _commit(self) -> None:
        """In the commit thread: COMMIT (the fsync) while the loop goes on; then the audit head."""
        if self.before_commit is not None:
            self.before_commit(self._conn)
        self._conn.commit()
        if self.on_committed is not None:
            self.on_committed()


class _OpFailed(Exception):
    """An operation of an optimistic (savepoint-free) batch raised; the batch is redone isolated."""
