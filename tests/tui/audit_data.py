"""The audit pane's and the trace finder's fixed rows: a hash-chained audit log written with the
services' own key (fixed times), and the cross-references, customers, orders and invoices the
trace finder looks runs up through."""

from __future__ import annotations

from sqlalchemy import create_engine, insert, update

from opsconsole.store import tables as t

from .conftest import ACME, FIXED_NOW, GLOBEX

# (actor, action, subject, detail); entry ids are 1.. in this order, one minute apart, the last one at FIXED_NOW
AUDIT = [
    ("alice", "retry.requested", "exception:11", {"command": 1}),
    ("engine", "retry.done", "exception:11", {"command": 1, "result": "failed again"}),
    ("bob", "replay.requested", "run:2", {"command": 2, "from_step": "create_invoice", "mapping": "current"}),
    ("engine", "replay.done", "run:2", {"command": 2}),
    ("bob", "resolve_conflict.requested", "conflict:22", {"command": 3, "resolution": "keep", "note": ""}),
    ("engine", "conflict.resolved", "conflict:22", {"resolution": "keep"}),
    ("bob", "correction.requested", "correction:31", {"field": "payment_terms", "after": "NET60"}),
    ("carol", "approve.requested", "correction:31", {"command": 4}),
    ("engine", "correction.approve", "correction:31", {"approver": "carol"}),
    ("alice", "reject.requested", "correction:32", {"command": 5, "reason": "not signed yet"}),
    ("engine", "correction.reject", "correction:32", {"by": "alice"}),
    ("alice", "retry.requested", "exception:12", {"command": 6}),
]
AUDIT_IDS = list(range(len(AUDIT), 0, -1))
"""Newest first, as the pane lists them."""


def seed_audit(services, entries=AUDIT, *, extra: int = 0) -> None:
    """Append ``entries`` (then ``extra`` filler entries) to the chain with the services' key."""
    log = services.audit
    rows = list(entries) + [("dave", "note.added", f"run:{1000 + i}", {"n": i}) for i in range(extra)]
    with services._write.begin() as conn:
        for i, (actor, action, subject, detail) in enumerate(rows):
            log.append(conn, actor, action, subject, detail, at=FIXED_NOW - 60 * (len(rows) - 1 - i))
    log.flush_head()


def tamper(services, entry_id: int, **values) -> None:
    """Edit an entry in the store, as someone with write access to the database could."""
    engine = create_engine(services.settings.store_url)
    with engine.begin() as conn:
        conn.execute(update(t.audit).where(t.audit.c.id == entry_id).values(**values))
    engine.dispose()


INVOICE_ID = "9f1e2d3c-0000-4000-8000-00000000abcd"
XERO_CONTACT = "c-1"


def seed_trace_data(services) -> None:
    """Runs with HubSpot/Xero business keys, their cross-references and customers.

    run 40: quote_to_order hubspot:quote:777 (Acme), whose invoice is INVOICE_ID (xref invoice:…);
    run 41: invoice_feedback xero:invoice:INVOICE_ID:<time>; run 42: company_to_contact
    hubspot:company:9001:<time> (Acme's HubSpot company); run 43: company_to_contact for Globex.
    """
    from .conftest import _run

    engine = create_engine(services.settings.store_url)
    with engine.begin() as conn:
        conn.execute(insert(t.runs), [
            _run(40, "quote_to_order", "hubspot:quote:777", "succeeded", "", created=5000),
            _run(41, "invoice_feedback", f"xero:invoice:{INVOICE_ID}:2026-01-01T00:00:00", "succeeded", "",
                 created=4000),
            _run(42, "company_to_contact", "hubspot:company:9001:1767220000000", "succeeded", "", created=3000),
            _run(43, "company_to_contact", "hubspot:company:9002:1767220000000", "failed", "upsert_contact",
                 created=2000, error="Xero 503"),
        ])
        conn.execute(insert(t.customers), [
            dict(canonical_id=ACME, legal_name="Acme Ltd", match_name="acme", tax_number="GB123",
                 domain="acme.example", created_at=FIXED_NOW - 9000),
            dict(canonical_id=GLOBEX, legal_name="Globex Corporation", match_name="globex", tax_number="",
                 domain="globex.example", created_at=FIXED_NOW - 9000),
        ])
        conn.execute(insert(t.xrefs), [
            dict(system="hubspot", object_type="company", external_id="9001", canonical_id=ACME,
                 created_at=FIXED_NOW - 9000),
            dict(system="xero", object_type="contact", external_id=XERO_CONTACT, canonical_id=ACME,
                 created_at=FIXED_NOW - 9000),
            dict(system="hubspot", object_type="company", external_id="9002", canonical_id=GLOBEX,
                 created_at=FIXED_NOW - 9000),
            dict(system="xero", object_type="invoice", external_id=INVOICE_ID,
                 canonical_id="invoice:hubspot:quote:777", created_at=FIXED_NOW - 5000),
        ])
        conn.execute(insert(t.onboardings), [
            dict(order_key="hubspot:quote:777", customer_id=ACME, order_number="QU-0042", legal_name="Acme Ltd",
                 state="started", plan=[], updated_at=FIXED_NOW - 5000),
        ])
    engine.dispose()
