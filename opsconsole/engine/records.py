"""The engine's writes, as small functions of a Connection run by the group-commit writer.

Each function is one logical change and runs inside the writer's transaction (under a SAVEPOINT),
so it either happens whole or not at all, and is covered by the lease's fencing check.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from canonical.identity import normalise_domain, normalise_name, normalise_tax_number
from opsconsole.store.tables import customers, exceptions, inbox, rejected_webhooks, runs, spans, steps, xrefs
from opsconsole.store.upsert import insert_ignore, upsert


@dataclass
class IncomingEvent:
    """One event of a delivery, as the ingress parsed it."""

    source: str
    event_key: str
    event_type: str
    raw: bytes
    headers: dict[str, str]
    route: tuple[str, str, bool] | None = None
    """(workflow, business_key, dedupe_by_business_key), or None when no workflow handles it."""
    problem: str = ""
    """Why the event is malformed (it becomes a validation exception)."""


@dataclass
class Accepted:
    inbox_id: int | None
    new: bool
    run_id: int | None = None
    new_run: bool = False


@dataclass
class SpanRow:
    correlation_id: str
    span_id: str
    system: str
    operation: str
    status: str
    started_at: float
    duration_ms: float
    parent_span_id: str = ""
    run_id: int | None = None
    step_id: int | None = None
    http_status: int | None = None
    request: Any = None
    response: Any = None

    def values(self) -> dict:
        return dict(self.__dict__)


def accept_events(conn: Connection, events: list[IncomingEvent], correlation_ids: list[str]) -> list[Accepted]:
    """Write a delivery's events to the inbox (a repeated event key is recorded once) and open the
    run each new event starts, or link it to the run already open for its business key."""
    now = time.time()
    out: list[Accepted] = []
    for ev, corr in zip(events, correlation_ids):
        status = "invalid" if ev.problem else ("pending" if ev.route else "ignored")
        res = insert_ignore(conn, inbox, {
            "source": ev.source, "event_key": ev.event_key, "event_type": ev.event_type, "received_at": now,
            "raw_body": ev.raw, "headers": ev.headers, "status": status, "note": ev.problem,
            "business_key": ev.route[1] if ev.route else None,
        }, ["source", "event_key"])
        if res.rowcount == 0:
            out.append(Accepted(None, False))
            continue
        inbox_id = res.inserted_primary_key[0]
        if ev.problem:
            open_exception(conn, workflow=ev.route[0] if ev.route else "ingress", category="validation",
                           system=ev.source, title="Malformed webhook", error=ev.problem, inbox_id=inbox_id,
                           business_key=ev.route[1] if ev.route else "", correlation_id=corr,
                           payload={"raw": ev.raw.decode("utf-8", "replace")[:20000], "event_key": ev.event_key})
            out.append(Accepted(inbox_id, True))
            continue
        if not ev.route:
            out.append(Accepted(inbox_id, True))
            continue
        workflow, business_key, dedupe = ev.route
        run_id = None
        if dedupe:
            run_id = conn.execute(
                select(runs.c.id).where(runs.c.workflow == workflow, runs.c.business_key == business_key)
                .order_by(runs.c.id).limit(1)
            ).scalar()
        if run_id is not None:
            conn.execute(update(inbox).where(inbox.c.id == inbox_id).values(
                status="duplicate", run_id=run_id, note=f"business key already handled by run {run_id}"))
            out.append(Accepted(inbox_id, True, run_id, False))
            continue
        run_id = conn.execute(insert(runs).values(
            workflow=workflow, business_key=business_key, correlation_id=corr, status="pending",
            inbox_id=inbox_id, created_at=now, updated_at=now, context={"event_key": ev.event_key},
        )).inserted_primary_key[0]
        conn.execute(update(inbox).where(inbox.c.id == inbox_id).values(status="processed", run_id=run_id))
        out.append(Accepted(inbox_id, True, run_id, True))
    return out


def count_rejected(conn: Connection, source: str, reason: str, remote: str) -> None:
    conn.execute(insert(rejected_webhooks).values(source=source, reason=reason[:255], remote=remote, at=time.time()))


def open_exception(conn: Connection, *, workflow: str, category: str, error: str, system: str = "",
                   title: str = "", run_id: int | None = None, step_id: int | None = None,
                   inbox_id: int | None = None, business_key: str = "", correlation_id: str = "",
                   payload: Any = None) -> int:
    """Open an exception, or refresh the one already open for the same run and step."""
    now = time.time()
    if run_id is not None:
        existing = conn.execute(select(exceptions.c.id).where(
            exceptions.c.run_id == run_id, exceptions.c.state.in_(("open", "acknowledged")))).scalar()
        if existing is not None:
            conn.execute(update(exceptions).where(exceptions.c.id == existing).values(
                category=category, system=system, title=title, last_error=error, payload=payload,
                step_id=step_id, updated_at=now))
            return existing
    return conn.execute(insert(exceptions).values(
        run_id=run_id, step_id=step_id, inbox_id=inbox_id, workflow=workflow, business_key=business_key,
        correlation_id=correlation_id, category=category, system=system, state="open", title=title,
        last_error=error, payload=payload, created_at=now, updated_at=now,
    )).inserted_primary_key[0]


def find_customer(conn: Connection, *, system: str, object_type: str, external_id: str, legal_name: str,
                  tax_number: str, domain: str) -> tuple[str | None, str]:
    """The canonical customer a source company is, without creating anything: by cross-reference,
    else by tax number, else by normalised name + domain. Returns (canonical id or None, how)."""
    found = conn.execute(select(xrefs.c.canonical_id).where(
        xrefs.c.system == system, xrefs.c.object_type == object_type, xrefs.c.external_id == external_id)).scalar()
    if found:
        return found, "cross-reference"
    tax = normalise_tax_number(tax_number)
    if tax:
        found = conn.execute(select(customers.c.canonical_id).where(customers.c.tax_number == tax)).scalar()
        if found:
            return found, "tax number"
    match_name = normalise_name(legal_name)
    if match_name:
        found = conn.execute(select(customers.c.canonical_id).where(
            customers.c.match_name == match_name, customers.c.domain == normalise_domain(domain))).scalar()
        if found:
            return found, "name and domain"
    return None, "new"


def resolve_customer(conn: Connection, *, system: str, object_type: str, external_id: str, legal_name: str,
                     tax_number: str, domain: str) -> tuple[str, str]:
    """Like :func:`find_customer`, creating the customer when none matches, and recording the
    cross-reference. Runs in the single writer, so two runs resolving the same customer at once
    cannot both create it."""
    canonical_id, how = find_customer(conn, system=system, object_type=object_type, external_id=external_id,
                                      legal_name=legal_name, tax_number=tax_number, domain=domain)
    if how == "cross-reference":
        return canonical_id, how
    if canonical_id is None:
        canonical_id = f"cus_{uuid.uuid4().hex[:20]}"
        conn.execute(insert(customers).values(
            canonical_id=canonical_id, legal_name=legal_name, match_name=normalise_name(legal_name),
            tax_number=normalise_tax_number(tax_number) or None, domain=normalise_domain(domain),
            created_at=time.time()))
    put_xref(conn, system, object_type, external_id, canonical_id)
    return canonical_id, how


def put_xref(conn: Connection, system: str, object_type: str, external_id: str, canonical_id: str) -> None:
    insert_ignore(conn, xrefs, {
        "system": system, "object_type": object_type, "external_id": external_id,
        "canonical_id": canonical_id, "created_at": time.time(),
    }, ["system", "object_type", "external_id"])


def find_xref(conn: Connection, canonical_id: str, system: str, object_type: str) -> str | None:
    return conn.execute(select(xrefs.c.external_id).where(
        xrefs.c.canonical_id == canonical_id, xrefs.c.system == system, xrefs.c.object_type == object_type,
    ).order_by(xrefs.c.id).limit(1)).scalar()


@dataclass
class StepWrite:
    """What one step commits: its row, the spans of its calls, the cross-references it created."""

    run_id: int
    seq: int
    name: str
    target_system: str
    operation: str
    idempotency_key: str
    status: str
    attempts: int
    request: Any = None
    response: Any = None
    error: str = ""
    error_category: str = ""
    next_attempt_at: float | None = None
    started_at: float | None = None
    spans: list[SpanRow] = field(default_factory=list)
    xrefs: list[tuple[str, str, str, str]] = field(default_factory=list)
    run_status: str = "running"
    run_context: dict | None = None
    exception: dict | None = None
    finish_run: bool = False
    account_key: str = ""


def write_step(conn: Connection, w: StepWrite) -> int:
    now = time.time()
    finished = now if w.status in ("succeeded", "skipped", "failed") else None
    upsert(conn, steps, {
        "run_id": w.run_id, "seq": w.seq, "name": w.name, "target_system": w.target_system,
        "operation": w.operation, "idempotency_key": w.idempotency_key, "status": w.status,
        "attempts": w.attempts, "request": w.request, "response": w.response, "error": w.error,
        "error_category": w.error_category, "next_attempt_at": w.next_attempt_at,
        "started_at": w.started_at or now, "finished_at": finished,
    }, ["run_id", "seq"])
    step_id = conn.execute(select(steps.c.id).where(steps.c.run_id == w.run_id, steps.c.seq == w.seq)).scalar()
    if w.spans:
        conn.execute(insert(spans), [dict(s.values(), step_id=s.step_id or step_id) for s in w.spans])
    for system, object_type, external_id, canonical_id in w.xrefs:
        put_xref(conn, system, object_type, external_id, canonical_id)
    values: dict[str, Any] = {"status": w.run_status, "current_step": w.name, "updated_at": now}
    if w.run_context is not None:
        values["context"] = w.run_context
    if w.account_key:
        values["account_key"] = w.account_key
    if w.error:
        values["last_error"] = w.error
    if w.finish_run:
        values["finished_at"] = now
        values["last_error"] = ""
    conn.execute(update(runs).where(runs.c.id == w.run_id).values(**values))
    if w.exception is not None:
        open_exception(conn, run_id=w.run_id, step_id=step_id, **w.exception)
    if w.finish_run and w.run_status == "succeeded":
        close_exceptions(conn, w.run_id, "closed: the run succeeded")
    return step_id


def close_exceptions(conn: Connection, run_id: int, reason: str) -> int:
    return conn.execute(update(exceptions).where(and_(
        exceptions.c.run_id == run_id, exceptions.c.state.in_(("open", "acknowledged")),
    )).values(state="closed", resolution=reason, updated_at=time.time())).rowcount


def update_run(conn: Connection, run_id: int, **values: Any) -> None:
    values.setdefault("updated_at", time.time())
    conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def add_spans(conn: Connection, rows: list[SpanRow]) -> None:
    if rows:
        conn.execute(insert(spans), [s.values() for s in rows])
