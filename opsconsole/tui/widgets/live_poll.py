"""What every live pane shares: fetch in a thread worker, never two fetches at once, a newer request
supersedes the one in flight (a generation number), and a poll every ``refresh_s`` while the pane
is shown (a hidden pane skips its polls and fetches when shown again).

A widget mixes it in and provides ``_start`` (call ``_load(gen, fetch, loaded, failed)`` with
``self._gen``) and a ``PANE`` name; its message handlers call ``_returned(gen)`` first.

The fetch is handed to a thread at once, not from inside a Textual thread worker: a worker's thread
starts only when its task first runs, which is after the screen's next refresh, and the refresh
after a tab switch is the slowest one (~100 ms). An async worker awaits the thread's future, so
the fetch is still a worker the app (and ``App.workers.wait_for_complete``) knows about.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from textual import work
from textual.message import Message
from textual.timer import Timer

FRESH_S = 0.3
"""A pane shown within this long of its last fetch coming back is not fetched again."""
FETCHES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pane-fetch")
"""The live panes' fetches (one in flight per pane, a handful of panes fetch at once at most)."""


class LivePoll:
    PANE = "pane"

    refresh_s: float
    _gen: int
    _in_flight: bool
    _timer: Timer | None

    def _init_poll(self, refresh_s: float) -> None:
        self.refresh_s = refresh_s
        self.last_problem = ""
        self._gen = 0
        self._in_flight = False
        self._timer = None
        self._returned_at = -FRESH_S

    def _start(self) -> None:
        raise NotImplementedError

    def prefetch(self, key: Any, fetch: Callable[[], Any]) -> None:
        """Start the first fetch before the pane is even mounted (the console's first pane: the
        query then runs while the screen's widgets are built); ``_load`` with the same ``key`` takes it."""
        self._prefetched = (key, FETCHES.submit(fetch))

    def _load(self, gen: int, fetch: Callable[[], Any], loaded: Callable[[int, Any], Message],
              failed: Callable[[int, str], Message], key: Any = None) -> None:
        """Run ``fetch()`` in a thread now; post ``loaded(gen, result)`` or ``failed(gen, error)``."""
        self._in_flight = True
        early, self._prefetched = getattr(self, "_prefetched", None), None
        future = early[1] if early is not None and key is not None and early[0] == key else FETCHES.submit(fetch)
        if future.done():  # prefetched and back already: shown in the screen's first paint
            self._post_result(gen, future, loaded, failed)
        else:
            self._deliver(gen, future, loaded, failed)

    @work(exclusive=True, group="live-fetch")
    async def _deliver(self, gen: int, future: Future, loaded: Callable[[int, Any], Message],
                       failed: Callable[[int, str], Message]) -> None:
        await asyncio.wait([asyncio.wrap_future(future)])
        self._post_result(gen, future, loaded, failed)

    def _post_result(self, gen: int, future: Future, loaded: Callable[[int, Any], Message],
                     failed: Callable[[int, str], Message]) -> None:
        exc = future.exception()
        if exc is not None:  # the store may be busy or gone: show it, keep polling
            self.post_message(failed(gen, f"{type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
        else:
            self.post_message(loaded(gen, future.result()))  # type: ignore[attr-defined]

    def is_live(self) -> bool:
        """Whether this pane is on the current screen and is the one shown."""
        return self.screen.is_current and self.is_on_screen  # type: ignore[attr-defined]

    def shown(self) -> None:
        """The pane was just shown: fetch, unless a fetch is already on its way or has just come
        back (the key that shows a pane and its tab's activation would otherwise fetch the same
        thing twice; at start, the first pane's prefetched rows are back before its tab activates)."""
        if not self._in_flight and time.monotonic() - self._returned_at >= FRESH_S:
            self.reload()

    def reload(self) -> None:
        """Fetch now, or as soon as the fetch in flight returns (never two at once)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._gen += 1
        if not self._in_flight:
            self._start()

    def _returned(self, gen: int) -> bool:
        """A fetch came back; whether it is current (else the newer request is fetched now)."""
        self._in_flight = False
        if gen != self._gen:
            self._start()
            return False
        self._returned_at = time.monotonic()
        return True

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.refresh_s, self._tick, name=f"{self.PANE}-refresh")  # type: ignore[attr-defined]

    def _tick(self) -> None:
        self._timer = None
        if self.is_live():
            self.reload()
        else:
            self._arm()
