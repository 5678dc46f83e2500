"""How fast the machine itself ran during a bench: its figures move with it.

On the development machine the same code's events/s and CPU per event swing by up to a factor of
two over a day (docs/engine.md). Two readings tell such a swing from a change in the code:

- ``reference_ms``: the CPU time of a fixed piece of work of the engine's kind (Python dicts and
  strings, orjson, HMAC-SHA256, SQLite inserts into an indexed table), the best of a few rounds. It
  is taken before the first workflow and after the last; a higher figure is a slower machine.
- ``share``: how the machine's CPU time divided during a phase (from /proc/stat): ``steal`` is time
  the hypervisor gave to other guests, ``idle`` what nothing here used.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from pathlib import Path

import orjson

_ROUND = 2_000
_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _work() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, body TEXT)")
    for i in range(_ROUND):
        record = {"id": i, "name": f"Company {i}", "lines": [{"sku": f"S{j}", "qty": j} for j in range(4)],
                  "address": {"city": "Leeds", "country": "GB"}}
        body = orjson.dumps(record)
        digest = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
        db.execute("INSERT INTO t (k, body) VALUES (?, ?)", (digest, body.decode().upper()))
        orjson.loads(body)
    db.close()


def reference_ms(rounds: int = 5) -> float:
    """CPU milliseconds of the fixed work: the best of ``rounds`` (the least disturbed)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        _work()
        best = min(best, time.thread_time() - started)
    return round(best * 1000, 2)


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind (the first line of /proc/stat); [] where there is none."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except OSError:
        return []
    return [int(v) for v in line.split()[1:1 + len(_FIELDS)]]


def share(before: list[int], after: list[int]) -> dict[str, float]:
    """Percent of the machine's CPU time between two readings of :func:`cpu_times` that was stolen
    by the hypervisor and that was idle."""
    if not before or not after:
        return {}
    spent = dict(zip(_FIELDS, (b - a for a, b in zip(before, after))))
    total = sum(spent.values()) or 1
    return {"steal_pct": round(100 * spent.get("steal", 0) / total, 1),
            "idle_pct": round(100 * spent.get("idle", 0) / total, 1)}
