"""The customer lifecycle's records: payment positions, onboardings, financial approval.

Written inside the commits of the steps whose targets confirmed what they record (DESIGN: a step is
done only once its target confirmed it), read by the milestone queries (opsconsole/milestones.py)
and the scheduled lifecycle jobs (engine/lifecycle_jobs.py):

- ``payment_positions``: one row per ERP invoice, its canonical payment status as last read from
  the ERP (a row is replaced only by a read of a newer version of the invoice);
- ``onboardings``: one row per order the ERP accepted: ``awaiting_approval`` until the policy's
  financial approval (data/lifecycle.toml), then ``started`` (an ``onboarding`` run opened), then
  ``live`` once customer success reached the last stage.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from canonical.models import PaymentStatus
from canonical.onboarding import LifecyclePolicy, next_due
from opsconsole.engine import records
from opsconsole.engine.rulebook import Rulebook
from opsconsole.store import prepared as P
from opsconsole.store.tables import golden_fields, onboardings, payment_positions, runs

ONBOARDING = "onboarding"

# run in the commits of quote_to_order's steps: prebuilt for the prepared path
_APPROVE = update(onboardings).where(onboardings.c.order_key == bindparam("order_key"),
                                     onboardings.c.state == "awaiting_approval").values(
    state="approved", updated_at=bindparam("now"))
_POSITION_UPDATED = select(payment_positions.c.invoice_updated).where(
    payment_positions.c.invoice_id == bindparam("invoice_id"))
_START_ON_ORDER = False
POLICY = Rulebook(LifecyclePolicy.load)
policy = POLICY.get
use_policy = POLICY.use
"""``use_policy(p)``: an organisation's own lifecycle policy (None: the shipped data/lifecycle.toml)."""


def start_on_order(yes: bool) -> None:
    """The onboarding workflow's trigger (settings ``[workflows.onboarding]``): ``webhook`` starts
    onboarding as soon as the ERP accepted the order; ``confirmed`` (the default) waits for the
    financial approval the policy names."""
    global _START_ON_ORDER
    _START_ON_ORDER = yes


def record_order(conn: Connection, order_key: str, customer_id: str, order_number: str, legal_name: str,
                 ordered_on: date) -> bool:
    """The ERP accepted the order: its onboarding now awaits financial approval. Once per order."""
    plan = policy().plan(ordered_on)
    inserted = P.insert_ignore(conn, onboardings, ("order_key",), {
        "order_key": order_key, "customer_id": customer_id, "order_number": order_number,
        "legal_name": legal_name, "state": "awaiting_approval", "stage": "not_started", "plan": plan,
        "next_due_on": next_due(plan), "delivery_risk": "none", "delivery_risk_reason": "",
        "ordered_on": ordered_on.isoformat(), "started_at": None, "updated_at": time.time()})
    return inserted is not None


def approve_order(conn: Connection, order_key: str, order_status: str, invoice_status: str) -> int | None:
    """Start the order's onboarding if the ERP's statuses are the policy's financial approval (or the
    trigger is ``webhook``) and it has not started: opens the ``onboarding`` run (its id) in this
    commit, so it starts exactly once however many events report the approval."""
    if not (_START_ON_ORDER and order_status.upper() in policy().order_status) \
            and not policy().approved(order_status, invoice_status):
        return None
    if not P.execute(conn, "approve_order", _APPROVE, {"order_key": order_key, "now": time.time()}):
        return None
    return records.open_run(conn, ONBOARDING, f"{ONBOARDING}:{order_key}", {"order_key": order_key})


def load_onboarding(conn: Connection, order_key: str) -> dict | None:
    row = conn.execute(select(onboardings).where(onboardings.c.order_key == order_key)).mappings().first()
    return dict(row) if row else None


def mark_started(conn: Connection, order_key: str, stage: str) -> None:
    conn.execute(update(onboardings).where(onboardings.c.order_key == order_key)
                 .values(state="started", stage=stage, started_at=time.time(), updated_at=time.time()))


def activate_entitlement(conn: Connection, order_key: str, event_id: str) -> bool:
    """The order's entitlement (engine/provisioning.py) becomes active. Returns whether it changed."""
    from opsconsole.engine.provisioning import ENTITY, entitlement_key

    return bool(conn.execute(update(golden_fields).where(
        golden_fields.c.entity == ENTITY, golden_fields.c.canonical_id == entitlement_key(order_key),
        golden_fields.c.field == "status").values(value="active", system="engine", event_id=event_id,
                                                  set_at=time.time())).rowcount)


def record_position(conn: Connection, status: PaymentStatus, invoice: dict, risk: str, updated_ms: int) -> bool:
    """The invoice's payment position as the ERP holds it; an older read never replaces a newer one.
    Returns whether the row was written."""
    current = P.scalar(conn, "position_updated", _POSITION_UPDATED, {"invoice_id": status.invoice_id})
    if current is not None and current > updated_ms:
        return False
    due = invoice.get("DueDateString") or invoice.get("DueDate")
    from canonical.receivables import xero_date

    due_on = xero_date(due)
    values: dict[str, Any] = {
        "invoice_id": status.invoice_id, "customer_id": status.customer_id,
        "invoice_number": str(invoice.get("InvoiceNumber") or ""),
        "invoice_status": str(invoice.get("Status") or "").upper(), "status": status.status,
        "amount_due": str(status.amount_due.amount), "currency": status.amount_due.currency,
        "due_on": due_on.isoformat() if due_on else None, "days_overdue": status.days_overdue,
        "aging_bucket": status.aging_bucket, "financial_risk": risk, "invoice_updated": updated_ms,
        "updated_at": time.time()}
    P.upsert_many(conn, payment_positions, ("invoice_id",), [values])
    return True


def order_key_of_invoice(conn: Connection, invoice_id: str) -> str | None:
    """The quote_to_order business key whose run created this invoice (its cross-reference)."""
    origin = records.xref_canonical(conn, "xero", "invoice", invoice_id)
    if origin and origin.startswith("invoice:"):
        return origin[len("invoice:"):]
    return None


def onboarding_run_exists(conn: Connection, order_key: str) -> bool:
    return conn.execute(select(runs.c.id).where(runs.c.workflow == ONBOARDING,
                                                runs.c.business_key == f"{ONBOARDING}:{order_key}").limit(1)).first() is not None


def record_invoice(conn: Connection, invoice: dict, customer_id: str, today: date) -> tuple[PaymentStatus, str] | None:
    """Map an invoice record the ERP returned to its payment position and record it. Returns the
    status and its financial-risk level, or None when the record cannot be mapped."""
    from canonical.receivables import payment_status, risk_level
    from connectors.pagination import parse_xero_date
    from opsconsole.engine.workflows.invoice_feedback import credit_hold_rules

    try:
        status = payment_status(invoice, customer_id, today)
    except ValueError:
        return None
    risk = risk_level(status, credit_hold_rules())
    at = parse_xero_date(invoice.get("UpdatedDateUTC"))
    record_position(conn, status, invoice, risk, int(at.timestamp() * 1000) if at else 0)
    return status, risk


_RISK_ORDER = {"high": 0, "watch": 1, "none": 2}


def worst_position(conn: Connection, customer_id: str) -> dict | None:
    """The customer's open invoice with the highest financial risk (then the most days overdue), as
    customer success is shown it (the attributes invoice_feedback sends), or None."""
    rows = conn.execute(select(payment_positions).where(
        payment_positions.c.customer_id == customer_id,
        payment_positions.c.status.in_(("unpaid", "partially_paid", "overdue"))).limit(500)).mappings().all()
    if not rows:
        return None
    worst = min(rows, key=lambda r: (_RISK_ORDER.get(r["financial_risk"], 3), -r["days_overdue"]))
    return {"payment_status": worst["status"], "amount_due": f"{worst['amount_due']} {worst['currency']}",
            "days_overdue": worst["days_overdue"], "aging_bucket": worst["aging_bucket"],
            "financial_risk": worst["financial_risk"]}
