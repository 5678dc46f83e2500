"""The engine's half of the operator verbs on exceptions: acknowledge, assign, resolve (one
exception each) and their bulk forms (bulk_acknowledge, bulk_assign, bulk_resolve, bulk_retry,
bulk_replay: the runs of the selected exceptions replayed, e.g. after an outage).

Every change re-checks the actor's support role and the exception's state here, and writes one
audit entry per exception (actor, ``exception.<verb>``, ``exception:<id>``, detail). A bulk command
is executed in batches of :data:`BULK_BATCH`, one batch per pass of the command loop: between passes
it is ``running`` with "n of N" as its result, and its cursor (the last exception id done) is kept in
its params, so it goes on where it stopped after an engine restart and no console needs to stay open.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from sqlalchemy import Connection, func, select, update

from opsconsole.engine.audit import AuditLog
from opsconsole.filters import DEFAULT_STATES, FilterError, parse
from opsconsole.store.exception_query import conditions
from opsconsole.store.tables import commands, exceptions

SINGLE = ("acknowledge", "assign", "resolve")
BULK = ("bulk_acknowledge", "bulk_assign", "bulk_resolve", "bulk_retry", "bulk_replay")
KINDS = SINGLE + BULK
BULK_BATCH = 200
SUPPORT = "support"
OPEN = DEFAULT_STATES
PAST = {"acknowledge": "acknowledged", "assign": "assigned", "resolve": "resolved", "retry": "retried",
        "replay": "replayed"}

HasRole = Callable[[str, str], bool]


class Skip(Exception):
    """This exception is not in a state the verb applies to (a bulk command counts it as skipped)."""


def apply(conn: Connection, audit: AuditLog, verb: str, exception_id: int, actor: str, params: dict,
          command_id: int) -> int | None:
    """Do ``verb`` to one exception (inside the caller's transaction); returns a run to start (retry).

    Raises:
        Skip: the exception is missing or its state does not allow the verb.
    """
    row = conn.execute(select(exceptions.c.state, exceptions.c.owner, exceptions.c.run_id)
                       .where(exceptions.c.id == exception_id)).mappings().first()
    if row is None:
        raise Skip(f"no exception {exception_id}")
    state, owner = row["state"], row["owner"] or ""
    allowed = ("open",) if verb == "acknowledge" else OPEN
    if state not in allowed:
        raise Skip(f"exception {exception_id} is {state}" + (f" (owner {owner})" if owner else ""))
    now = time.time()
    values: dict[str, Any] = {"updated_at": now}
    detail: dict[str, Any] = {"command": command_id, "from": state}
    run_id = None
    if verb == "acknowledge":
        values.update(state="acknowledged", owner=owner or actor)
        detail["owner"] = values["owner"]
    elif verb == "assign":
        values.update(state="acknowledged", owner=params["to"])
        detail.update(owner=params["to"], previous_owner=owner)
    elif verb == "resolve":
        values.update(state="resolved", resolution=params["reason"], owner=owner or actor)
        detail["reason"] = params["reason"]
    elif verb in ("retry", "replay"):
        from opsconsole.engine.commands import CommandError, reset_run

        if row["run_id"] is None:
            raise Skip(f"exception {exception_id} is a malformed event with no run")
        # replay: from the step asked for (or the failed one), with the mapping asked for
        how = {k: params[k] for k in ("from_step", "mapping") if params.get(k)} if verb == "replay" else {}
        try:
            run_id, what = reset_run(conn, verb, f"exception:{exception_id}", how)
        except CommandError as exc:
            raise Skip(str(exc)) from None
        detail.update(run=run_id, **how)
        values = {}
    else:
        raise ValueError(f"no verb {verb!r}")
    if values:
        conn.execute(update(exceptions).where(exceptions.c.id == exception_id).values(**values))
    audit.append(conn, actor, f"exception.{verb}", f"exception:{exception_id}", detail)
    return run_id


def _check(cmd: dict, has_role: HasRole) -> None:
    from opsconsole.engine.commands import CommandError

    if not has_role(cmd["actor"], SUPPORT):
        raise CommandError(f"{cmd['actor']} does not hold the support role")
    params = cmd["params"] or {}
    verb = cmd["kind"].removeprefix("bulk_")
    if verb == "resolve" and not str(params.get("reason", "")).strip():
        raise CommandError("resolving an exception needs a reason")
    if verb == "assign" and not str(params.get("to", "")).strip():
        raise CommandError("assign: to whom?")


def _finish(conn: Connection, audit: AuditLog, cmd: dict, status: str, result: str, params: dict | None = None) -> None:
    values: dict[str, Any] = dict(status=status, result=result, finished_at=time.time())
    if params is not None:
        values["params"] = params
    conn.execute(update(commands).where(commands.c.id == cmd["id"]).values(**values))
    audit.append(conn, "engine", f"command.{status}", f"command:{cmd['id']}",
                 {"kind": cmd["kind"], "target": cmd["target"], "result": result, "requested_by": cmd["actor"]})


def execute(conn: Connection, audit: AuditLog, cmd: dict, has_role: HasRole) -> list[int]:
    """Execute (a batch of) one command of :data:`KINDS`, updating its row; returns runs to start."""
    from opsconsole.engine.commands import CommandError

    try:
        _check(cmd, has_role)
    except CommandError as exc:
        _finish(conn, audit, cmd, "failed", str(exc))
        return []
    if cmd["kind"] in SINGLE:
        _, _, ident = cmd["target"].partition(":")
        nested = conn.begin_nested()
        try:
            apply(conn, audit, cmd["kind"], int(ident), cmd["actor"], cmd["params"] or {}, cmd["id"])
        except (Skip, ValueError) as exc:
            nested.rollback()
            _finish(conn, audit, cmd, "failed", str(exc))
            return []
        nested.commit()
        owner = (cmd["params"] or {}).get("to")
        _finish(conn, audit, cmd, "done", f"exception {ident} {PAST[cmd['kind']]}" + (f" to {owner}" if owner else ""))
        return []
    return _bulk_batch(conn, audit, cmd)


def _selection(conn: Connection, cmd: dict, params: dict):
    """The WHERE conditions of the bulk command's selection (ids, or the filter as previewed)."""
    if "ids" in params:
        return [exceptions.c.id.in_([int(i) for i in params["ids"]])]
    cond = conditions(parse(params.get("filter", "")), operator=cmd["actor"], now=float(params.get("now") or time.time()))
    cond.append(exceptions.c.id <= int(params.get("max_id") or 0))
    if params.get("exclude"):
        cond.append(exceptions.c.id.not_in([int(i) for i in params["exclude"]]))
    return cond


def _bulk_batch(conn: Connection, audit: AuditLog, cmd: dict) -> list[int]:
    params = dict(cmd["params"] or {})
    verb = cmd["kind"].removeprefix("bulk_")
    try:
        cond = _selection(conn, cmd, params)
    except (FilterError, ValueError) as exc:
        _finish(conn, audit, cmd, "failed", f"bad selection: {exc}")
        return []
    if "done" not in params:  # the first pass: count what the selection holds now
        params["total"] = conn.execute(select(func.count()).select_from(exceptions).where(*cond)).scalar() or 0
        params.update(done=0, applied=0, skipped=0, cursor=0)
    ids = [r[0] for r in conn.execute(select(exceptions.c.id).where(*cond, exceptions.c.id > int(params["cursor"]))
                                      .order_by(exceptions.c.id).limit(BULK_BATCH))]
    to_start: list[int] = []
    for exception_id in ids:
        nested = conn.begin_nested()
        try:
            run_id = apply(conn, audit, verb, exception_id, cmd["actor"], params, cmd["id"])
        except Skip:
            nested.rollback()
            params["skipped"] += 1
        else:
            nested.commit()
            params["applied"] += 1
            if run_id is not None:
                to_start.append(run_id)
        params["done"] += 1
        params["cursor"] = exception_id
    total = max(int(params["total"]), int(params["done"]))
    if len(ids) == BULK_BATCH:
        conn.execute(update(commands).where(commands.c.id == cmd["id"]).values(
            status="running", result=f"{params['done']} of {total}", params=params))
        return to_start
    result = f"{PAST[verb]} {params['applied']} of {total}"
    if verb == "assign":
        result += f" to {params['to']}"
    if params["skipped"]:
        result += f"; {params['skipped']} skipped (no longer in a state to {verb})"
    _finish(conn, audit, cmd, "done" if params["applied"] or not total else "failed", result, params)
    return to_start
