"""The store's health, in one place: ``opsconsole status``, the ingress's ``/healthz`` and ``/metrics``.

Every figure is a bounded, indexed query (the store may hold a million runs):

- the lease: its one row (primary key);
- last success per workflow: ``max(finished_at)`` per workflow through ``ix_runs_last_finished``
  (workflow, status, finished_at; migration 0009): one index probe per workflow;
- queue depth: pending, waiting and running runs through ``ix_runs_status`` (status, updated_at);
- the oldest unacknowledged (open) exception through ``ix_exc_state`` (state, created_at);
- exceptions past their SLA (open ones only: acknowledging one takes it off, as for alerting),
  one range of ``ix_exc_category`` per named category plus one of ``ix_exc_state`` for the rest.

Healthy means a live lease holder and no open exception past its SLA; otherwise degraded.

:class:`MetricsExporter` renders Prometheus text with ``prometheus_client`` from a custom collector
that reads the store at each scrape. Its counters (runs finished, failures, step retries) are counted
since the exporter was created (the first scrape, in the engine), incrementally: each scrape reads
only what finished since the last one (through ``ix_runs_last_finished``, ``ix_exc_created`` and
``ix_steps_finished``), ``LAG_S`` behind the clock so a commit in flight is not missed.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from sqlalchemy import Connection, func, select

from opsconsole.store.tables import commands, exceptions, runs, steps

QUEUE_STATES = ("pending", "waiting", "running")
EXCEPTION_STATES = ("open", "acknowledged")
LAG_S = 5.0


def clock() -> float:
    """Now, in seconds since the epoch (a function, so a test can fix it)."""
    return time.time()


def workflow_names() -> list[str]:
    from opsconsole.engine.workflows import WORKFLOWS

    return sorted(WORKFLOWS)


def sla_groups(settings: Any, now: float) -> list[tuple[str, list]]:
    """``(category, where clauses)`` selecting the open exceptions past their SLA, one group per
    category the settings name and ``"*"`` for the others (each group one index range)."""
    named = sorted(n for n in settings.sla if n != "*")
    groups = [(n, [exceptions.c.category == n, exceptions.c.state == "open",
                   exceptions.c.created_at < now - settings.sla_s(n)]) for n in named]
    groups.append(("*", [exceptions.c.state == "open", exceptions.c.created_at < now - settings.sla_s("*"),
                         exceptions.c.category.not_in(named)]))
    return groups


def lease_state(conn: Connection, now: float) -> dict:
    from opsconsole.engine.lease import read_lease

    info = read_lease(conn)
    if info is None:
        return {"holder": None, "alive": False, "fencing": None, "expires_in_s": None, "kind": None}
    return {"holder": info.holder, "alive": info.expires_at > now, "fencing": info.fencing,
            "expires_in_s": round(info.expires_at - now, 3), "kind": (info.info or {}).get("kind")}


def last_successes(conn: Connection, workflows: list[str]) -> dict[str, float | None]:
    return {w: conn.scalar(select(func.max(runs.c.finished_at)).where(runs.c.workflow == w,
                                                                     runs.c.status == "succeeded"))
            for w in workflows}


def queue_depth(conn: Connection) -> dict[str, int]:
    return {s: int(conn.scalar(select(func.count()).select_from(runs).where(runs.c.status == s)) or 0)
            for s in QUEUE_STATES}


def oldest_open_exception(conn: Connection) -> Any:
    return conn.execute(select(exceptions.c.id, exceptions.c.category, exceptions.c.created_at)
                        .where(exceptions.c.state == "open").order_by(exceptions.c.created_at, exceptions.c.id)
                        .limit(1)).first()


def past_sla(conn: Connection, settings: Any, now: float) -> dict[str, int]:
    """Open exceptions past their SLA by category (categories with none left out)."""
    out: dict[str, int] = {}
    for name, where in sla_groups(settings, now):
        if name == "*":
            for cat, n in conn.execute(select(exceptions.c.category, func.count()).where(*where)
                                       .group_by(exceptions.c.category)).all():
                out[cat] = int(n)
        else:
            n = int(conn.scalar(select(func.count()).select_from(exceptions).where(*where)) or 0)
            if n:
                out[name] = n
    return dict(sorted(out.items()))


def background_commands(conn: Connection, limit: int = 20) -> list[dict]:
    """Bulk commands running or queued in the engine, oldest first: one ix_commands_status
    (status, id) range per status, so no sort."""
    rows = []
    for status in ("running", "queued"):
        rows += conn.execute(select(commands.c.id, commands.c.kind, commands.c.actor, commands.c.status,
                                    commands.c.result, commands.c.created_at)
                             .where(commands.c.status == status, commands.c.kind.like("bulk\\_%", escape="\\"))
                             .order_by(commands.c.id).limit(limit)).all()
    return [{"command": r.id, "kind": r.kind, "actor": r.actor, "status": r.status, "progress": r.result or "",
             "queued_at": r.created_at} for r in sorted(rows, key=lambda r: r.id)[:limit]]


def report(conn: Connection, settings: Any, now: float | None = None, workflows: list[str] | None = None) -> dict:
    """The health report (JSON-ready; times as seconds since the epoch, ages in seconds)."""
    now = clock() if now is None else now
    lease = lease_state(conn, now)
    last = last_successes(conn, workflow_names() if workflows is None else workflows)
    queue = queue_depth(conn)
    oldest = oldest_open_exception(conn)
    breaches = past_sla(conn, settings, now)
    problems = []
    if not lease["alive"]:
        problems.append("no live lease holder: no engine is running" if lease["holder"] is None
                        else f"the lease of {lease['holder']} has expired: no engine is running")
    if breaches:
        problems.append(f"{sum(breaches.values())} open exceptions past their SLA")
    return {
        "healthy": not problems, "status": "healthy" if not problems else "degraded", "problems": problems,
        "as_of": now, "lease": lease,
        "last_success": {w: {"at": ts, "age_s": None if ts is None else round(now - ts, 3)} for w, ts in last.items()},
        "queue": {**queue, "depth": queue["pending"] + queue["waiting"]},
        "oldest_open_exception": None if oldest is None else {
            "id": oldest.id, "category": oldest.category, "age_s": round(now - oldest.created_at, 3)},
        "exceptions_past_sla": breaches,
        "bulk_commands": background_commands(conn),
    }


class StoreCollector:
    """A ``prometheus_client`` collector reading the store at each scrape."""

    def __init__(self, read_engine: Any, settings: Any, *, clock: Callable[[], float] = clock,
                 since: float | None = None, workflows: list[str] | None = None) -> None:
        self.read_engine, self.settings, self.clock = read_engine, settings, clock
        self.workflows = workflows
        self.mark = clock() - LAG_S if since is None else since
        self.finished: dict[tuple[str, str], int] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.retries: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count_since(self, conn: Connection, lo: float, hi: float) -> None:
        for w in self.workflows if self.workflows is not None else workflow_names():
            n = conn.scalar(select(func.count()).select_from(runs).where(
                runs.c.workflow == w, runs.c.status == "succeeded", runs.c.finished_at > lo, runs.c.finished_at <= hi))
            self.finished[(w, "succeeded")] = self.finished.get((w, "succeeded"), 0) + int(n or 0)
        new = (exceptions.c.created_at > lo, exceptions.c.created_at <= hi)
        for w, cat, has_run, n in conn.execute(
                select(exceptions.c.workflow, exceptions.c.category, exceptions.c.run_id.is_not(None), func.count())
                .where(*new).group_by(exceptions.c.workflow, exceptions.c.category, exceptions.c.run_id.is_not(None))):
            self.failures[(w, cat)] = self.failures.get((w, cat), 0) + int(n)
            if has_run:
                self.finished[(w, "failed")] = self.finished.get((w, "failed"), 0) + int(n)
        for w, n in conn.execute(select(runs.c.workflow, func.sum(steps.c.attempts - 1))
                                 .select_from(steps.join(runs, runs.c.id == steps.c.run_id))
                                 .where(steps.c.finished_at > lo, steps.c.finished_at <= hi, steps.c.attempts > 1)
                                 .group_by(runs.c.workflow)):
            self.retries[w] = self.retries.get(w, 0) + int(n or 0)

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = self.clock()
        with self._lock, self.read_engine.connect() as conn:
            hi = now - LAG_S
            if hi > self.mark:
                self._count_since(conn, self.mark, hi)
                self.mark = hi
            finished, failures, retries = dict(self.finished), dict(self.failures), dict(self.retries)
            workflows = self.workflows if self.workflows is not None else workflow_names()
            rep = report(conn, self.settings, now, workflows)
            by_state = conn.execute(select(exceptions.c.category, exceptions.c.state, func.count())
                                    .where(exceptions.c.state.in_(EXCEPTION_STATES))
                                    .group_by(exceptions.c.category, exceptions.c.state)).all()
            conn.rollback()
        c = CounterMetricFamily("opsconsole_runs_finished", "Runs finished, by workflow and status (failed: "
                                "its step became an exception)", labels=["workflow", "status"])
        for (w, s), n in sorted(finished.items()):
            c.add_metric([w, s], n)
        yield c
        c = CounterMetricFamily("opsconsole_failures", "Exceptions raised, by workflow and category",
                                labels=["workflow", "category"])
        for (w, cat), n in sorted(failures.items()):
            c.add_metric([w, cat], n)
        yield c
        c = CounterMetricFamily("opsconsole_step_retries", "Step retries (attempts after the first) of finished "
                                "steps, by workflow", labels=["workflow"])
        for w, n in sorted(retries.items()):
            c.add_metric([w], n)
        yield c
        oldest = rep["oldest_open_exception"]
        yield GaugeMetricFamily("opsconsole_oldest_open_exception_age_seconds",
                                "Age of the oldest unacknowledged exception (0: none)",
                                value=oldest["age_s"] if oldest else 0.0)
        g = GaugeMetricFamily("opsconsole_exceptions", "Open and acknowledged exceptions, by category and state",
                              labels=["category", "state"])
        for cat, state, n in sorted(by_state):
            g.add_metric([cat, state], n)
        yield g
        g = GaugeMetricFamily("opsconsole_exceptions_past_sla", "Open exceptions past their SLA, by category",
                              labels=["category"])
        for cat, n in rep["exceptions_past_sla"].items():
            g.add_metric([cat], n)
        yield g
        g = GaugeMetricFamily("opsconsole_runs_queued", "Runs not finished, by status", labels=["status"])
        for s in QUEUE_STATES:
            g.add_metric([s], rep["queue"][s])
        yield g
        yield GaugeMetricFamily("opsconsole_lease_alive", "1 when a live engine holds the lease",
                                value=1.0 if rep["lease"]["alive"] else 0.0)
        g = GaugeMetricFamily("opsconsole_last_success_timestamp_seconds", "When a run of each workflow last "
                              "succeeded", labels=["workflow"])
        for w, last in rep["last_success"].items():
            if last["at"] is not None:
                g.add_metric([w], last["at"])
        yield g


class MetricsExporter:
    """Prometheus text exposition of a :class:`StoreCollector` (its own registry, not the global one)."""

    def __init__(self, read_engine: Any, settings: Any, **kwargs: Any) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = StoreCollector(read_engine, settings, **kwargs)
        self.registry.register(self.collector)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
