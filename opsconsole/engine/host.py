"""Running the engine: headless in the main thread (the worker) or in a background thread of a
console, with its own event loop (so the console's loop never waits on the engine's I/O, and the
embedded HTTP servers never take the console's signal handlers)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading

from opsconsole.engine.app import Engine
from opsconsole.settings import Settings

log = logging.getLogger("opsconsole.host")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.new_event_loop()


GC_THRESHOLDS = (20_000, 50, 100)
"""The worker's collector: every run allocates thousands of short-lived objects that reference
counting frees, and Python's default (a young collection every 700 allocations) spent about 5% of
the engine's time finding almost nothing (`make bench`, 2026-12-01)."""


def tune_gc() -> None:
    """Move what start-up built (modules, mappings, compiled SQL) out of the collector's sight and
    collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_worker(settings: Settings, *, drain_s: float = 10.0) -> str:
    """Run the engine in this process until SIGTERM/SIGINT or a lost lease; returns why it stopped.

    SIGTERM drains in-flight steps and releases the lease, so a successor starts at once.
    """
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    engine = Engine(settings, kind="worker")

    async def main() -> str:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, engine.request_stop, f"signal {sig.name}")
        await engine.start(wait_for_lease=True)
        tune_gc()
        print(f"engine running: lease {engine.lease.holder} (fencing {engine.lease.fencing}), "
              f"ingress {engine.ingress_url}", flush=True)
        await engine.wait()
        await engine.stop(drain_s)
        return engine.stop_reason

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


class EngineThread:
    """The engine embedded in a console: started in a thread, stopped when the console quits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.holds_lease = False
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="engine", daemon=True)

    def start(self, timeout: float = 30) -> bool:
        """Start; returns True if this console now runs the engine, False if another process
        holds the lease (this console then attaches). Raises what start-up raised."""
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.holds_lease

    def _main(self) -> None:
        self._loop = _new_loop()
        asyncio.set_event_loop(self._loop)
        self.engine = Engine(self.settings, kind="console")
        try:
            self.holds_lease = self._loop.run_until_complete(self.engine.start(wait_for_lease=False))
        except BaseException as exc:  # reported to the starting thread
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        if not self.holds_lease:
            return
        try:
            self._loop.run_until_complete(self.engine.wait())
            self._loop.run_until_complete(self.engine.stop())
        finally:
            self._loop.close()

    @property
    def label(self) -> str:
        if self.engine is None or not self.holds_lease:
            return ""
        return f"engine: this console (fencing {self.engine.lease.fencing}) · ingress {self.engine.ingress_url}"

    def stop(self, timeout: float = 15) -> None:
        if self.engine is not None and self._loop is not None and self.holds_lease and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.engine.request_stop, "console closed")
        self._thread.join(timeout)
