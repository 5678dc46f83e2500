"""Named fault points for the crash test: the worker SIGKILLs itself there when told to.

Only active when the (test-only) ``crash_points`` setting names a point; in production the table
is empty and :meth:`FaultPoints.hit` is a dictionary lookup.
"""

from __future__ import annotations

import os
import random
import signal
import threading

POINTS = ("after_inbox_write", "after_target_confirmed", "in_group_commit")


class FaultPoints:
    def __init__(self, probabilities: dict[str, float] | None = None, log_path: str = "") -> None:
        unknown = set(probabilities or {}) - set(POINTS)
        if unknown:
            raise ValueError(f"unknown fault points: {', '.join(sorted(unknown))} (known: {', '.join(POINTS)})")
        self.probabilities = dict(probabilities or {})
        self.log_path = log_path
        self._rng = random.Random()
        # two threads (the writer and the event loop) can reach points at once: one logs and kills
        self._dying = threading.Lock()

    def hit(self, name: str) -> None:
        p = self.probabilities.get(name)
        if not p or self._rng.random() >= p:
            return
        self._dying.acquire()  # never released: the process is about to die
        if self.log_path:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, f"{name}\n".encode())
            os.fsync(fd)
            os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
