"""Operator commands (retry, replay) are rows in the store; the engine executes them.

A console attached to a worker in another process writes the same rows, so the embedded and the
attached console behave alike, and a dropped SSH session does not abort what it asked for.
"""

from __future__ import annotations

import logging
import time
from sqlalchemy import Connection, select, update

from canonical.mapping import current_version
from opsconsole.engine.audit import AuditLog
from opsconsole.engine.workflows import WORKFLOWS, unknown_step
from opsconsole.store.tables import commands, exceptions, runs, steps

log = logging.getLogger("opsconsole.commands")


class CommandError(ValueError):
    pass


def _run_for_target(conn: Connection, target: str) -> dict:
    kind, _, ident = target.partition(":")
    if kind == "exception":
        row = conn.execute(select(exceptions.c.run_id).where(exceptions.c.id == int(ident))).first()
        if row is None:
            raise CommandError(f"no exception {ident}")
        if row.run_id is None:
            raise CommandError(f"exception {ident} has no run to retry (a malformed event: fix the sender)")
        run_id = row.run_id
    elif kind == "run":
        run_id = int(ident)
    else:
        raise CommandError(f"cannot act on {target!r}")
    run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
    if run is None:
        raise CommandError(f"no run {run_id}")
    return dict(run)


def reset_run(conn: Connection, kind: str, target: str, params: dict) -> tuple[int, str]:
    """Put a failed or stuck run back to pending from a step. Returns (run id, what was done)."""
    run = _run_for_target(conn, target)
    if run["status"] == "succeeded" and kind == "retry":
        raise CommandError(f"run {run['id']} already succeeded; nothing to retry")
    wf = WORKFLOWS[run["workflow"]]
    rows = list(conn.execute(select(steps.c.seq, steps.c.name, steps.c.status).where(steps.c.run_id == run["id"])
                             .order_by(steps.c.seq)).mappings())
    context = dict(run["context"] or {})
    now = time.time()
    if kind == "retry":
        failed = [r for r in rows if r["status"] in ("failed", "waiting")]
        from_seq = failed[0]["seq"] if failed else (rows[-1]["seq"] if rows else 0)
        mapping_version = run["mapping_version"]
        what = f"retry of run {run['id']} from step {wf.steps[from_seq].name}"
    else:
        names = [s.name for s in wf.steps]
        from_step = params.get("from_step") or next((r["name"] for r in rows if r["status"] in ("failed", "waiting")), names[0])
        problem = unknown_step(wf.name, from_step)
        if problem:
            raise CommandError(problem)
        from_seq = names.index(from_step)
        mapping_version = current_version() if params.get("mapping", "original") == "current" else run["mapping_version"]
        context.pop("source", None)  # replay re-reads the source records
        what = f"replay of run {run['id']} from step {from_step} with mapping {mapping_version}"
    conn.execute(update(steps).where(steps.c.run_id == run["id"], steps.c.seq >= from_seq).values(
        status="pending", attempts=0, next_attempt_at=None, error=""))
    conn.execute(update(runs).where(runs.c.id == run["id"]).values(
        status="pending", attempt=run["attempt"] + 1, mapping_version=mapping_version, context=context,
        updated_at=now, finished_at=None))
    return run["id"], what


def _governance(conn: Connection, audit: AuditLog, cmd: dict, has_role) -> tuple[int | None, str]:
    """A governance decision (resolve a conflict, approve or reject a correction), checked and
    audited here in the engine. Returns (run to start or None, what was done)."""
    from opsconsole.engine import governance, records

    kind, params, actor = cmd["kind"], cmd["params"] or {}, cmd["actor"]
    target_kind, _, ident = cmd["target"].partition(":")
    if kind == "resolve_conflict":
        if target_kind != "conflict":
            raise CommandError(f"cannot resolve {cmd['target']!r}")
        if not has_role(actor, "support"):  # checked again here, under the settings in force
            raise CommandError(f"{actor} does not hold the support role")
        done = governance.resolve_conflict(conn, audit, int(ident), actor, params.get("resolution", ""),
                                           params.get("note", ""))
        what = f"conflict {ident} resolved: {params.get('resolution')}"
        if done["correction"]:
            what += f"; correction {done['correction']} waits for finance approval"
        if done["run"]:
            what += f"; run {done['run']} retried"
        return done["run"], what
    if target_kind != "correction":
        raise CommandError(f"cannot {kind} {cmd['target']!r}")
    state = governance.decide_correction(conn, audit, has_role, int(ident), actor, approve=kind == "approve",
                                         reason=params.get("reason", ""))
    if state != "approved":
        return None, f"correction {ident} rejected"
    run_id = records.open_run(conn, "apply_correction", f"correction:{ident}")
    return run_id, f"correction {ident} approved; run {run_id} writes it to the ERP"


GOVERNANCE_KINDS = ("resolve_conflict", "approve", "reject")


def execute_queued(conn: Connection, audit: AuditLog, limit: int = 50, *, has_role=lambda operator, role: False,
                   on_executed=None) -> list[int]:
    """Execute queued commands (inside the writer's transaction); returns the runs to start.
    ``on_executed(command, status)`` is called for each one executed (the engine refreshes its
    connector cache after a pause or resume)."""
    from opsconsole.engine import connector_state, exception_commands
    from opsconsole.engine.governance import GovernanceError

    to_start: list[int] = []
    # "running": a bulk command on exceptions between two of its batches
    queued = list(conn.execute(select(commands).where(commands.c.status.in_(("queued", "running")))
                               .order_by(commands.c.id).limit(limit)).mappings())
    for cmd in queued:
        if cmd["kind"] in exception_commands.KINDS:  # acknowledge, assign, resolve, bulk_*: updates its own row
            to_start += exception_commands.execute(conn, audit, dict(cmd), has_role)
            continue
        status, result = "done", ""
        try:
            if cmd["kind"] not in ("retry", "replay", *GOVERNANCE_KINDS, *connector_state.KINDS):
                raise CommandError(f"unknown command {cmd['kind']!r}")
            nested = conn.begin_nested()
            try:
                if cmd["kind"] in GOVERNANCE_KINDS:
                    run_id, result = _governance(conn, audit, dict(cmd), has_role)
                elif cmd["kind"] in connector_state.KINDS:
                    run_id, result = None, connector_state.execute(conn, dict(cmd), has_role)
                else:  # retry, replay: the support role, checked again here under the settings in force
                    if not has_role(cmd["actor"], "support"):
                        raise CommandError(f"{cmd['actor']} does not hold the support role")
                    run_id, result = reset_run(conn, cmd["kind"], cmd["target"], cmd["params"] or {})
            except Exception:
                nested.rollback()
                raise
            nested.commit()
            if run_id is not None:
                to_start.append(run_id)
        except (CommandError, GovernanceError, KeyError, ValueError) as exc:
            status, result = "failed", str(exc)
        conn.execute(update(commands).where(commands.c.id == cmd["id"]).values(status=status, result=result, finished_at=time.time()))
        audit.append(conn, "engine", f"command.{status}", f"command:{cmd['id']}",
                     {"kind": cmd["kind"], "target": cmd["target"], "result": result, "requested_by": cmd["actor"]})
        if on_executed is not None:
            on_executed(dict(cmd), status)
    return to_start


