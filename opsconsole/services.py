"""The one facade the console and the CLI call: queries that return view models, operator actions.

Reads are paged, indexed SQL on a read-only engine. Actions never touch runs directly: they are
written as commands (with an audit entry) that the engine executes, whichever process runs it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import Engine, func, insert, or_, select

from opsconsole.connector_services import ConnectorServices
from opsconsole.audit_services import AuditServices
from opsconsole.dashboard_services import DashboardServices
from opsconsole.engine.audit import AuditLog
from opsconsole.engine.lease import read_lease
from opsconsole.exception_services import SUGGESTIONS, ExceptionServices  # noqa: F401 (SUGGESTIONS: one table)
from opsconsole.governance_services import GovernanceServices
from opsconsole.masking import PII_ROLE, Masker
from opsconsole import health, run_counts, run_search
from opsconsole.settings import Settings
from opsconsole.store.db import make_engine
from opsconsole.store.tables import (
    commands, conflicts, corrections, exceptions, inbox, rejected_webhooks, runs, spans, steps,
)
from opsconsole.viewmodels import (
    BackgroundCommand, CommandReceipt, CommandState, Counts, EngineStatus, ExceptionDetail, ExceptionRow, Page, ReplayPlan, RunDetail,
    RunRow, SpanView, StepView,
)

OPEN_STATES = ("open", "acknowledged")
BACKGROUND_SHOWN = 5



class ActionRefused(Exception):
    """The operator may not do this (read-only console, wrong state); the message says why."""


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%`` and ``_`` typed by a person are text)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _dt(ts: float | None) -> datetime:
    return datetime.fromtimestamp(ts or 0, tz=timezone.utc)


def _run_row(r: Any, now: float) -> RunRow:
    return RunRow(r["id"], r["workflow"], r["business_key"], r["status"], r["current_step"] or "", r["attempt"],
                  r["mapping_version"], r["correlation_id"], _dt(r["created_at"]), _dt(r["updated_at"]),
                  now - r["created_at"], r["last_error"] or "", int(r.get("retries") or 0))


# retries per run, for one page of runs (uses the steps' (run_id, seq) index)
_RETRIES = (select(func.coalesce(func.sum(steps.c.attempts - 1), 0))
            .where(steps.c.run_id == runs.c.id, steps.c.attempts > 1).scalar_subquery().label("retries"))


def _exc_row(r: Any, now: float) -> ExceptionRow:
    return ExceptionRow(r["id"], r["run_id"], r["workflow"], r["business_key"] or "", r["category"], r["system"] or "",
                        r["state"], r["title"] or "", r["last_error"], r["owner"] or "", r["correlation_id"] or "",
                        _dt(r["created_at"]), now - r["created_at"])


class Services(ExceptionServices, GovernanceServices, DashboardServices, ConnectorServices, AuditServices):
    def __init__(self, settings: Settings, *, operator: str | None = None, read_only: bool = False,
                 audit: AuditLog | None = None, engine_mode: str = "attached", clock=time.time) -> None:
        self.settings = settings
        self.clock = clock
        """Seconds since the epoch; snapshot tests pass a fixed clock."""
        self.operator = operator or settings.operator
        self.read_only = read_only
        self.engine_mode = engine_mode
        self._read: Engine = make_engine(settings.store_url, write=False)
        from opsconsole.store.migrate import check_schema

        try:  # every console and CLI verb: never attach to a store of another schema (SchemaMismatch)
            check_schema(self._read)
        except BaseException:
            self._read.dispose()
            raise
        self._write: Engine = make_engine(settings.store_url, write=True)
        if audit is None:
            from opsconsole.engine.app import audit_log

            audit = audit_log(settings)
        self.audit = audit
        self._run_counter: bool | None = None
        """Whether the store keeps runs per status in a table (opsconsole/run_counts.py); looked up once."""

    def close(self) -> None:
        self._read.dispose()
        self._write.dispose()

    def _q(self, fn):
        with self._read.connect() as conn:
            try:
                return fn(conn)
            finally:
                conn.rollback()

    # --- queries ---------------------------------------------------------------------------
    def runs(self, *, offset: int = 0, limit: int = 50, status: Iterable[str] | None = None,
             workflows: Iterable[str] | None = None, text: str = "") -> Page[RunRow]:
        """Newest first. ``text`` filters as the console's `/` does, in bounded time on a large store
        (opsconsole/run_search.py: a capped total, ``Page.exact`` False, for a term most runs match).
        ``status``, ``workflows``: only runs in these (ix_runs_status, ix_runs_key)."""
        cond = [runs.c.status.in_(tuple(status))] if status else []
        if workflows:
            cond.append(runs.c.workflow.in_(tuple(workflows)))

        def q(c):
            if text:
                return (*run_search.page(c, runs, cond, text, (runs, _RETRIES), offset, limit),
                        run_search.scope(c, runs, text))
            rows = c.execute(select(runs, _RETRIES).where(*cond).order_by(runs.c.id.desc()).offset(offset).limit(limit)).mappings().all()
            if cond:
                total = c.execute(select(func.count()).select_from(runs).where(*cond)).scalar()
            else:  # the runs per status table: no count over a million rows on every poll
                if self._run_counter is None:
                    self._run_counter = run_counts.has_counter(c)
                total = sum(run_counts.runs_by_status(c, counter=self._run_counter).values())
            return rows, total, True, ""
        rows, total, exact, scope = self._q(q)
        now = self.clock()
        return Page([_run_row(r, now) for r in rows], total, offset, limit, exact, scope)

    # exceptions(), exception_detail() and the verbs on exceptions: opsconsole/exception_services.py

    def run_detail(self, run_id: int) -> RunDetail:
        def q(c):
            run = c.execute(select(runs, _RETRIES).where(runs.c.id == run_id)).mappings().first()
            if run is None:
                raise KeyError(f"no run {run_id}")
            st = c.execute(select(steps).where(steps.c.run_id == run_id).order_by(steps.c.seq)).mappings().all()
            sp = c.execute(select(spans).where(spans.c.correlation_id == run["correlation_id"])
                           .order_by(spans.c.started_at).limit(500)).mappings().all()
            ex = c.execute(select(exceptions).where(exceptions.c.run_id == run_id).order_by(exceptions.c.id)).mappings().all()
            ev = None
            if run["inbox_id"]:
                ev = c.execute(select(inbox.c.id, inbox.c.source, inbox.c.event_key, inbox.c.event_type,
                                      inbox.c.received_at).where(inbox.c.id == run["inbox_id"])).mappings().first()
            return run, st, sp, ex, ev
        run, st, sp, ex, ev = self._q(q)
        now = self.clock()
        mask = Masker(not self.settings.has_role(self.operator, PII_ROLE))
        step_views = [StepView(s["seq"], s["name"], s["target_system"], s["operation"], s["status"], s["attempts"],
                               s["idempotency_key"],
                               (s["finished_at"] - s["started_at"]) * 1000 if s["finished_at"] and s["started_at"] else None,
                               mask(s["request"]), mask(s["response"]), s["error"] or "", s["error_category"] or "")
                      for s in st]
        span_views = [SpanView(s["span_id"], s["system"], s["operation"], s["status"], s["http_status"],
                               _dt(s["started_at"]), s["duration_ms"], mask(s["request"]), mask(s["response"]))
                      for s in sp]
        return RunDetail(_run_row(run, now), step_views, span_views, [_exc_row(e, now) for e in ex],
                         dict(ev) if ev else None, mask.count)

    def counts(self) -> Counts:
        def q(c):
            if self._run_counter is None:
                self._run_counter = run_counts.has_counter(c)
            by_status = run_counts.runs_by_status(c, counter=self._run_counter)
            by_cat = dict(c.execute(select(exceptions.c.category, func.count()).where(
                exceptions.c.state.in_(OPEN_STATES)).group_by(exceptions.c.category)).all())
            inbox_n = c.execute(select(func.max(inbox.c.id))).scalar() or 0
            rejected = c.execute(select(func.count()).select_from(rejected_webhooks)).scalar() or 0
            last = c.execute(select(rejected_webhooks).order_by(rejected_webhooks.c.id.desc()).limit(1)).mappings().first()
            # the panes' tab counts, live even while their tables are hidden (indexed by state)
            open_conflicts = c.execute(select(func.count()).select_from(conflicts).where(conflicts.c.state == "open")).scalar()
            pending = c.execute(select(func.count()).select_from(corrections).where(corrections.c.state == "pending")).scalar()
            # bulk work in the engine, for every console (as `opsconsole status` lists it)
            background = health.background_commands(c, limit=BACKGROUND_SHOWN)
            return by_status, by_cat, inbox_n, rejected, last, open_conflicts, pending, background
        by_status, by_cat, inbox_n, rejected, last, open_conflicts, pending, background = self._q(q)
        last_txt = f"{last['source']}: {last['reason']} at {_dt(last['at']):%H:%M:%S}" if last else ""
        return Counts(by_status, sum(by_cat.values()), by_cat, inbox_n, rejected, last_txt, open_conflicts or 0,
                      pending or 0, tuple(BackgroundCommand(b["command"], b["kind"], b["actor"], b["status"], b["progress"])
                                         for b in background))

    def engine_status(self) -> EngineStatus:
        info = self._q(read_lease)
        if info is None:
            return EngineStatus("none", "", None, False, "", 0.0)
        return EngineStatus(self.engine_mode, info.holder, info.fencing, info.alive, info.info.get("ingress", ""),
                            info.expires_at - self.clock(), released=info.expires_at == 0.0)

    def command(self, command_id: int) -> CommandState:
        row = self._q(lambda c: c.execute(select(commands).where(commands.c.id == command_id)).mappings().first())
        if row is None:
            raise KeyError(f"no command {command_id}")
        return CommandState(row["id"], row["kind"], row["target"], row["status"], row["result"] or "")

    # --- actions ---------------------------------------------------------------------------
    def _command(self, kind: str, target: str, params: dict, message: str) -> CommandReceipt:
        if self.read_only:
            raise ActionRefused("this console is read-only (--read-only): actions are disabled")
        try:
            with self._write.begin() as conn:
                cid = conn.execute(insert(commands).values(kind=kind, target=target, params=params, actor=self.operator,
                                                           status="queued", created_at=time.time())).inserted_primary_key[0]
                self.audit.append(conn, self.operator, f"{kind}.requested", target, {"command": cid, **params})
        except BaseException:
            self.audit.discard_pending()
            raise
        self.audit.flush_head()
        return CommandReceipt(cid, kind, target, message)

    def retry(self, exception_id: int) -> CommandReceipt:
        row = self._open_exception(exception_id, "retry")  # the support role, that it exists and is open
        if row.run_id is None:
            raise ActionRefused(f"exception {exception_id} is a malformed event with no run: fix the sender")
        return self._command("retry", f"exception:{exception_id}", {},
                             f"retry of exception {exception_id} (run {row.run_id}) queued")

    def plan_replay(self, run_id: int, from_step: str | None = None, mapping: str = "original") -> ReplayPlan:
        from opsconsole.engine.replay import plan_replay

        return asyncio.run(plan_replay(self.settings, self._read, run_id, from_step, mapping))

    def replay(self, run_id: int, from_step: str, mapping: str = "original") -> CommandReceipt:
        self._check_support("replay")
        if mapping not in ("original", "current"):
            raise ActionRefused(f"mapping must be 'original' or 'current', not {mapping!r}")
        from opsconsole.engine.workflows import unknown_step

        # what the engine checks again when it executes the command (engine/commands.py)
        workflow = self._q(lambda c: c.execute(select(runs.c.workflow).where(runs.c.id == run_id)).scalar())
        if workflow is None:
            raise ActionRefused(f"no run {run_id}")
        problem = unknown_step(workflow, from_step) if from_step else None
        if problem:
            raise ActionRefused(problem)
        return self._command("replay", f"run:{run_id}", {"from_step": from_step, "mapping": mapping},
                             f"replay of run {run_id} from {from_step or 'its failed step'} queued")
