"""Erasing one customer's personal data from the store (``opsconsole erase --customer ID``).

:func:`erase_customer` replaces the customer's personal data with :data:`ERASED
<opsconsole.store.hygiene.ERASED>` wherever the store keeps payloads (inbox raw bodies, runs,
steps, spans, exceptions, golden records, conflicts and corrections), and audits it: the audit entry
names the canonical id and counts, nothing personal, so the chain stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, or_, select, update

from opsconsole.masking import _EMAIL, _is_person_container, _is_pii_key
from opsconsole.store.db import is_sqlite
from opsconsole.store.hygiene import ERASED, HygieneRefused
from opsconsole.store.tables import (
    conflicts, corrections, customers, exceptions, golden_fields, inbox, runs, spans, steps, xrefs,
)


_TAX_KEYS = {"taxnumber", "vatnumber", "vat", "taxid", "taxidnumber", "taxregistrationnumber", "taxcode",
             "vatid", "vatregistrationnumber", "companytaxnumber", "abn", "gstnumber", "ein", "ssn"}


def _norm(key: Any) -> str:
    return "".join(ch for ch in str(key).lower() if ch.isalnum())


def _personal(key: Any, in_person: bool) -> bool:
    return _is_pii_key(key, in_person) or _norm(key) in _TAX_KEYS or _norm(key).endswith("taxnumber")


def scrub(data: Any, *, _in_person: bool = False, _in_address: bool = False) -> tuple[Any, int]:
    """``data`` with personal data replaced by :data:`ERASED` (what :mod:`opsconsole.masking` masks,
    plus tax numbers, every line of an address, and a webhook's ``propertyValue`` whose
    ``propertyName`` is personal); returns (copy, values erased)."""
    if isinstance(data, dict):
        out: dict = {}
        count = 0
        named = data.get("propertyName")
        for key, value in data.items():
            nk = _norm(key)
            personal = _personal(key, _in_person) or (_in_address and nk not in ("addresstype", "type"))
            if key == "propertyValue" and named is not None and _personal(named, False):
                personal = True
            if personal and value not in (None, "", [], {}) and not isinstance(value, (dict, list)):
                out[key], count = ERASED, count + (value != ERASED)
                continue
            if personal and isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
                out[key] = [ERASED for _ in value]
                count += sum(1 for v in value if v != ERASED)
                continue
            sub, n = scrub(value, _in_person=_in_person or _is_person_container(key),
                           _in_address=_in_address or "address" in nk)
            out[key] = sub
            count += n
        return out, count
    if isinstance(data, list):
        items = [scrub(v, _in_person=_in_person, _in_address=_in_address) for v in data]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(data, str):
        return _EMAIL.subn(ERASED, data)
    return data, 0


def _scrub_bytes(raw: bytes) -> tuple[bytes, int]:
    if not raw:
        return raw, 0
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:  # not JSON (a malformed event): nothing in it can be kept safely
        return orjson.dumps(ERASED), 1
    out, n = scrub(decoded)
    return (orjson.dumps(out), n) if n else (raw, 0)


@dataclass
class Erasure:
    customer_id: str
    counts: dict[str, int] = field(default_factory=dict)
    """Rows changed per place (inbox, runs, steps, spans, exceptions, golden_fields, ...)."""
    audit_entry: int | None = None

    def as_dict(self) -> dict:
        return {"customer": self.customer_id, "counts": self.counts, "audit_entry": self.audit_entry}


def _keys_of(conn: Connection, customer_id: str) -> tuple[list[str], list[tuple[int, str, str, str]]]:
    """The canonical ids (the customer and its contacts) and their cross-references."""
    ids = [customer_id]
    contacts = conn.execute(select(xrefs.c.canonical_id).where(
        xrefs.c.system == "email", xrefs.c.object_type == "contact",
        xrefs.c.external_id.like(customer_id.replace("%", r"\%").replace("_", r"\_") + "/%", escape="\\"))).scalars()
    ids += sorted(set(contacts) - {customer_id})
    refs = conn.execute(select(xrefs.c.id, xrefs.c.system, xrefs.c.object_type, xrefs.c.external_id).where(
        or_(xrefs.c.canonical_id.in_(ids), xrefs.c.previous_canonical_id.in_(ids)))).all()
    return ids, [tuple(r) for r in refs]


def _key_match(column, prefixes: list[str]):
    return or_(*(or_(column == p, column.like(p.replace("%", r"\%").replace("_", r"\_") + ":%", escape="\\"))
                 for p in prefixes)) if prefixes else False


def _chunks(items: list, n: int = 400):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def erase_customer(engine: Engine, customer_id: str, *, audit: Any = None, actor: str = "operator",
                   dry_run: bool = False) -> Erasure:
    """Replace customer ``customer_id``'s personal data (and its contacts') with :data:`ERASED` in
    every stored payload: inbox raw bodies, runs' context and errors, steps' request/response, spans'
    payloads, exceptions, golden records (customer and contacts), conflicts and corrections, the
    customer's tax number, and the contacts' e-mail keys among the cross-references. Its rows are found
    through the cross-references (canonical id → system records → business keys) and the runs'
    account key. One transaction, with ``secure_delete`` on so the old bytes do not linger in free
    pages; an audit entry (``customer.erased``: the canonical id and counts) when ``audit`` is given.

    Raises:
        HygieneRefused: no such customer.
    """
    result = Erasure(customer_id)
    counts = result.counts

    def bump(place: str, n: int = 1) -> None:
        counts[place] = counts.get(place, 0) + n

    def op(conn: Connection) -> None:
        ids, refs = _keys_of(conn, customer_id)
        known = conn.scalar(select(func.count()).select_from(customers).where(customers.c.canonical_id == customer_id))
        if not known and not refs:
            raise HygieneRefused(f"no customer {customer_id} in this store (a canonical id, e.g. from the trace pane)")
        prefixes = sorted({f"{s}:{ot}:{ext}" for _id, s, ot, ext in refs if s != "email"})
        run_rows = conn.execute(select(runs.c.id, runs.c.correlation_id, runs.c.inbox_id, runs.c.context,
                                       runs.c.last_error).where(or_(runs.c.account_key.in_(ids),
                                                                    _key_match(runs.c.business_key, prefixes)))).all()
        run_ids = [r.id for r in run_rows]
        corr = sorted({r.correlation_id for r in run_rows if r.correlation_id})
        for r in run_rows:
            context, n1 = scrub(r.context or {})
            last_error, n2 = scrub(r.last_error or "")
            if n1 or n2:
                bump("runs")
                if not dry_run:
                    conn.execute(update(runs).where(runs.c.id == r.id).values(context=context, last_error=last_error))
        # steps and spans of those runs (spans also by correlation id: a trace outlives a pruned run)
        for chunk in _chunks(run_ids):
            for s in conn.execute(select(steps.c.id, steps.c.request, steps.c.response, steps.c.error)
                                  .where(steps.c.run_id.in_(chunk))).all():
                vals = {name: scrub(getattr(s, name)) for name in ("request", "response", "error")}
                if any(n for _v, n in vals.values()):
                    bump("steps")
                    if not dry_run:
                        conn.execute(update(steps).where(steps.c.id == s.id).values({k: v for k, (v, _n) in vals.items()}))
        span_where = [spans.c.run_id.in_(c) for c in _chunks(run_ids)] + [spans.c.correlation_id.in_(c) for c in _chunks(corr)]
        found = {s.id: s for where in span_where
                 for s in conn.execute(select(spans.c.id, spans.c.request, spans.c.response).where(where)).all()}
        for s in found.values():
            (req, n1), (resp, n2) = scrub(s.request), scrub(s.response)
            if n1 or n2:
                bump("spans")
                if not dry_run:
                    conn.execute(update(spans).where(spans.c.id == s.id).values(request=req, response=resp))
        exc_where = or_(_key_match(exceptions.c.business_key, prefixes),
                        *(exceptions.c.run_id.in_(c) for c in _chunks(run_ids)),
                        *(exceptions.c.correlation_id.in_(c) for c in _chunks(corr)))
        inbox_ids = {r.inbox_id for r in run_rows if r.inbox_id}
        for e in conn.execute(select(exceptions.c.id, exceptions.c.payload, exceptions.c.last_error, exceptions.c.title,
                                     exceptions.c.inbox_id, exceptions.c.resolution).where(exc_where)).all():
            if e.inbox_id:
                inbox_ids.add(e.inbox_id)
            vals = {name: scrub(getattr(e, name)) for name in ("payload", "last_error", "title", "resolution")}
            if any(n for _v, n in vals.values()):
                bump("exceptions")
                if not dry_run:
                    conn.execute(update(exceptions).where(exceptions.c.id == e.id)
                                 .values({k: v for k, (v, _n) in vals.items()}))
        inbox_ids |= set(conn.execute(select(inbox.c.id).where(_key_match(inbox.c.business_key, prefixes))).scalars())
        for chunk in _chunks(sorted(inbox_ids)):
            for row in conn.execute(select(inbox.c.id, inbox.c.raw_body).where(inbox.c.id.in_(chunk))).all():
                body, n = _scrub_bytes(row.raw_body)
                if n:
                    bump("inbox")
                    if not dry_run:
                        conn.execute(update(inbox).where(inbox.c.id == row.id).values(raw_body=body))
        for g in conn.execute(select(golden_fields).where(golden_fields.c.canonical_id.in_(ids))).mappings().all():
            if g["value"] in (None, "", ERASED):
                continue
            value, n = (ERASED, 1) if _personal(g["field"], g["entity"] == "contact") else scrub(g["value"])
            if n:
                bump("golden_fields")
                if not dry_run:
                    conn.execute(update(golden_fields).where(
                        golden_fields.c.entity == g["entity"], golden_fields.c.canonical_id == g["canonical_id"],
                        golden_fields.c.field == g["field"]).values(value=value))
        for c in conn.execute(select(conflicts.c.id, conflicts.c.field, conflicts.c["values"], conflicts.c.proposed)
                              .where(conflicts.c.canonical_id.in_(ids))).mappings().all():
            held = c["values"] or {}
            if _personal(c["field"], True):
                values, n1 = {k: ERASED for k in held}, sum(1 for v in held.values() if v != ERASED)
                proposed, n2 = (ERASED, 1) if c["proposed"] not in ("", ERASED) else (c["proposed"], 0)
            else:
                (values, n1), (proposed, n2) = scrub(held), scrub(c["proposed"] or "")
            if n1 or n2:
                bump("conflicts")
                if not dry_run:
                    conn.execute(update(conflicts).where(conflicts.c.id == c["id"]).values(
                        {conflicts.c["values"]: values, conflicts.c.proposed: proposed}))
        for c in conn.execute(select(corrections.c.id, corrections.c.field, corrections.c.before, corrections.c.after)
                              .where(corrections.c.canonical_id.in_(ids))).all():
            if _personal(c.field, True):
                before, after = (ERASED if c.before is not None else None), (ERASED if c.after is not None else None)
                changed = (before, after) != (c.before, c.after)
            else:
                (before, n1), (after, n2) = scrub(c.before), scrub(c.after)
                changed = bool(n1 or n2)
            if changed:
                bump("corrections")
                if not dry_run:
                    conn.execute(update(corrections).where(corrections.c.id == c.id).values(before=before, after=after))
        if conn.scalar(select(customers.c.tax_number).where(customers.c.canonical_id == customer_id)):
            bump("customers")
            if not dry_run:
                conn.execute(update(customers).where(customers.c.canonical_id == customer_id).values(tax_number=None))
        for xid, system, _ot, ext in refs:
            if system == "email" and not ext.endswith(f"/{ERASED}:{xid}"):
                bump("xrefs")
                if not dry_run:  # the e-mail key: <customer>/<e-mail>; unique, so the row id keeps it so
                    conn.execute(update(xrefs).where(xrefs.c.id == xid).values(
                        external_id=f"{ext.partition('/')[0]}/{ERASED}:{xid}"))
        if audit is not None and not dry_run:
            result.audit_entry = audit.append(conn, actor, "customer.erased", f"customer:{customer_id}",
                                              {"counts": dict(sorted(counts.items()))})

    if dry_run:
        with engine.connect() as conn:
            try:
                op(conn)
            finally:
                conn.rollback()
        return result
    sqlite = is_sqlite(str(engine.url))
    try:
        with engine.connect() as conn:
            # on the DBAPI connection, outside the transaction (a statement here would begin it)
            dbapi = conn.connection.driver_connection if sqlite else None
            if dbapi is not None:  # overwrite what is freed, so the erased bytes do not stay in free pages
                dbapi.execute("PRAGMA secure_delete=ON")
            try:
                with conn.begin():
                    op(conn)
            finally:
                if dbapi is not None:
                    dbapi.execute("PRAGMA secure_delete=OFF")
    except BaseException:
        if audit is not None:
            audit.discard_pending()
        raise
    if audit is not None:
        audit.flush_head()
    if sqlite:  # the old page images live in the WAL until a checkpoint
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
    return result

