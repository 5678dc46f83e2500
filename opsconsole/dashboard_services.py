"""The dashboard's query (mixed into :class:`opsconsole.services.Services`): throughput per workflow
over the last hour, open exceptions by age against their category's SLA, and the business milestones.

Every part is a bounded, indexed query on the read engine, grouped in SQL:

- runs: the runs updated in the window, through ``ix_runs_updated`` (updated_at), grouped by
  workflow, status and minute. A run that finished was last updated when it finished, so its
  ``updated_at`` is its finishing time (a failed run has no ``finished_at``);
- retries: the steps that finished in the window, through ``ix_steps_finished`` (migration 0005),
  joined to their run for the workflow;
- exceptions: open and acknowledged ones through ``ix_exc_state`` (state, created_at), the age
  boundaries of each category's SLA written as created_at comparisons;
- milestones: :func:`opsconsole.milestones.business_milestones` as of the day of ``now`` (UTC).

Only arithmetic on the float timestamps is used, plus a floor that compiles to ``FLOOR`` (or, on
SQLite, whose FLOOR is optional, to a CAST that truncates: the same for the non-negative values here).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from opsconsole.milestones import business_milestones
from opsconsole.store.tables import exceptions, runs, steps
from opsconsole.viewmodels import BusinessMilestones, Dashboard, ExceptionAges, Throughput

WINDOW_S = 3600.0
MINUTES = 60
FINISHED = ("succeeded", "failed")
DASHBOARD_STATES = ("open", "acknowledged")
CATEGORIES = ("validation", "rate_limit", "auth", "downstream_5xx", "timeout", "rejected_by_target", "sequencing")
"""DESIGN's exception categories, in the order the dashboard lists them (others follow by name)."""


class floor_int(FunctionElement):
    """``floor(x)`` as an integer, for ``x >= 0``."""

    type = Integer()
    name = "floor_int"
    inherit_cache = True


@compiles(floor_int)
def _floor_int(element: floor_int, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(floor_int, "sqlite")
def _floor_int_sqlite(element: floor_int, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"  # truncates: floor for x >= 0


def _category_order(category: str) -> tuple[int, str]:
    return (CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES), category)


class DashboardServices:
    """The dashboard's query; needs ``settings``, ``clock`` and ``_q`` from :class:`Services`."""

    settings: Any
    clock: Any
    _q: Any

    def dashboard(self, now: float | None = None) -> Dashboard:
        """Throughput per workflow over the hour before ``now``, open exceptions by age against their
        SLA, and the business milestones as of ``now``'s day.

        Args:
            now: seconds since the epoch (default: the services' clock).
        Returns:
            The :class:`Dashboard` view model.
        """
        now = self.clock() if now is None else now
        since = now - WINDOW_S

        def q(c):
            return (c.execute(_runs_by_minute(now, since)).all(), c.execute(_retries(now, since)).all(),
                    c.execute(self._exception_ages(now)).all(),
                    business_milestones(c, datetime.fromtimestamp(now, tz=timezone.utc).date()))

        run_rows, retry_rows, exc_rows, m = self._q(q)
        return Dashboard(
            as_of=datetime.fromtimestamp(now, tz=timezone.utc), window_s=WINDOW_S,
            throughput=_throughput(run_rows, retry_rows),
            exceptions=sorted((ExceptionAges(cat, self.settings.sla_s(cat), int(within or 0),
                                             int(total) - int(within or 0) - int(breached or 0), int(breached or 0))
                               for cat, total, within, breached in exc_rows), key=lambda e: _category_order(e.category)),
            milestones=BusinessMilestones(m.as_of, m.orders_awaiting_billing_approval, dict(m.invoices_overdue),
                                          dict(m.overdue_amounts), m.onboardings_delayed, m.renewals_blocked_by_payment),
        )

    def _exception_ages(self, now: float):
        # created_at after now - SLA/2: within; before now - SLA: breached; between: nearing
        cat, created = exceptions.c.category, exceptions.c.created_at
        named = [name for name in self.settings.sla if name != "*"]
        default = self.settings.sla_s("*")

        def boundary(share: float):
            whens = [(cat == name, now - share * self.settings.sla_s(name)) for name in named]
            return case(*whens, else_=now - share * default) if whens else now - share * default

        within = func.sum(case((created > boundary(0.5), 1), else_=0))
        breached = func.sum(case((created < boundary(1.0), 1), else_=0))
        return (select(cat, func.count(), within, breached)
                .where(exceptions.c.state.in_(DASHBOARD_STATES)).group_by(cat))


def _runs_by_minute(now: float, since: float):
    # minute 0 is the last minute before now; grouped in an outer query so that GROUP BY names the
    # inner query's column, not an expression with its own bound parameters (PostgreSQL refuses that)
    recent = (select(runs.c.workflow, runs.c.status,
                     floor_int((now - runs.c.updated_at) / 60.0).label("minute"))
              .where(runs.c.updated_at > since, runs.c.updated_at <= now).subquery())
    return (select(recent.c.workflow, recent.c.status, recent.c.minute, func.count())
            .group_by(recent.c.workflow, recent.c.status, recent.c.minute))


def _retries(now: float, since: float):
    return (select(runs.c.workflow, func.sum(steps.c.attempts - 1))
            .select_from(steps.join(runs, runs.c.id == steps.c.run_id))
            .where(steps.c.finished_at > since, steps.c.finished_at <= now, steps.c.attempts > 1)
            .group_by(runs.c.workflow))


def _throughput(run_rows, retry_rows) -> list[Throughput]:
    per_minute: dict[str, list[int]] = {}
    totals: dict[str, dict[str, int]] = {}
    for workflow, status, minute, n in run_rows:
        series = per_minute.setdefault(workflow, [0] * MINUTES)
        counts = totals.setdefault(workflow, dict.fromkeys(FINISHED, 0))
        if status in FINISHED:
            counts[status] += n
            series[MINUTES - 1 - min(MINUTES - 1, max(0, int(minute)))] += n
    retries = {workflow: int(n or 0) for workflow, n in retry_rows}
    for workflow in retries:
        per_minute.setdefault(workflow, [0] * MINUTES)
        totals.setdefault(workflow, dict.fromkeys(FINISHED, 0))
    return [Throughput(workflow, per_minute[workflow], totals[workflow]["succeeded"], totals[workflow]["failed"],
                       retries.get(workflow, 0)) for workflow in sorted(per_minute)]
