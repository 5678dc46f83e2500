"""Governed sync in the store: the golden record, ownership conflicts and suspected duplicates,
corrections and their finance approval (maker-checker).

Every function runs inside the caller's write transaction. Decisions (resolve, request, approve,
reject, refuse) are appended to the audit chain, which refers to records by id and holds no
personal data. Maker-checker is the engine's rule: :func:`approval_problem` re-checks, when a
correction is about to be written, that its approval was made by someone holding the finance role
under the current settings, who is not the requester, and that the approval is an authentic entry
of the audit chain, so an approval row written straight into the store is refused.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from canonical.matching import Match
from canonical.ownership import Conflict, FieldState, GoldenRecord, OwnershipRules, Outcome, apply_change
from opsconsole.engine.audit import AuditLog
from opsconsole.store import prepared as P
from opsconsole.store.tables import conflicts, corrections, golden_fields

FINANCE = "finance"
HasRole = Callable[[str, str], bool]
_rules: list[OwnershipRules] = []


def ownership_rules() -> OwnershipRules:
    """The ownership rules in force (data/ownership.toml), read once; the engine may set its own."""
    if not _rules:
        _rules.append(OwnershipRules.load())
    return _rules[0]


def use_ownership_rules(rules: OwnershipRules) -> None:
    _rules[:] = [rules]


class GovernanceError(ValueError):
    """An action that is not allowed; the message says why, in words for the person who asked."""


def _ts(at: datetime) -> float:
    return at.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


# --- the golden record ------------------------------------------------------------------------
# on every governed run, inside the writer: compiled once, run on the DBAPI cursor (store.prepared)
_GOLDEN = select(golden_fields.c.field, golden_fields.c.value, golden_fields.c.system, golden_fields.c.event_id,
                 golden_fields.c.set_at).where(golden_fields.c.entity == bindparam("entity"),
                                               golden_fields.c.canonical_id == bindparam("cid"))
_REATTRIBUTE = update(golden_fields).where(
    golden_fields.c.entity == bindparam("entity"), golden_fields.c.canonical_id == bindparam("cid"),
    golden_fields.c.field == bindparam("name"), golden_fields.c.system != bindparam("sys"),
).values(system=bindparam("sys"), event_id=bindparam("ev"))


def load_golden(conn: Connection, entity: str, canonical_id: str) -> GoldenRecord:
    record = GoldenRecord(entity, canonical_id)
    for name, value, system, event_id, set_at in P.rows(conn, "golden", _GOLDEN, {"entity": entity, "cid": canonical_id}):
        if isinstance(value, (str, bytes)):  # the DBAPI returns JSON columns as text
            value = orjson.loads(value)
        record.fields[name] = FieldState(value, system, event_id, _dt(set_at))
    return record


def save_golden(conn: Connection, record: GoldenRecord, names: list[str]) -> None:
    P.upsert_many(conn, golden_fields, ("entity", "canonical_id", "field"), [
        {"entity": record.entity, "canonical_id": record.canonical_id, "field": name,
         "value": record.fields[name].value, "system": record.fields[name].system,
         "event_id": record.fields[name].event_id, "set_at": _ts(record.fields[name].set_at)}
        for name in names])


def apply_to_golden(conn: Connection, rules: OwnershipRules, entity: str, canonical_id: str, system: str,
                    values: dict[str, Any], *, event_id: str, at: datetime, new: bool = False) -> tuple[Outcome, list[int]]:
    """Apply one system's values to the golden record; store the changes and any new conflicts.
    Returns the outcome and the ids of conflicts opened now (a conflict already open is not repeated).
    ``new``: the record was created in this transaction and has no fields yet (nothing to read)."""
    record = GoldenRecord(entity, canonical_id) if new else load_golden(conn, entity, canonical_id)
    record.applied = set()  # redelivered events are stopped at the inbox; provenance keeps the rest
    outcome = apply_change(record, rules, system, values, event_id=event_id, at=at)
    save_golden(conn, record, list(outcome.changed))
    opened = [cid for cid in (record_conflict(conn, c) for c in outcome.conflicts) if cid is not None]
    return outcome, opened


def preview_golden(conn: Connection, rules: OwnershipRules, entity: str, canonical_id: str, system: str,
                   values: dict[str, Any], *, event_id: str, at: datetime) -> Outcome:
    """What :func:`apply_to_golden` would change, and the conflicts it would open, writing nothing
    (a replay's dry run)."""
    record = load_golden(conn, entity, canonical_id)
    record.applied = set()
    return apply_change(record, rules, system, values, event_id=event_id, at=at)


def confirm_owner(conn: Connection, entity: str, canonical_id: str, system: str, fields: tuple[str, ...], *,
                  event_id: str) -> None:
    """``system`` confirmed a write of the golden values of ``fields``: those it owns take it as
    their source (the value and its time unchanged)."""
    rules = ownership_rules()
    P.execute_many(conn, "golden_reattribute", _REATTRIBUTE, [
        {"entity": entity, "cid": canonical_id, "name": name, "sys": system, "ev": event_id}
        for name in fields if rules.rule(entity, name).owner == system])


# --- conflicts ----------------------------------------------------------------------------------
def _insert_conflict(conn: Connection, **values: Any) -> int | None:
    nested = conn.begin_nested()
    try:
        cid = conn.execute(insert(conflicts).values(created_at=time.time(), **values)).inserted_primary_key[0]
    except IntegrityError:  # the same conflict is already recorded
        nested.rollback()
        return None
    nested.commit()
    return cid


def record_conflict(conn: Connection, c: Conflict) -> int | None:
    """Record an ownership conflict; None when the same one is already recorded."""
    return _insert_conflict(
        conn, kind="ownership", entity=c.entity, canonical_id=c.canonical_id, field=c.field, owner=c.owner,
        rule=c.rule, values=c.values, challenger=c.challenger, proposed=c.proposed,
        billing_impacting=c.billing_impacting, event_id=c.event_id, dedupe_key=c.key[:255])


def record_duplicate(conn: Connection, m: Match, *, entity: str = "customer", object_type: str = "company",
                     legal_name: str = "", run_id: int | None = None, event_id: str = "") -> int | None:
    """Record a suspected duplicate: ``m.a`` is the incoming record, ``m.b`` the known customer it may be."""
    a, b = m.a, m.b
    values = {
        "record": {"system": a.system, "object_type": object_type, "external_id": a.external_id,
                   "legal_name": legal_name, "tax_number": a.tax_number, "domain": a.domain},
        "candidate": {"system": b.system, "external_id": b.external_id, "canonical_id": b.canonical_id,
                      "name": b.name, "tax_number": b.tax_number, "domain": b.domain},
    }
    pair = sorted([f"{a.system}:{a.external_id}", f"{b.system}:{b.external_id}"])
    return _insert_conflict(
        conn, kind="duplicate", entity=entity, canonical_id=b.canonical_id or a.canonical_id, values=values,
        rule=m.reason, score=m.score, challenger=a.system, event_id=event_id, run_id=run_id,
        proposed="link the record to the known customer, or keep it as a separate customer",
        dedupe_key=f"duplicate:{entity}:{pair[0]}:{pair[1]}"[:255])


def get_conflict(conn: Connection, conflict_id: int) -> dict:
    row = conn.execute(select(conflicts).where(conflicts.c.id == conflict_id)).mappings().first()
    if row is None:
        raise GovernanceError(f"no conflict {conflict_id}")
    return dict(row)


RESOLUTIONS = {"ownership": ("keep", "take", "correction"), "duplicate": ("link", "separate")}


def resolve_conflict(conn: Connection, audit: AuditLog, conflict_id: int, actor: str, resolution: str,
                     note: str = "") -> dict:
    """Resolve a conflict; returns ``{"correction": id or None, "run": id or None}``.

    Ownership: ``keep`` the owner's value, ``take`` the challenger's (refused for billing-impacting
    fields, which change only through an approved correction), or ``correction`` (raised for finance).
    Duplicate: ``link`` the record to the known customer, or keep it ``separate`` (a new customer);
    either way the run it held is retried."""
    c = get_conflict(conn, conflict_id)
    if c["state"] != "open":
        raise GovernanceError(f"conflict {conflict_id} is already {c['state']} ({c['resolution']})")
    allowed = RESOLUTIONS[c["kind"]]
    if resolution not in allowed:
        raise GovernanceError(f"{c['kind']} conflicts are resolved with one of: {', '.join(allowed)}")
    if resolution == "take" and c["billing_impacting"]:
        raise GovernanceError(f"{c['field']} is billing-impacting: raise a correction for finance to approve instead")
    correction_id = None
    if resolution == "correction":
        if not c["billing_impacting"]:
            raise GovernanceError(f"{c['field']} is not billing-impacting: take the value instead")
        correction_id = request_correction(
            conn, audit, entity=c["entity"], canonical_id=c["canonical_id"], field=c["field"],
            before=c["values"].get(c["owner"]), after=c["values"].get(c["challenger"]), target_system=c["owner"],
            requested_by=actor, reason=note or f"conflict {conflict_id}: {c['challenger']} value", conflict_id=conflict_id)
    run_id = None
    if c["kind"] == "duplicate":
        run_id = _settle_duplicate(conn, c, resolution)
    take_to = c["owner"] if resolution == "take" and c["owner"] in TAKE_TARGETS and c["entity"] == "customer" else None
    if take_to:
        # the owner must get the value too: a correction that needs no finance approval (the field is
        # not billing-impacting), approved by this decision's audit entry, written by apply_correction
        correction_id = conn.execute(insert(corrections).values(
            conflict_id=conflict_id, entity=c["entity"], canonical_id=c["canonical_id"], field=c["field"],
            before=c["values"].get(c["owner"]), after=c["values"].get(c["challenger"]), target_system=take_to,
            billing_impacting=False, requested_by=actor, reason=note or f"conflict {conflict_id}: take",
            state="approved", decided_by=actor, decision_reason="taken in a conflict (not billing-impacting)",
            created_at=time.time(), decided_at=time.time())).inserted_primary_key[0]
    elif resolution == "take":  # no system of record to write: the golden record takes it
        record = load_golden(conn, c["entity"], c["canonical_id"])
        record.fields[c["field"]] = FieldState(c["values"].get(c["challenger"]), c["challenger"],
                                               f"conflict:{conflict_id}", datetime.now(timezone.utc))
        save_golden(conn, record, [c["field"]])
    conn.execute(update(conflicts).where(conflicts.c.id == conflict_id).values(
        state="resolved", resolution=resolution, resolved_by=actor, note=note, resolved_at=time.time(),
        correction_id=correction_id))
    entry = audit.append(conn, actor, "conflict.resolve", f"conflict:{conflict_id}",
                         {"resolution": resolution, "correction": correction_id, "field": c["field"],
                          "kind": c["kind"], "run": run_id})
    if take_to:
        conn.execute(update(corrections).where(corrections.c.id == correction_id).values(approval_audit_id=entry))
        from opsconsole.engine import records

        run_id = records.open_run(conn, "apply_correction", f"correction:{correction_id}")
    return {"correction": correction_id, "run": run_id}


TAKE_TARGETS = ("xero", "hubspot")
"""Systems of record a taken value is written to (apply_correction)."""


def _settle_duplicate(conn: Connection, c: dict, resolution: str) -> int | None:
    """Give the held record its cross-reference (the known customer, or a new one), then put the
    run it held back to pending; returns that run's id.

    A record that already has a customer of its own (a backfill's suspect: the backfill gives every
    record a customer before it raises the conflict) keeps it on ``separate``; on ``link`` its
    customer is merged into the known one (:func:`records.merge_customer`)."""
    from opsconsole.engine import records
    from opsconsole.engine.commands import CommandError, reset_run

    rec, candidate = c["values"]["record"], c["values"]["candidate"]
    current = records.xref_canonical(conn, rec["system"], rec["object_type"], rec["external_id"])
    if current is not None:
        if resolution == "link":
            records.merge_customer(conn, current, candidate["canonical_id"])
    else:
        if resolution == "link":
            canonical_id = candidate["canonical_id"]
        else:
            canonical_id = records.new_customer(conn, legal_name=rec["legal_name"] or rec["external_id"],
                                                tax_number=rec["tax_number"], domain=rec["domain"])
        records.put_xref(conn, rec["system"], rec["object_type"], rec["external_id"], canonical_id)
    if c["run_id"] is None:
        return None
    try:
        run_id, _ = reset_run(conn, "retry", f"run:{c['run_id']}", {})
    except CommandError:  # already retried and done by someone: nothing held any more
        return None
    return run_id


# --- corrections and maker-checker -------------------------------------------------------------
def request_correction(conn: Connection, audit: AuditLog, *, entity: str, canonical_id: str, field: str,
                       before: Any, after: Any, target_system: str, requested_by: str, reason: str,
                       conflict_id: int | None = None, billing_impacting: bool = True) -> int:
    correction_id = conn.execute(insert(corrections).values(
        conflict_id=conflict_id, entity=entity, canonical_id=canonical_id, field=field, before=before, after=after,
        target_system=target_system, billing_impacting=billing_impacting, requested_by=requested_by,
        reason=reason, state="pending", created_at=time.time())).inserted_primary_key[0]
    audit.append(conn, requested_by, "correction.request", f"correction:{correction_id}",
                 {"entity": entity, "canonical_id": canonical_id, "field": field, "target": target_system,
                  "conflict": conflict_id})
    return correction_id


def get_correction(conn: Connection, correction_id: int) -> dict:
    row = conn.execute(select(corrections).where(corrections.c.id == correction_id)).mappings().first()
    if row is None:
        raise GovernanceError(f"no correction {correction_id}")
    return dict(row)


def why_not_approver(correction: dict, actor: str, has_role: HasRole) -> str | None:
    """Why ``actor`` may not decide this correction, or None when they may (the console says this)."""
    if not has_role(actor, FINANCE):
        return f"{actor} does not hold the finance role"
    if actor == correction["requested_by"]:
        return f"{actor} requested correction {correction['id']}; another finance approver must decide it"
    return None


def decide_correction(conn: Connection, audit: AuditLog, has_role: HasRole, correction_id: int, actor: str, *,
                      approve: bool, reason: str = "") -> str:
    """Approve or reject a pending correction; returns the new state. Rejection needs a reason."""
    c = get_correction(conn, correction_id)
    if c["state"] != "pending":
        raise GovernanceError(f"correction {correction_id} is {c['state']}, not pending")
    problem = why_not_approver(c, actor, has_role)
    if problem:
        raise GovernanceError(problem)
    if not approve and not reason.strip():
        raise GovernanceError("a rejection needs a reason")
    action = "correction.approve" if approve else "correction.reject"
    entry = audit.append(conn, actor, action, f"correction:{correction_id}",
                         {"requested_by": c["requested_by"], "field": c["field"]})
    state = "approved" if approve else "rejected"
    conn.execute(update(corrections).where(corrections.c.id == correction_id).values(
        state=state, decided_by=actor, decision_reason=reason.strip(), decided_at=time.time(),
        approval_audit_id=entry if approve else None))
    return state


def approval_problem(conn: Connection, audit: AuditLog, has_role: HasRole, correction: dict) -> str | None:
    """Re-check an approved correction before it is written: None when it may be, else why not."""
    if correction["state"] != "approved":
        return f"correction {correction['id']} is {correction['state']}, not approved"
    approver = correction["decided_by"]
    if not correction["billing_impacting"]:  # a taken value: the conflict's resolution is its approval
        entry = audit.authentic_entry(conn, correction["approval_audit_id"])
        if (entry is None or entry["action"] != "conflict.resolve" or entry["actor"] != approver
                or entry["subject"] != f"conflict:{correction['conflict_id']}"):
            return (f"approval refused: correction {correction['id']} has no authentic decision by {approver} "
                    f"in the audit chain")
        return None
    problem = why_not_approver(correction, approver, has_role)
    if problem:
        return f"approval refused: {problem}"
    entry = audit.authentic_entry(conn, correction["approval_audit_id"])
    if (entry is None or entry["action"] != "correction.approve" or entry["actor"] != approver
            or entry["subject"] != f"correction:{correction['id']}"):
        return f"approval refused: correction {correction['id']} has no authentic approval by {approver} in the audit chain"
    return None


def refuse_correction(conn: Connection, audit: AuditLog, correction_id: int, why: str) -> None:
    conn.execute(update(corrections).where(corrections.c.id == correction_id).values(state="refused",
                                                                                       decision_reason=why))
    audit.append(conn, "engine", "correction.refuse", f"correction:{correction_id}", {"why": why})


def mark_applied(conn: Connection, audit: AuditLog, correction_id: int, run_id: int) -> None:
    conn.execute(update(corrections).where(corrections.c.id == correction_id).values(
        state="applied", applied_at=time.time(), run_id=run_id))
    audit.append(conn, "engine", "correction.apply", f"correction:{correction_id}", {"run": run_id})
