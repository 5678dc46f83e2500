"""Replay dry runs: re-read the source, map it with the chosen mapping version, and show what each
step would send and whether the target already has it — without writing anything anywhere."""

from __future__ import annotations

import difflib
import json

from sqlalchemy import Engine, select

from canonical.mapping import MappingError, current_version
from connectors.errors import ConnectorError
from opsconsole.engine.runtime import EngineEnv, build_clients
from opsconsole.engine.workflows import WORKFLOWS, unknown_step
from opsconsole.engine import records
from opsconsole.engine.workflows.base import NEW_CUSTOMER, RunState
from opsconsole.settings import Settings
from opsconsole.store.tables import runs, steps
from opsconsole.viewmodels import PlannedStep, ReplayPlan


def _pretty(value) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, default=str).splitlines()


async def plan_replay(settings: Settings, read_engine: Engine, run_id: int, from_step: str | None,
                      mapping: str = "original") -> ReplayPlan:
    with read_engine.connect() as conn:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        if run is None:
            raise KeyError(f"no run {run_id}")
        rows = {r["name"]: dict(r) for r in conn.execute(select(steps).where(steps.c.run_id == run_id)).mappings()}
        conn.rollback()
    wf = WORKFLOWS[run["workflow"]]
    names = [s.name for s in wf.steps]
    if from_step is None:
        from_step = next((n for n in names if rows.get(n, {}).get("status") in ("failed", "waiting", "pending")), names[0])
        if from_step not in rows:
            from_step = next((n for n in names if n not in rows), names[0])
    problem = unknown_step(wf.name, from_step)
    if problem:
        raise KeyError(problem)
    version = current_version() if mapping == "current" else run["mapping_version"]
    state = RunState(run_id=run_id, workflow=wf.name, business_key=run["business_key"],
                     correlation_id=run["correlation_id"], mapping_version=version,
                     context={k: v for k, v in (run["context"] or {}).items() if k != "source"}, dry_run=True)
    start = names.index(from_step)
    state.results = {n: r["response"] for n, r in rows.items()
                     if r["status"] in ("succeeded", "skipped") and names.index(n) < start}
    env = EngineEnv(settings, writer=None, read_engine=read_engine, clients=build_clients(settings, transport="httpx", max_connections=4))  # type: ignore[arg-type]
    problems: list[str] = []
    planned: list[PlannedStep] = []
    try:
        state.source = await wf.load(env, state)
        identity = wf.identity(state)
        found, how = env.read(lambda c: records.find_customer(c, **identity)) if identity else (None, "none")
        prepared = wf.prepare(env, state, found or NEW_CUSTOMER, how)
        state.account_key = prepared.account_key
        if start == 0 and wf.previews_govern:
            # what the replayed validate step would change in the golden record: the later steps
            # send only that to a system that already has the customer
            prepared.summary.update(env.read(lambda c: wf.govern(c, state)))
            state.results[wf.steps[0].name] = prepared.summary
        for spec in wf.steps[start:]:
            row = rows.get(spec.name)
            idem = wf.idempotency_key(spec, state)
            if spec.name == wf.steps[0].name:
                planned.append(PlannedStep(spec.name, spec.system, spec.operation, idem, prepared.summary,
                                           "passes validation now"))
                continue
            payload = wf.build(spec, env, state)
            existing = wf.already_in_target(spec, env, state)
            previous = row["request"] if row else None
            if payload is None:
                verdict = f"nothing to send to {spec.system} — will be skipped"
            elif existing is not None:
                verdict = "already in the ERP — will be skipped"
            elif row and row["status"] == "succeeded":
                verdict = "sent before with this idempotency key — the ERP returns the original"
            else:
                verdict = "will be sent"
            diff = []
            if previous is not None and previous != payload:
                diff = list(difflib.unified_diff(_pretty(previous), _pretty(payload), "last sent", "replay", lineterm=""))
            planned.append(PlannedStep(spec.name, spec.system, spec.operation, idem, payload, verdict, previous, diff))
    except MappingError as err:
        problems = err.problems
    except ConnectorError as err:
        problems = [f"could not re-read the source: {err}"]
    finally:
        for client in env.clients.values():
            await client.aclose()
    return ReplayPlan(run_id, wf.name, run["business_key"], from_step, version, planned, problems, names)
