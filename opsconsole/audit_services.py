"""The facade's audit and trace-finding half: the audit log paged from SQL (newest first) with its
chain's verification, and finding the runs of a business transaction from a correlation id, a
business key, a vendor id (through the cross-references) or a company name. Every lookup is an
equality or a prefix range on an indexed column. Mixed into :class:`opsconsole.services.Services`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import String, and_, cast, func, or_, select

from opsconsole.store.tables import audit, customers, onboardings, payment_positions, runs, xrefs
from opsconsole.viewmodels import AuditRow, ChainStatus, Page, TraceMatch, TraceSearch

AUDIT_FIELDS = ("actor", "action", "subject")
"""The audit pane's search tokens: ``actor:NAME`` (exact), ``action:PREFIX``, ``subject:PREFIX``."""
FREE_TEXT_WINDOW = 10_000
"""Free text (no token) is matched anywhere in actor, action, subject and detail, which no index can
serve: it is looked for among the newest this-many entries only (a primary-key range)."""

XREF_KINDS = (
    ("hubspot", "quote"), ("hubspot", "company"), ("hubspot", "contact"), ("hubspot", "deal"),
    ("xero", "invoice"), ("xero", "quote"), ("xero", "contact"), ("xero", "repeating_invoice"),
    ("intercom", "company"), ("intercom", "contact"),
)
"""(system, object type) of the cross-references a vendor id is looked up in (each lookup uses the
unique (system, object_type, external_id) index)."""
BARE_ID_KEYS = ("hubspot:quote", "hubspot:company", "hubspot:contact", "xero:invoice", "xero:contact",
                "intercom:company", "intercom:contact")
"""A bare id (``1002``) is also tried as the id in these business keys (``hubspot:quote:1002``)."""
MAX_CUSTOMERS = 10
MAX_KEYS = 200
TRACE_HINT = ("a correlation id · a business key (hubspot:quote:123, hubspot:company:9001, "
              "xero:invoice:<InvoiceID>) · "
              "a HubSpot quote or company id · a Xero InvoiceID, QuoteID or ContactID (cross-references) · "
              "a company name or customer id. Not searchable yet: Xero invoice and quote numbers (INV-0042).")
"""What the trace finder searches, for its prompt."""


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _prefix(column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix``, as a range an index serves (LIKE 'x%' may not)."""
    return and_(column >= prefix, column < prefix + "\U0010ffff")


def parse_audit_query(text: str) -> tuple[dict[str, str], str]:
    """``actor:bob action:approve some words`` -> ({"actor": "bob", "action": "approve"}, "some words")."""
    tokens: dict[str, str] = {}
    words: list[str] = []
    for word in text.split():
        name, sep, value = word.partition(":")
        if sep and name.lower() in AUDIT_FIELDS and value:
            tokens[name.lower()] = value
        else:
            words.append(word)
    return tokens, " ".join(words)


def _key_conds(workflows: list[str], key: str) -> list[Any]:
    """A run's business key is ``key`` or continues it after a colon (``hubspot:company:9001`` finds
    ``hubspot:company:9001:<occurredAt>``): two terms of an OR, each served by the (workflow,
    business_key) index (an equality, a range)."""
    return [and_(runs.c.workflow.in_(workflows), runs.c.business_key == key),
            and_(runs.c.workflow.in_(workflows), runs.c.business_key >= key + ":", runs.c.business_key < key + ";")]


class AuditServices:
    settings: Any
    clock: Any
    _read: Any

    def _q(self, fn):  # provided by Services
        raise NotImplementedError

    # --- the audit log -------------------------------------------------------------------------
    def audit_entries(self, *, offset: int = 0, limit: int = 50, text: str = "") -> Page[AuditRow]:
        """One page of the audit log, newest first, narrowed by ``text`` (see :func:`parse_audit_query`)."""
        from opsconsole.services import _like

        tokens, free = parse_audit_query(text)
        cond = []
        if "actor" in tokens:
            cond.append(audit.c.actor == tokens["actor"])
        if "action" in tokens:
            cond.append(_prefix(audit.c.action, tokens["action"]))
        if "subject" in tokens:
            cond.append(_prefix(audit.c.subject, tokens["subject"]))

        def q(c):
            where = list(cond)
            if free:
                newest = c.scalar(select(func.max(audit.c.id))) or 0
                like = _like(free)
                where += [audit.c.id > newest - FREE_TEXT_WINDOW,
                          or_(*(col.like(like, escape="\\") for col in (
                              audit.c.actor, audit.c.action, audit.c.subject, cast(audit.c.detail, String))))]
            total = c.scalar(select(func.count()).select_from(audit).where(*where))
            rows = c.execute(select(audit.c.id, audit.c.at, audit.c.actor, audit.c.action, audit.c.subject,
                                    audit.c.detail).where(*where).order_by(audit.c.id.desc())
                             .offset(offset).limit(limit)).mappings().all()
            return Page([AuditRow(r["id"], _dt(r["at"]), r["actor"], r["action"], r["subject"], r["detail"])
                         for r in rows], total or 0, offset, limit)
        return self._q(q)

    def chain_status(self, should_stop: Callable[[], bool] | None = None) -> ChainStatus:
        """Verify the whole audit chain (O(N): call it from a thread worker) with the key the
        settings name, the same check as ``opsconsole audit verify``."""
        from opsconsole.engine.audit import AuditKeyUnavailable, verify_audit

        try:
            v = verify_audit(self.settings, self._read, should_stop=should_stop)
        except AuditKeyUnavailable as exc:
            return ChainStatus(False, False, 0, str(exc))
        return ChainStatus(True, v.ok, v.entries, v.message, v.broken_at, v.head, v.seconds)

    # --- finding a trace -----------------------------------------------------------------------
    def find_traces(self, query: str, *, limit: int = 50) -> TraceSearch:
        """The runs of the business transaction ``query`` names, newest first.

        Tried in turn (each an indexed equality or prefix range): a correlation id; a business key
        (or its start up to a colon); a bare id as the id of a HubSpot / Xero / Intercom business key;
        a vendor id in the cross-references (a Xero InvoiceID finds the quote's run and the invoice's);
        a customer id or company name (its records' runs, its orders and invoices).
        """
        from canonical.identity import normalise_name
        from opsconsole.engine.workflows import WORKFLOWS
        from opsconsole.services import _RETRIES, _run_row

        text = query.strip()
        workflows = sorted(WORKFLOWS)
        found: dict[int, tuple[Any, str]] = {}
        truncated = False

        def take(c, cond: Any, via: str) -> None:
            nonlocal truncated
            rows = c.execute(select(runs, _RETRIES).where(cond).order_by(runs.c.id.desc())
                             .limit(limit + 1)).mappings().all()
            if len(rows) > limit:
                truncated = True
            for r in rows[:limit]:
                found.setdefault(r["id"], (r, via))

        def by_keys(c, keys: list[str], via: str) -> None:
            keys = list(dict.fromkeys(k for k in keys if k))[:MAX_KEYS]
            if keys:
                take(c, or_(*(cond for k in keys for cond in _key_conds(workflows, k))), via)

        def customer_runs(c, canonical_id: str, name: str) -> None:
            refs = c.execute(select(xrefs.c.system, xrefs.c.object_type, xrefs.c.external_id)
                             .where(xrefs.c.canonical_id == canonical_id).limit(MAX_KEYS)).all()
            orders = c.scalars(select(onboardings.c.order_key).where(onboardings.c.customer_id == canonical_id)
                               .limit(MAX_KEYS)).all()
            invoices = c.scalars(select(payment_positions.c.invoice_id)
                                 .where(payment_positions.c.customer_id == canonical_id).limit(MAX_KEYS)).all()
            by_keys(c, [f"{s}:{o}:{e}" for s, o, e in refs] + list(orders) + [f"xero:invoice:{i}" for i in invoices],
                    f"customer {name or canonical_id}")

        def q(c):
            if not text:
                return
            take(c, runs.c.correlation_id == text, "correlation id")
            by_keys(c, [text], "business key")
            if ":" not in text:
                for prefix in BARE_ID_KEYS:
                    by_keys(c, [f"{prefix}:{text}"], prefix.replace(":", " ") + f" {text}")
            refs = c.execute(select(xrefs.c.system, xrefs.c.object_type, xrefs.c.canonical_id).where(or_(*(
                and_(xrefs.c.system == s, xrefs.c.object_type == o, xrefs.c.external_id == text)
                for s, o in XREF_KINDS)))).all()
            for system, object_type, canonical_id in refs:
                via = f"{system} {object_type} {text}"
                kind, _, key = canonical_id.partition(":")
                if key and ":" in key:  # "invoice:hubspot:quote:1002": the run that made it
                    by_keys(c, [key, f"{system}:{object_type}:{text}"], via)
                else:  # a customer's record
                    by_keys(c, [f"{system}:{object_type}:{text}"], via)
                    name = c.scalar(select(customers.c.legal_name).where(customers.c.canonical_id == canonical_id))
                    customer_runs(c, canonical_id, name or "")
            matched = c.execute(select(customers.c.canonical_id, customers.c.legal_name)
                                .where(customers.c.canonical_id == text)).all()
            name = normalise_name(text)
            if name and not matched:
                matched = c.execute(select(customers.c.canonical_id, customers.c.legal_name)
                                    .where(_prefix(customers.c.match_name, name))
                                    .order_by(customers.c.match_name).limit(MAX_CUSTOMERS)).all()
            for canonical_id, legal_name in matched:
                customer_runs(c, canonical_id, legal_name)

        self._q(q)
        now = self.clock()
        ordered = sorted(found.values(), key=lambda item: item[0]["id"], reverse=True)
        if len(ordered) > limit:
            truncated = True
        matches = [TraceMatch(_run_row(r, now), via) for r, via in ordered[:limit]]
        return TraceSearch(text, matches, TRACE_HINT, truncated)
