"""Provisioning after an order the ERP confirmed: the entitlement record and the onboarding trigger.

The entitlement is recorded ``pending`` when the ERP accepts the order and becomes ``active`` when
the onboarding starts, after financial approval (engine/lifecycle.py, workflows/onboarding.py).

The entitlement is recorded in the golden record (``golden_fields``, entity ``entitlement``, one
record per order keyed by the run's business key), not a table of its own: it needs the same
per-field provenance (which system confirmed it, from which event, when) and no migration. It is
written in the commit of the step in which the ERP confirmed the order (``accept_sales_order``),
and only when absent, so a retry or a replay of that step never records it twice.

Onboarding in customer success starts with an Intercom data event (``order-provisioned``) sent by
the run's last step, for a contact of the customer that is already in Intercom.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, select

from canonical.models import Entitlement, Quote
from opsconsole.store import prepared as P
from opsconsole.store.tables import golden_fields

ENTITY = "entitlement"
EVENT_NAME = "order-provisioned"
# hot path (one per run, in the writer): compiled once, run on the DBAPI cursor (store/prepared.py)
_EXISTS = select(golden_fields.c.field).where(golden_fields.c.entity == ENTITY,
                                              golden_fields.c.canonical_id == bindparam("cid")).limit(1)


def entitlement_key(business_key: str) -> str:
    return f"order:{business_key}"[:64]


def entitlements_for(quote: Quote, order_id: str, starts_on: date) -> list[Entitlement]:
    """One entitlement per quoted product (line with a SKU, else its description)."""
    return [Entitlement(entitlement_id=f"{order_id}:{line.line_id}", customer_id=quote.customer.customer_id,
                        order_id=order_id, sku=line.sku or line.description, quantity=max(int(line.quantity), 0),
                        status="pending", starts_on=starts_on)
            for line in quote.lines]


def record_entitlement(conn: Connection, business_key: str, quote: Quote, order: dict, starts_on: date,
                       event_id: str) -> bool:
    """Record the order's entitlement unless it is recorded already. Returns whether it was written."""
    cid = entitlement_key(business_key)
    if P.scalar(conn, "entitlement_exists", _EXISTS, {"cid": cid}) is not None:
        return False
    order_id = str(order.get("QuoteID") or "")
    values: dict[str, Any] = {
        "customer_id": quote.customer.customer_id, "order_id": order_id,
        "order_number": str(order.get("QuoteNumber") or ""), "quote_id": quote.quote_id,
        "lines": [e.model_dump(mode="json") for e in entitlements_for(quote, order_id, starts_on)],
        "status": "pending",  # active once finance approved (workflows/onboarding.py)
    }
    now = time.time()
    P.insert_many(conn, golden_fields, [
        {"entity": ENTITY, "canonical_id": cid, "field": name, "value": value, "system": "xero",
         "event_id": event_id, "set_at": now} for name, value in values.items()])
    return True


def load_entitlement(conn: Connection, business_key: str) -> dict | None:
    rows = conn.execute(select(golden_fields.c.field, golden_fields.c.value).where(
        golden_fields.c.entity == ENTITY, golden_fields.c.canonical_id == entitlement_key(business_key))).all()
    return {r.field: r.value for r in rows} or None


def intercom_contact(conn: Connection, customer_id: str) -> str | None:
    """The Intercom id of a contact of the customer (the first one cross-referenced), or None when
    none of its contacts is in Intercom."""
    from opsconsole.engine.records import intercom_contacts

    found = intercom_contacts(conn, customer_id, limit=1)
    return found[0] if found else None
