"""The one writer: every engine write goes through here, in group commits.

Callers submit small functions of a Connection; a dedicated thread drains the queue and runs what
it finds in ONE ``BEGIN IMMEDIATE`` transaction (a SAVEPOINT per operation, so one failing operation
does not poison the others), checks the lease's fencing number, commits, and only then resolves
each caller's future. One fsync covers many events: that is what makes synchronous=FULL affordable.
"""

from __future__ import annotations

import asyncio
import queue
import threading
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
    """

    def __init__(
        self,
        engine: Engine,
        *,
        fence: Callable[[Connection], None] | None = None,
        on_commit_point: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.fence = fence
        self.on_commit_point = on_commit_point
        self._queue: queue.SimpleQueue[tuple[Op, Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._stopped = False
        self.commits = 0
        self.ops = 0
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
                return

    def _drain_refused(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(WriterStopped("the store writer has stopped"))

    def _commit(self, batch: list[tuple[Op, Future]]) -> None:
        results: list[tuple[Future, Any, BaseException | None]] = []
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    if self.fence is not None:
                        self.fence(conn)
                    if len(batch) == 1:
                        # alone in its commit: its failure can roll the whole transaction back,
                        # so the SAVEPOINT round trips are not needed
                        op, fut = batch[0]
                        if fut.set_running_or_notify_cancel():
                            results.append((fut, op(conn), None))
                    for op, fut in (batch if len(batch) > 1 else ()):
                        if not fut.set_running_or_notify_cancel():
                            continue
                        nested = conn.begin_nested()
                        try:
                            value = op(conn)
                        except Exception as exc:  # one bad operation must not sink the batch
                            nested.rollback()
                            results.append((fut, None, exc))
                        else:
                            nested.commit()
                            results.append((fut, value, None))
                    if self.on_commit_point is not None:
                        self.on_commit_point()
        except BaseException as exc:  # the commit itself failed (or the fence refused it)
            for _op, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.commits += 1
        self.ops += len(batch)
        for fut, value, exc in results:
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)
