"""Full garbage collections while the operator is not typing.

A full (oldest-generation) collection of the console's heap took ~100 ms: a keystroke that met
one waited that long. So the console, once started, puts what it has loaded out of the collector's
sight (``gc.freeze``: the libraries, the settings, the screens live as long as it does), turns the
automatic full collections off (the young generations are still collected as usual) and runs a
full collection itself, at most every ``EVERY_S`` seconds and only after ``IDLE_S`` without a key,
or unconditionally once ``AT_MOST_S`` have passed, so garbage in cycles is still reclaimed.
"""

from __future__ import annotations

import gc
import time

EVERY_S = 30.0
IDLE_S = 1.0
AT_MOST_S = 120.0
_NEVER = 2**30


class IdleCollector:
    def __init__(self) -> None:
        self.last_input = self.last_full = time.monotonic()
        self.full_collections = 0
        self._threshold: tuple[int, int, int] | None = None

    def start(self, app) -> None:
        gc.freeze()
        self._threshold = gc.get_threshold()
        gen0, gen1, _ = self._threshold
        gc.set_threshold(gen0, gen1, _NEVER)
        app.set_interval(IDLE_S, self.tick, name="idle-gc")

    def input(self) -> None:
        self.last_input = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        since = now - self.last_full
        if since >= AT_MOST_S or (since >= EVERY_S and now - self.last_input >= IDLE_S):
            gc.collect()
            self.last_full = now
            self.full_collections += 1

    def stop(self) -> None:
        """Back to the interpreter's own policy (the console is closing; tests run many apps)."""
        if self._threshold is not None:
            gc.set_threshold(*self._threshold)
            gc.unfreeze()
            self._threshold = None
