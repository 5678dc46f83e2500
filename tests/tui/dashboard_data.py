"""Rows for the dashboard, added to the fixed seed (tests/tui/conftest.py), and what it must show.

The clock is FIXED_NOW (2026-01-01 00:00 UTC); "minute m" is the m-th minute before now (0: the
last one). The fixed seed already has, in the last hour: run 4 (quote_to_order, failed, updated 90 s
ago: minute 1), run 6 (quote_to_order, failed, 45 s ago: minute 0), run 5 (quote_to_order, waiting)
and run 3 (company_to_contact, running): neither finished; run 2 (failed) was updated exactly an
hour ago, outside the window. Its open exceptions are all young: 13 validation (30 s), 12 rate_limit
(2 min), 14 downstream_5xx (1 min, acknowledged), 11 rejected_by_target (7000 s of a 4 h SLA: 49%).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import create_engine, insert

from opsconsole.store import tables as t

from .conftest import FIXED_NOW, _exc, _run

AS_OF = date(2026, 1, 1)


def _finished(id, workflow, status, ago):
    run = _run(id, workflow, f"K-{id}", status, "", created=ago + 30)
    run["updated_at"] = FIXED_NOW - ago
    if status == "succeeded":
        run["finished_at"] = FIXED_NOW - ago
    return run


DASHBOARD_RUNS = [
    # quote_to_order: 5 succeeded (minutes 0, 1, 1, 10, 58), 1 more failed (minute 2) + runs 4 and 6
    _finished(201, "quote_to_order", "succeeded", 30),
    _finished(202, "quote_to_order", "succeeded", 70),
    _finished(203, "quote_to_order", "succeeded", 75),
    _finished(204, "quote_to_order", "succeeded", 610),
    _finished(205, "quote_to_order", "succeeded", 3500),
    _finished(206, "quote_to_order", "failed", 130),
    # invoice_to_crm: 3 succeeded (minutes 3, 4, 31), 1 failed (minute 59)
    _finished(211, "invoice_to_crm", "succeeded", 200),
    _finished(212, "invoice_to_crm", "succeeded", 260),
    _finished(213, "invoice_to_crm", "succeeded", 1900),
    _finished(214, "invoice_to_crm", "failed", 3599),
    # older than the hour: never counted
    _finished(221, "quote_to_order", "succeeded", 3601),
    _finished(222, "quote_to_order", "failed", 7200),
    _finished(223, "invoice_to_crm", "failed", 3600),  # exactly an hour ago: outside
    _finished(224, "renewal_readiness", "succeeded", 86400),  # a workflow with no run in the hour: not listed
]


def _step(run_id, seq, attempts, finished_ago, status="succeeded"):
    return dict(run_id=run_id, seq=seq, name=f"step{seq}", target_system="xero", operation="PUT /Invoices",
                idempotency_key=f"K-{run_id}:step{seq}", status=status, attempts=attempts, request=None,
                response=None, error="", error_category="", started_at=FIXED_NOW - (finished_ago or 0) - 1,
                finished_at=None if finished_ago is None else FIXED_NOW - finished_ago)


DASHBOARD_STEPS = [
    _step(202, 1, 3, 70),  # 2 retries
    _step(202, 2, 1, 70),  # none
    _step(214, 1, 6, 3599, "failed"),  # 5 retries
    _step(201, 1, 4, 4000),  # finished before the hour: not counted
    _step(222, 1, 2, 7200, "failed"),  # old
    _step(205, 1, 2, None, "waiting"),  # not finished: not counted
]

VALIDATION_SLA, RATE_LIMIT_SLA = 4 * 3600, 3600

DASHBOARD_EXCEPTIONS = [
    # validation (4 h): within < 2 h, nearing 2-4 h, breached > 4 h
    _exc(41, 201, "validation", "hubspot", "open", "amount is not a decimal", created=1000),  # within
    _exc(42, 202, "validation", "hubspot", "acknowledged", "missing tax number", created=9000, owner="bob"),  # nearing
    _exc(43, 203, "validation", "hubspot", "open", "currency 'XXX' unknown", created=20000),  # breached
    _exc(44, 204, "validation", "hubspot", "resolved", "fixed", created=30000),  # not open: not counted
    _exc(45, 205, "validation", "hubspot", "closed", "replayed", created=50000),  # not open: not counted
    # rate_limit (1 h): within < 30 min, nearing 30-60 min, breached > 1 h
    _exc(46, 206, "rate_limit", "xero", "open", "429", created=2000),  # nearing
    _exc(47, 211, "rate_limit", "xero", "open", "429", created=3500),  # nearing
    _exc(48, 212, "rate_limit", "xero", "open", "429", created=4000),  # breached
    _exc(49, 213, "rate_limit", "xero", "acknowledged", "429", created=7200, owner="alice"),  # breached
]

EXPECTED_THROUGHPUT = {
    # workflow: (succeeded, failed, failure rate shown, retries, {minute: runs finished})
    "company_to_contact": (0, 0, "—", 0, {}),
    "invoice_to_crm": (3, 1, "25%", 5, {3: 1, 4: 1, 31: 1, 59: 1}),
    "quote_to_order": (5, 3, "38%", 2, {0: 2, 1: 3, 2: 1, 10: 1, 58: 1}),
}
EXPECTED_AGES = {  # category: (SLA shown, within, nearing, breached)
    "validation": ("4h", 2, 1, 1),
    "rate_limit": ("1h", 1, 2, 2),
    "downstream_5xx": ("1h", 1, 0, 0),
    "rejected_by_target": ("4h", 1, 0, 0),
}
OPEN_EXCEPTIONS = 4 + 7


def ago(days: int) -> str:
    return (AS_OF - timedelta(days=days)).isoformat()


# (invoice_id, status, amount_due, currency, days past due)
INVOICES = [
    ("inv-a", "unpaid", "100.10", "EUR", 1),
    ("inv-b", "partially_paid", "50.05", "EUR", 30),
    ("inv-c", "overdue", "200", "GBP", 31),
    ("inv-d", "unpaid", "0.1", "EUR", 90),
    ("inv-e", "overdue", "0.2", "EUR", 91),
    ("inv-f", "overdue", "1000", "USD", 400),
    ("inv-today", "unpaid", "999", "EUR", 0),  # due today: not overdue
    ("inv-paid", "paid", "0", "EUR", 40),
]
ORDERS = [  # (order_key, state, next_due_on, ordered_on)
    ("o-wait-1", "awaiting_approval", ago(-7), ago(7)),
    ("o-wait-2", "awaiting_approval", None, ago(2)),
    ("o-late", "started", ago(5), ago(40)),
    ("o-due-today", "started", ago(0), ago(30)),  # due today: not delayed
    ("o-live", "live", ago(50), ago(90)),
]
RENEWALS = [("cus-blocked-1", "blocked_by_payment", ago(-45)), ("cus-blocked-2", "blocked_by_payment", ago(-5)),
            ("cus-ready", "ready", ago(-90))]
EXPECTED_MILESTONES = {
    "orders_awaiting_billing_approval": 2,
    "invoices_overdue": {"1-30": 2, "31-60": 1, "61-90": 1, "90+": 2},
    "overdue_amounts": {"EUR": "150.45", "GBP": "200.00", "USD": "1000.00"},
    "onboardings_delayed": 1,
    "renewals_blocked_by_payment": 2,
}


def seed_dashboard(url: str) -> None:
    """Add the dashboard's rows to a store already seeded by ``conftest.seed``."""
    engine = create_engine(url)
    plan = [{"name": "Kickoff call", "stage": "kickoff", "due_on": ago(5), "done_on": None}]
    with engine.begin() as conn:
        conn.execute(insert(t.runs), [{"finished_at": None, **run} for run in DASHBOARD_RUNS])
        conn.execute(insert(t.steps), DASHBOARD_STEPS)
        conn.execute(insert(t.exceptions), DASHBOARD_EXCEPTIONS)
        conn.execute(insert(t.payment_positions), [
            {"invoice_id": i, "customer_id": f"cus-{i}", "invoice_number": f"INV-{i}", "invoice_status": "",
             "status": status, "amount_due": amount, "currency": cur, "due_on": ago(days), "days_overdue": 0,
             "aging_bucket": "current", "financial_risk": "none", "invoice_updated": 0, "updated_at": FIXED_NOW}
            for i, status, amount, cur, days in INVOICES])
        conn.execute(insert(t.onboardings), [
            {"order_key": key, "customer_id": f"cus-{key}", "order_number": f"SO-{key}", "legal_name": f"{key} Ltd",
             "state": state, "plan": plan, "next_due_on": due, "ordered_on": ordered, "updated_at": FIXED_NOW}
            for key, state, due, ordered in ORDERS])
        conn.execute(insert(t.renewals), [
            {"customer_id": cid, "legal_name": f"{cid} Ltd", "readiness": r, "score": 20, "reason": r,
             "renewal_on": on, "evaluated_at": FIXED_NOW} for cid, r, on in RENEWALS])
    engine.dispose()
