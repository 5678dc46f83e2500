"""The runner: executes runs step by step, with retries, backoff, exceptions and spans.

Runs of different accounts execute concurrently (bounded); runs of one account are serialised so
customer -> order -> invoice never happen out of order. A step is marked done only after the target
confirmed it; a crash in between re-sends it with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from canonical.mapping import MappingError
from connectors.errors import CallRecord, ConnectorError
from connectors.http import call_recorder
from opsconsole.engine import backoff, records
from opsconsole.engine.connector_state import ConnectorGate
from opsconsole.engine.lease import LeaseLost
from opsconsole.engine.logs import correlation
from opsconsole.engine.runtime import EngineEnv
from opsconsole.engine.tracing import parse_traceparent
from opsconsole.engine.workflows import WORKFLOWS
from opsconsole.engine.workflows.base import RunState, StepSpec, Workflow
from opsconsole.store.tables import runs, steps

log = logging.getLogger("opsconsole.runner")

ACTIVE_STATES = ("pending", "running", "waiting")


def spans_from_calls(calls: list[CallRecord], state: RunState) -> list[records.SpanRow]:
    out = []
    for call in calls:
        parsed = parse_traceparent(call.traceparent) if call.traceparent else None
        out.append(records.SpanRow(
            correlation_id=state.correlation_id, span_id=parsed[1] if parsed else "", system=call.system,
            operation=f"{call.method} {call.url.split('?')[0].split('/', 3)[-1]}",
            status="ok" if call.status and call.status < 400 else "error",
            started_at=call.started_at, duration_ms=round(call.duration_ms, 3), run_id=state.run_id,
            http_status=call.status, request=call.request_body,
            response=call.response_body if call.status else None,
        ))
    return out


class Runner:
    def __init__(self, env: EngineEnv, workflows: dict[str, Workflow] | None = None) -> None:
        self.env = env
        self.workflows = workflows or WORKFLOWS
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.active: set[int] = set()
        self._queued: set[int] = set()
        self._sem = asyncio.Semaphore(env.settings.concurrency)
        self._account_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task] = set()
        self._fresh: dict[int, dict] = {}
        self.lease_lost: asyncio.Event = asyncio.Event()
        self.gate = ConnectorGate()
        """Which connectors are paused (the engine keeps it in step with the store)."""
        self.stats = {"runs_started": 0, "runs_succeeded": 0, "runs_failed": 0, "retries": 0}

    # --- scheduling -----------------------------------------------------------------------
    def submit(self, run_id: int, row: dict | None = None) -> None:
        """Queue a run; ``row`` is the run just inserted (it has no steps yet), saving a read."""
        if run_id in self.active or run_id in self._queued:
            return
        if row is not None:
            self._fresh[run_id] = row
        self._queued.add(run_id)
        self.queue.put_nowait(run_id)

    async def serve(self) -> None:
        while True:
            run_id = await self.queue.get()
            self._queued.discard(run_id)
            if run_id in self.active:
                continue
            await self._sem.acquire()
            self.active.add(run_id)
            task = asyncio.create_task(self._guarded(run_id), name=f"run:{run_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Let in-flight runs finish (up to ``timeout``), then cancel the rest."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)

    async def _guarded(self, run_id: int) -> None:
        try:
            await self.execute(run_id)
        except LeaseLost:
            log.error("lease lost while executing run %s: stopping", run_id)
            self.lease_lost.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, not a vendor failure: leave the run for the sweeper
            log.exception("engine error in run %s", run_id)
            message = f"engine error: {exc!r}"[:500]
            try:
                await self.env.writer.run(lambda c: records.update_run(c, run_id, status="waiting", last_error=message))
            except LeaseLost:
                self.lease_lost.set()
            except Exception:
                log.exception("could not record the engine error of run %s", run_id)
        finally:
            self.active.discard(run_id)
            self._sem.release()

    def resumable(self, limit: int = 500) -> list[int]:
        """Runs left pending, running or waiting and not executing here (after a restart, say)."""
        ids = self.env.read(lambda c: [r[0] for r in c.execute(
            select(runs.c.id).where(runs.c.status.in_(ACTIVE_STATES)).order_by(runs.c.id).limit(limit + len(self.active))
        )])
        return [i for i in ids if i not in self.active and i not in self._queued][:limit]

    def sweep(self) -> int:
        ids = self.resumable()
        for run_id in ids:
            self.submit(run_id)
        return len(ids)

    # --- one run --------------------------------------------------------------------------
    def _load_state(self, run_id: int) -> tuple[dict, list[dict]] | None:
        def q(c):
            run = c.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
            if run is None:
                return None
            rows = [dict(r) for r in c.execute(select(steps).where(steps.c.run_id == run_id).order_by(steps.c.seq)).mappings()]
            return dict(run), rows
        return self.env.read(q)

    async def execute(self, run_id: int) -> None:
        fresh = self._fresh.pop(run_id, None)
        loaded = (fresh, []) if fresh is not None else self._load_state(run_id)
        if loaded is None:
            return
        run, step_rows = loaded
        if run["status"] not in ACTIVE_STATES:
            return
        wf = self.workflows[run["workflow"]]
        by_seq = {r["seq"]: r for r in step_rows}
        ctx = dict(run["context"] or {})
        state = RunState(run_id=run_id, workflow=wf.name, business_key=run["business_key"],
                         correlation_id=run["correlation_id"], mapping_version=run["mapping_version"], context=ctx,
                         fresh=fresh is not None)
        state.results = {r["name"]: r["response"] for r in step_rows if r["status"] in ("succeeded", "skipped")}
        correlation.set(state.correlation_id)
        self.stats["runs_started"] += 1
        calls: list[CallRecord] = []
        call_recorder.set(calls)

        # step 0: load the source records, validate and map them, match the customer
        v_spec, v_row = wf.steps[0], by_seq.get(0)
        if not await self._prepare(wf, v_spec, v_row, state, calls):
            return
        async with self._account_locks[state.account_key]:
            for seq, spec in enumerate(wf.steps[1:], start=1):
                row = by_seq.get(seq)
                if (row and row["status"] in ("succeeded", "skipped")) or seq in state.skipped_ahead:
                    continue
                if not await self._step(wf, seq, spec, row, state, calls, last=seq == len(wf.steps) - 1,
                                        by_seq=by_seq):
                    return
        self.stats["runs_succeeded"] += 1

    async def _prepare(self, wf: Workflow, spec: StepSpec, row: dict | None, state: RunState,
                       calls: list[CallRecord]) -> bool:
        """Step 0: load the source, then ONE commit that matches the customer, maps and validates,
        and records the step (a validation failure rolls the match back)."""
        attempts = row["attempts"] if row else 0
        if row and row["status"] == "waiting" and row["next_attempt_at"]:
            await asyncio.sleep(max(0.0, row["next_attempt_at"] - time.time()))
        started = time.time()
        if state.context.get("source") is None:
            # the source is read from the system the event came from: not while it is paused
            source = state.business_key.partition(":")[0]
            await self._hold_if_paused(wf, 0, spec, state, attempts, None, started, system=source)
        while True:
            attempts += 1
            calls.clear()
            try:
                if state.context.get("source") is None:
                    state.context["source"] = await wf.load(self.env, state)
                state.source = state.context["source"]
                if row is not None and row["status"] in ("succeeded", "skipped"):
                    done = row["response"] or {}
                    prepared = wf.prepare(self.env, state, done["customer_id"], done.get("matched_by", ""))
                else:
                    wf.premap(self.env, state)
                    prepared = await self.env.writer.run(self._identify_op(wf, spec, state, attempts, started, calls))
                    state.customer_created = False  # true only inside the matching commit
            except MappingError as err:
                failed = records.StepWrite(
                    run_id=state.run_id, seq=0, name=spec.name, target_system=spec.system, operation=spec.operation,
                    idempotency_key=wf.idempotency_key(spec, state), status="failed", attempts=attempts,
                    error=str(err), error_category="validation", started_at=started,
                    spans=spans_from_calls(calls, state), run_status="failed", run_context=state.context,
                    exception=dict(workflow=wf.name, category="validation", system="hubspot",
                                   title=err.title, error="; ".join(err.problems),
                                   business_key=state.business_key, correlation_id=state.correlation_id,
                                   payload={"problems": err.problems, "source": state.source}))

                def write_failure(c, err=err, failed=failed):
                    record = getattr(err, "record", None)  # e.g. a suspected duplicate's conflict
                    if record is not None:
                        failed.exception["payload"].update(record(c, state.run_id, state.business_key))
                    records.write_step(c, failed)

                await self.env.writer.run(write_failure)
                self.stats["runs_failed"] += 1
                return False
            except ConnectorError as err:
                if await self._failed_call(wf, 0, spec, state, calls, err, attempts, started, None):
                    state.context.pop("source", None)
                    continue
                return False
            state.account_key = prepared.account_key
            state.results[spec.name] = prepared.summary
            return True

    def _identify_op(self, wf: Workflow, spec: StepSpec, state: RunState, attempts: int, started: float,
                     calls: list[CallRecord]):
        identity = wf.identity(state)
        spans = spans_from_calls(calls, state)

        def op(conn):
            customer_id, how = records.resolve_customer(conn, **identity) if identity else ("", "none")
            state.customer_created = how == "new"
            prepared = wf.prepare(self.env, state, customer_id, how)  # raises MappingError: all rolled back
            state.account_key = prepared.account_key
            wf.prefetch(conn, state)
            prepared.summary.update(wf.govern(conn, state))
            records.write_step(conn, records.StepWrite(
                run_id=state.run_id, seq=0, name=spec.name, target_system=spec.system, operation=spec.operation,
                idempotency_key=wf.idempotency_key(spec, state), status="succeeded", attempts=attempts,
                response=prepared.summary, started_at=started, spans=spans, run_status="running",
                run_context=state.context, account_key=prepared.account_key))
            return prepared
        return op

    def _skips_ahead(self, wf: Workflow, seq: int, state: RunState, by_seq: dict[int, dict]) -> list[records.StepWrite]:
        """The steps right after ``seq`` that will be skipped and can say so in its commit: those whose
        build may run before that commit (``StepSpec.build_ahead``), not started before, with
        nothing to send. Their results are set on ``state`` as they are found (the next build may
        read them)."""
        out: list[records.StepWrite] = []
        for nxt in range(seq + 1, len(wf.steps)):
            spec = wf.steps[nxt]
            if not spec.build_ahead or nxt in by_seq:
                break
            payload = wf.build(spec, self.env, state)
            if payload is not None:
                break
            out.append(self._skip(wf, nxt, spec, state, 0, None, {"note": f"nothing to send to {spec.system}"},
                                  time.time(), last=nxt == len(wf.steps) - 1))
            state.skipped_ahead.add(nxt)
        return out

    def _skip(self, wf: Workflow, seq: int, spec: StepSpec, state: RunState, attempts: int, payload: Any,
              existing: Any, started: float, *, last: bool) -> records.StepWrite:
        state.results[spec.name] = existing
        return records.StepWrite(
            run_id=state.run_id, seq=seq, name=spec.name, target_system=spec.system, operation=spec.operation,
            idempotency_key=wf.idempotency_key(spec, state), status="skipped", attempts=attempts, request=payload,
            response=existing, started_at=started, run_status="succeeded" if last else "running", finish_run=last,
            run_fresh=state.clean)

    async def _step(self, wf: Workflow, seq: int, spec: StepSpec, row: dict | None, state: RunState,
                    calls: list[CallRecord], *, last: bool, by_seq: dict[int, dict]) -> bool:
        attempts = row["attempts"] if row else 0
        if row and row["status"] == "waiting" and row["next_attempt_at"]:
            await asyncio.sleep(max(0.0, row["next_attempt_at"] - time.time()))
        started = time.time()
        idem = wf.idempotency_key(spec, state)
        payload = wf.build(spec, self.env, state)
        existing = None if state.fresh else wf.already_in_target(spec, self.env, state)
        if payload is None:  # nothing for this target (e.g. no field it should receive changed)
            existing = {"note": f"nothing to send to {spec.system}"}
        if existing is not None:
            skipped = self._skip(wf, seq, spec, state, attempts, payload, existing, started, last=last)

            def write_skipped(c, skipped=skipped):
                records.write_step(c, skipped)
                if last:
                    wf.finish(c, self.env, state)

            await self.env.writer.run(write_skipped)
            return True
        while True:
            # nothing is sent to a paused system (a skipped step sends nothing: it goes on)
            await self._hold_if_paused(wf, seq, spec, state, attempts, payload, started)
            attempts += 1
            calls.clear()
            tp = self.env.traceparent(state)
            try:
                sent = await wf.send(spec, payload, self.env, state, idem, tp)
            except ConnectorError as err:
                if await self._failed_call(wf, seq, spec, state, calls, err, attempts, started, payload):
                    continue
                return False
            self.env.faults.hit("after_target_confirmed")
            done = records.StepWrite(
                run_id=state.run_id, seq=seq, name=spec.name, target_system=spec.system, operation=spec.operation,
                idempotency_key=idem, status="succeeded", attempts=attempts, request=payload, response=sent.response,
                started_at=started, spans=spans_from_calls(calls, state), xrefs=sent.xrefs,
                run_status="succeeded" if last else "running", finish_run=last, run_fresh=state.clean)
            state.results[spec.name] = sent.response  # the hooks in the commit read the confirmation
            ahead = self._skips_ahead(wf, seq, state, by_seq)
            finishes = last or bool(ahead and ahead[-1].finish_run)

            def write_done(c, done=done, spec=spec, ahead=ahead):
                # the run's status is set once, by the commit's last step
                records.write_step(c, done, update_run=not ahead)
                wf.confirmed(c, self.env, state, spec, payload)
                for i, skipped in enumerate(ahead, start=1):
                    records.write_step(c, skipped, update_run=i == len(ahead))
                if finishes:
                    wf.finish(c, self.env, state)

            await self.env.writer.run(write_done)
            return True

    async def _hold_if_paused(self, wf: Workflow, seq: int, spec: StepSpec, state: RunState, attempts: int,
                              payload: Any, started: float, *, system: str | None = None) -> None:
        """If the step's target system (or ``system``: step 0's source) is paused, record the run as
        waiting at this step (no attempt counted, no exception) and park it, without holding a runner
        slot, until the connector is resumed. The account lock stays held, so the account's later
        runs keep their order."""
        system = system or spec.system
        if not self.gate.is_paused(system):
            return
        note = self.gate.describe(system)
        state.error_recorded = True
        await self.env.writer.run(lambda c: records.write_step(c, records.StepWrite(
            run_id=state.run_id, seq=seq, name=spec.name, target_system=system, operation=spec.operation,
            idempotency_key=wf.idempotency_key(spec, state), status="waiting", attempts=attempts, request=payload,
            error=note, started_at=started, run_status="waiting")))
        log.info("run %s waits at %s: %s", state.run_id, spec.name, note,
                 extra={"run_id": state.run_id, "step": spec.name})
        self._sem.release()  # a parked run does not hold one of the runner's slots
        try:
            await self.gate.wait(system, state.run_id)
        finally:
            await self._sem.acquire()  # woken oldest first: the slots go to them in that order

    async def _failed_call(self, wf: Workflow, seq: int, spec: StepSpec, state: RunState, calls: list[CallRecord],
                           err: ConnectorError, attempts: int, started: float, payload: Any) -> bool:
        """Record a failed attempt. Returns True to try again (after the backoff), False when the
        step has become an exception."""
        retry = self.env.settings.retry
        idem = wf.idempotency_key(spec, state)
        spans = spans_from_calls(calls, state)
        if err.retriable and attempts < retry.max_attempts:
            wait = backoff.delay(attempts, base_s=retry.base_delay_s, max_s=retry.max_delay_s, retry_after=err.retry_after)
            self.stats["retries"] += 1
            state.error_recorded = True
            await self.env.writer.run(lambda c: records.write_step(c, records.StepWrite(
                run_id=state.run_id, seq=seq, name=spec.name, target_system=spec.system, operation=spec.operation,
                idempotency_key=idem, status="waiting", attempts=attempts, request=payload, error=str(err),
                error_category=err.category, next_attempt_at=time.time() + wait, started_at=started, spans=spans,
                run_status="waiting")))
            log.info("retrying %s of run %s in %.2fs: %s", spec.name, state.run_id, wait, err,
                     extra={"run_id": state.run_id, "step": spec.name, "category": err.category})
            await asyncio.sleep(wait)
            return True
        exc_payload = {"request": payload, "response": err.body, "http_status": err.status,
                       "idempotency_key": idem, "attempts": attempts}
        if err.status is not None and 400 <= err.status < 500 and err.status not in (401, 403, 429):
            # rejected as sent: nothing exists under this key, the next attempt gets a fresh one
            rejections = dict(state.context.get("rejections") or {})
            rejections[spec.name] = rejections.get(spec.name, 0) + 1
            state.context["rejections"] = rejections
        await self.env.writer.run(lambda c: records.write_step(c, records.StepWrite(
            run_id=state.run_id, seq=seq, name=spec.name, target_system=spec.system, operation=spec.operation,
            idempotency_key=idem, status="failed", attempts=attempts, request=payload, response=err.body,
            error=str(err), error_category=err.category, started_at=started, spans=spans, run_status="failed",
            run_context=state.context, exception=dict(workflow=wf.name, category=err.category, system=err.system or spec.system,
                           title=err.title, error=str(err), business_key=state.business_key,
                           correlation_id=state.correlation_id, payload=exc_payload))))
        self.stats["runs_failed"] += 1
        log.warning("step %s of run %s became an exception (%s): %s", spec.name, state.run_id, err.category, err,
                    extra={"run_id": state.run_id, "step": spec.name, "category": err.category})
        return False
