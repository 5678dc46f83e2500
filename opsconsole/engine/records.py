"""The engine's writes, as small functions of a Connection run by the group-commit writer.

Each function is one logical change and runs inside the writer's transaction (under a SAVEPOINT),
so it either happens whole or not at all, and is covered by the lease's fencing check.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, union_all, update
from sqlalchemy.orm import aliased

from canonical.identity import normalise_domain, normalise_name, normalise_tax_number
from canonical.mapping import MappingError, current_version
from canonical.matching import Identity, Match, MatchingRules, best_match
from opsconsole.engine.tracing import minute_bucket
from opsconsole.store.tables import customers, exceptions, inbox, rejected_webhooks, runs, spans, steps, xrefs
from opsconsole.store import prepared as P

_rules: list[MatchingRules] = []


def matching_rules() -> MatchingRules:
    """The matching rules in force (data/matching.toml), read once; the engine may set its own."""
    if not _rules:
        _rules.append(MatchingRules.load())
    return _rules[0]


def use_matching_rules(rules: MatchingRules) -> None:
    _rules[:] = [rules]


# the hot path's queries, built once (see opsconsole.store.prepared)
_RUN_FOR_KEY = select(runs.c.id).where(runs.c.workflow == bindparam("wf"), runs.c.business_key == bindparam("bk")) \
    .order_by(runs.c.id).limit(1)
_XREF_CANONICAL = select(xrefs.c.canonical_id).where(
    xrefs.c.system == bindparam("system"), xrefs.c.object_type == bindparam("ot"), xrefs.c.external_id == bindparam("ext"))
_XREF_EXTERNAL = select(xrefs.c.external_id).where(
    xrefs.c.canonical_id == bindparam("cid"), xrefs.c.system == bindparam("system"),
    xrefs.c.object_type == bindparam("ot")).order_by(xrefs.c.id).limit(1)
_CANDIDATE_COLS = (customers.c.canonical_id, customers.c.match_name, customers.c.tax_number, customers.c.domain)
# duplicate matching's blocking keys, each an indexed lookup of at most 20, in one statement (an
# empty key binds NULL, which matches nothing)
_CANDIDATES = union_all(*(select(*sub.c) for sub in (
    select(*_CANDIDATE_COLS).where(column == bindparam(key)).limit(20).subquery(key)
    for key, column in (("tax", customers.c.tax_number), ("name", customers.c.match_name),
                        ("domain", customers.c.domain)))))
# (no IN (...) here: an expanding parameter cannot be compiled once and run on the DBAPI cursor)
_OPEN = or_(exceptions.c.state == "open", exceptions.c.state == "acknowledged")
_OPEN_EXCEPTION_OF_RUN = select(exceptions.c.id).where(exceptions.c.run_id == bindparam("rid"), _OPEN).limit(1)
_CLOSE_EXCEPTIONS = update(exceptions).where(and_(exceptions.c.run_id == bindparam("rid"), _OPEN)).values(
    state="closed", resolution=bindparam("reason"), updated_at=bindparam("now"))


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
    identity_change: dict | None = None
    """The parsed event when it is a CRM merge, deletion or restore: applied to the cross-references in
    the commit that writes it to the inbox (see :mod:`opsconsole.engine.crm_lifecycle`)."""


@dataclass
class Accepted:
    inbox_id: int | None
    new: bool
    run_id: int | None = None
    new_run: bool = False
    run_row: dict | None = None
    """The new run as inserted, so the runner need not read it back."""


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


_HELD: frozenset[str] = frozenset()


def hold(workflows: frozenset[str]) -> None:
    """Workflows whose event-opened runs wait for their scheduled batch (engine/triggers.py)."""
    global _HELD
    _HELD = frozenset(workflows)


def accept_events(conn: Connection, events: list[IncomingEvent], correlation_ids: list[str]) -> list[Accepted]:
    """Write a delivery's events to the inbox (a repeated event key is recorded once) and open the
    run each new event starts, or link it to the run already open for its business key."""
    now = time.time()
    out: list[Accepted] = []
    for ev, corr in zip(events, correlation_ids):
        status = "invalid" if ev.problem else ("pending" if ev.route else "ignored")
        inbox_id = P.insert_ignore(conn, inbox, ("source", "event_key"), {
            "source": ev.source, "event_key": ev.event_key, "event_type": ev.event_type, "received_at": now,
            "raw_body": ev.raw, "headers": ev.headers, "status": status, "note": ev.problem,
            "business_key": ev.route[1] if ev.route else None, "run_id": None,
        })
        if inbox_id is None:  # this event was recorded before
            out.append(Accepted(None, False))
            continue
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
            run_id = P.scalar(conn, "run_for_key", _RUN_FOR_KEY, {"wf": workflow, "bk": business_key})
        if run_id is not None:
            P.update_by_id(conn, inbox, inbox_id, {
                "status": "duplicate", "run_id": run_id, "note": f"business key already handled by run {run_id}"})
            out.append(Accepted(inbox_id, True, run_id, False))
            continue
        row = {
            "workflow": workflow, "business_key": business_key, "correlation_id": corr,
            "status": "scheduled" if workflow in _HELD else "pending",
            "inbox_id": inbox_id, "created_at": now, "updated_at": now, "context": {"event_key": ev.event_key},
            "account_key": None, "current_step": "", "mapping_version": current_version(), "attempt": 1,
            "finished_at": None, "last_error": "",
        }
        run_id = P.insert_row(conn, runs, row)
        P.update_by_id(conn, inbox, inbox_id, {"status": "processed", "run_id": run_id})
        out.append(Accepted(inbox_id, True, run_id, True, {**row, "id": run_id}))
    return out


def open_run(conn: Connection, workflow: str, business_key: str, context: dict | None = None) -> int:
    """A run the engine starts itself (not from an inbox event): an approved correction, a backfill."""
    from opsconsole.engine.tracing import new_correlation_id

    now = time.time()
    return P.insert_row(conn, runs, {
        "workflow": workflow, "business_key": business_key, "correlation_id": new_correlation_id(),
        "status": "pending", "inbox_id": None, "created_at": now, "updated_at": now, "context": context or {},
        "account_key": None, "current_step": "", "mapping_version": current_version(), "attempt": 1,
        "finished_at": None, "last_error": ""})


def count_rejected(conn: Connection, source: str, reason: str, remote: str) -> None:
    conn.execute(insert(rejected_webhooks).values(source=source, reason=reason[:255], remote=remote, at=time.time()))


def open_exception(conn: Connection, *, workflow: str, category: str, error: str, system: str = "",
                   title: str = "", run_id: int | None = None, step_id: int | None = None,
                   inbox_id: int | None = None, business_key: str = "", correlation_id: str = "",
                   payload: Any = None) -> int:
    """Open an exception, or refresh the one already open for the same run and step."""
    now = time.time()
    if run_id is not None:
        existing = P.scalar(conn, "open_exception_of_run", _OPEN_EXCEPTION_OF_RUN, {"rid": run_id})
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


class SuspectedDuplicate(MappingError):
    """The record may be a customer the engine already knows, by a score between the thresholds: the
    run is held (nothing is created anywhere) and a person decides in the conflict it raises."""

    title = "Suspected duplicate"

    def __init__(self, m: Match, object_type: str, legal_name: str) -> None:
        self.match, self.object_type, self.legal_name = m, object_type, legal_name
        super().__init__([f"{m.a.system} {object_type} {m.a.external_id} ({legal_name}) may be customer "
                          f"{m.b.canonical_id}: score {m.score:.2f} ({m.reason}); a person decides in the conflict"])

    def record(self, conn: Connection, run_id: int | None, event_id: str = "") -> dict:
        """In the commit that fails the run: raise the conflict that holds it."""
        from opsconsole.engine import governance

        return {"conflict_id": governance.record_duplicate(
            conn, self.match, object_type=self.object_type, legal_name=self.legal_name, run_id=run_id,
            event_id=event_id)}


def _candidates(conn: Connection, tax: str, name: str, domain: str) -> list[Identity]:
    """Known customers sharing a blocking key with the record (each lookup indexed)."""
    seen: dict[str, Identity] = {}
    if not (tax or name or domain):
        return []
    params = {"tax": tax or None, "name": name or None, "domain": domain or None}
    for canonical_id, match_name, tax_number, domain_ in P.rows(conn, "candidates", _CANDIDATES, params):
        if canonical_id not in seen:
            seen[canonical_id] = Identity("customer", canonical_id, match_name, domain_ or "", tax_number or "",
                                          frozenset(), canonical_id)
    return list(seen.values())


def find_customer(conn: Connection, *, system: str, object_type: str, external_id: str, legal_name: str,
                  tax_number: str, domain: str, rules: MatchingRules | None = None) -> tuple[str | None, str]:
    """The canonical customer a source record is, without creating anything: by cross-reference,
    else by the matching score (data/matching.toml) against known customers. Returns (canonical id or
    None, how). Raises :class:`SuspectedDuplicate` between the thresholds."""
    found = P.scalar(conn, "xref_canonical", _XREF_CANONICAL, {"system": system, "ot": object_type, "ext": external_id})
    if found:
        return found, "cross-reference"
    rules = rules or matching_rules()
    record = Identity.of(system, external_id, name=legal_name, domain=domain, tax_number=tax_number)
    best = best_match(record, _candidates(conn, record.tax_number, record.name, record.domain), rules)
    if best is None or best.decision == "new":
        return None, "new"
    if best.decision == "suspect":
        raise SuspectedDuplicate(best, object_type, legal_name)
    return best.b.canonical_id, best.reason


def ordered_id(prefix: str) -> str:
    """A canonical id: ``prefix`` and 24 hex digits, the :func:`~opsconsole.engine.tracing.minute_bucket`
    then 84 random bits (the indexes keyed by canonical id, customers, golden fields and
    cross-references, then take each minute's new ids in one small region)."""
    return f"{prefix}{minute_bucket():03x}{random.getrandbits(84):021x}"


def new_customer(conn: Connection, *, legal_name: str, tax_number: str, domain: str) -> str:
    canonical_id = ordered_id("cus_")
    P.insert_row(conn, customers, {
        "canonical_id": canonical_id, "legal_name": legal_name, "match_name": normalise_name(legal_name),
        "tax_number": normalise_tax_number(tax_number) or None, "domain": normalise_domain(domain) or None,
        "created_at": time.time()})
    return canonical_id


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
        canonical_id = new_customer(conn, legal_name=legal_name, tax_number=tax_number, domain=domain)
    put_xref(conn, system, object_type, external_id, canonical_id)
    return canonical_id, how


def put_xref(conn: Connection, system: str, object_type: str, external_id: str, canonical_id: str) -> None:
    P.insert_ignore(conn, xrefs, ("system", "object_type", "external_id"), {
        "system": system, "object_type": object_type, "external_id": external_id,
        "canonical_id": canonical_id, "created_at": time.time(),
    })


def find_xref(conn: Connection, canonical_id: str, system: str, object_type: str) -> str | None:
    return P.scalar(conn, "xref_external", _XREF_EXTERNAL, {"cid": canonical_id, "system": system, "ot": object_type})


def xref_canonical(conn: Connection, system: str, object_type: str, external_id: str) -> str | None:
    """The customer a source record is cross-referenced to, or None."""
    return P.scalar(conn, "xref_canonical", _XREF_CANONICAL, {"system": system, "ot": object_type, "ext": external_id})


def merge_customer(conn: Connection, from_id: str, into_id: str) -> int:
    """Make customer ``from_id`` one with ``into_id`` (a person linked a suspected duplicate whose
    record already had a customer of its own, as after a backfill): every cross-reference of
    ``from_id`` is re-pointed, keeping ``from_id`` as its ``previous_canonical_id`` (an alias); the
    golden fields ``into_id`` lacks are taken over; ``from_id`` leaves the customers table, so it is
    never matched again. Returns the number of cross-references re-pointed."""
    from opsconsole.store.tables import golden_fields

    if from_id == into_id:
        return 0
    moved = conn.execute(update(xrefs).where(xrefs.c.canonical_id == from_id).values(
        canonical_id=into_id, previous_canonical_id=from_id)).rowcount
    have = {r.field for r in conn.execute(select(golden_fields.c.field).where(
        golden_fields.c.canonical_id == into_id, golden_fields.c.entity == "customer"))}
    for row in conn.execute(select(golden_fields).where(golden_fields.c.canonical_id == from_id,
                                                        golden_fields.c.entity == "customer")).mappings().all():
        if row["field"] not in have:
            conn.execute(insert(golden_fields).values({**dict(row), "canonical_id": into_id}))
    conn.execute(golden_fields.delete().where(golden_fields.c.canonical_id == from_id))
    conn.execute(customers.delete().where(customers.c.canonical_id == from_id))
    return moved


CONTACT = "contact"
EMAIL_KEY = "email"
"""The pseudo-system of a contact's e-mail key (``<customer id>/<e-mail>``) among the cross-references:
an indexed, unique way to find a customer's contact by e-mail."""


def contact_email_key(customer_id: str, email: str) -> str:
    return f"{customer_id}/{email.strip().lower()}"[:128]


def _intercom_contacts_query():
    by_email, in_cs = aliased(xrefs), aliased(xrefs)
    return (select(in_cs.c.external_id)
            .join(by_email, and_(by_email.c.canonical_id == in_cs.c.canonical_id, by_email.c.system == EMAIL_KEY,
                                 by_email.c.object_type == CONTACT))
            .where(in_cs.c.system == "intercom", in_cs.c.object_type == CONTACT, in_cs.c.archived_at.is_(None),
                   by_email.c.external_id.like(bindparam("prefix"), escape="\\"))
            .order_by(in_cs.c.id).limit(bindparam("limit")))


# built and compiled once: building its two aliases on every call cost about 1.5 ms of the
# engine's loop (once per quote's onboarding event and per renewal run)
_INTERCOM_CONTACTS = _intercom_contacts_query()


def intercom_contacts(conn: Connection, customer_id: str, limit: int = 50) -> list[str]:
    """The Intercom ids of the customer's contacts (cross-referenced through their e-mail key)."""
    if not customer_id:
        return []
    prefix = f"{customer_id}/".replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [r[0] for r in P.rows(conn, "intercom_contacts", _INTERCOM_CONTACTS, {"prefix": f"{prefix}%", "limit": limit})]


def resolve_contact(conn: Connection, *, system: str, external_id: str, customer_id: str, email: str) -> tuple[str, str]:
    """The canonical contact a source record is: by its cross-reference, else by e-mail within the
    same customer, else a new one. Records the record's cross-reference (system, ``contact``,
    external id) and the e-mail key, so the next record of the same person (another system's, or this
    one after a merge) finds it. Returns (contact id, how). Runs in the single writer."""
    found = P.scalar(conn, "xref_canonical", _XREF_CANONICAL, {"system": system, "ot": CONTACT, "ext": external_id})
    key = contact_email_key(customer_id, email) if customer_id and email else ""
    how = "cross-reference"
    if found is None and key:
        found = P.scalar(conn, "xref_canonical", _XREF_CANONICAL, {"system": EMAIL_KEY, "ot": CONTACT, "ext": key})
        how = "e-mail"
    if found is None:
        found, how = ordered_id("con_"), "new"
    put_xref(conn, system, CONTACT, external_id, found)
    if key:
        put_xref(conn, EMAIL_KEY, CONTACT, key, found)
    return found, how


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
    run_fresh: bool = False
    """The run was opened by its event, never executed before (``RunState.fresh``) and has recorded
    no error since: finishing it has no exception to close and no ``last_error`` to clear (not
    naming ``last_error`` spares the update the search index's trigger)."""


def write_step(conn: Connection, w: StepWrite, *, update_run: bool = True) -> int:
    """Commit one step: its row, spans and cross-references, then the run's status (``update_run``
    False when a later step of the same commit sets it anyway)."""
    now = time.time()
    finished = now if w.status in ("succeeded", "skipped", "failed") else None
    step_id = P.upsert(conn, steps, ("run_id", "seq"), {
        "run_id": w.run_id, "seq": w.seq, "name": w.name, "target_system": w.target_system,
        "operation": w.operation, "idempotency_key": w.idempotency_key, "status": w.status,
        "attempts": w.attempts, "request": w.request, "response": w.response, "error": w.error,
        "error_category": w.error_category, "next_attempt_at": w.next_attempt_at,
        "started_at": w.started_at or now, "finished_at": finished,
    })
    if w.spans:
        P.insert_many(conn, spans, [dict(s.values(), step_id=s.step_id or step_id) for s in w.spans])
    for system, object_type, external_id, canonical_id in w.xrefs:
        put_xref(conn, system, object_type, external_id, canonical_id)
    if update_run:
        P.update_by_id(conn, runs, w.run_id, _run_values(w, now))
    if w.exception is not None:
        open_exception(conn, run_id=w.run_id, step_id=step_id, **w.exception)
    if w.finish_run and w.run_status == "succeeded" and not w.run_fresh:
        close_exceptions(conn, w.run_id, "closed: the run succeeded")
    return step_id


def _run_values(w: StepWrite, now: float) -> dict[str, Any]:
    values: dict[str, Any] = {"status": w.run_status, "current_step": w.name, "updated_at": now}
    if w.run_context is not None:
        values["context"] = w.run_context
    if w.account_key:
        values["account_key"] = w.account_key
    if w.error:
        values["last_error"] = w.error
    if w.finish_run:
        values["finished_at"] = now
        if not w.run_fresh:
            values["last_error"] = ""
    return values


def close_exceptions(conn: Connection, run_id: int, reason: str) -> int:
    return P.execute(conn, "close_exceptions", _CLOSE_EXCEPTIONS, {"rid": run_id, "reason": reason, "now": time.time()})


def update_run(conn: Connection, run_id: int, **values: Any) -> None:
    values.setdefault("updated_at", time.time())
    P.update_by_id(conn, runs, run_id, values)


def add_spans(conn: Connection, rows: list[SpanRow]) -> None:
    P.insert_many(conn, spans, [s.values() for s in rows])
