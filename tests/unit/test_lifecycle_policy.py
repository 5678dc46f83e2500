"""data/lifecycle.toml (canonical/onboarding.py) and the payment history renewal readiness folds."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

import pytest

from canonical.onboarding import LifecyclePolicy, delivery_risk, next_due, progress
from canonical.receivables import payment_history

POLICY = LifecyclePolicy.load()
ORDERED = date(2026, 11, 1)


def test_the_shipped_policy():
    assert POLICY.new_invoice_status == "SUBMITTED"
    assert POLICY.order_status == ("ACCEPTED",) and POLICY.first_invoice_status == ("AUTHORISED", "PAID")
    assert POLICY.stages == ("kickoff", "implementation", "training", "live")
    assert [(m.name, m.stage, m.due_days) for m in POLICY.milestones] == [
        ("Kickoff call", "kickoff", 7), ("Implementation complete", "implementation", 30),
        ("Users trained", "training", 45)]
    assert POLICY.ticket("Acme Ltd", "QU-0007") == "Implementation: Acme Ltd (order QU-0007)"


@pytest.mark.parametrize("order, invoice, approved", [
    ("ACCEPTED", "AUTHORISED", True), ("ACCEPTED", "PAID", True), ("accepted", "authorised", True),
    ("ACCEPTED", "SUBMITTED", False), ("ACCEPTED", "DRAFT", False), ("SENT", "AUTHORISED", False),
    ("ACCEPTED", "VOIDED", False),
])
def test_financial_approval(order, invoice, approved):
    assert POLICY.approved(order, invoice) is approved


def test_the_plan_is_due_from_the_order_date():
    plan = POLICY.plan(ORDERED)
    assert [(m["name"], m["due_on"], m["done_on"]) for m in plan] == [
        ("Kickoff call", "2026-11-08", None), ("Implementation complete", "2026-12-01", None),
        ("Users trained", "2026-12-16", None)]
    assert next_due(plan) == "2026-11-08"


def test_progress_marks_the_milestones_whose_stage_was_passed():
    plan = POLICY.plan(ORDERED)
    day = date(2026, 11, 20)
    assert progress(POLICY, plan, "kickoff", day) == plan  # still in kickoff: nothing done
    moved = progress(POLICY, plan, "training", day)
    assert [m["done_on"] for m in moved] == ["2026-11-20", "2026-11-20", None]
    assert progress(POLICY, moved, "training", date(2026, 12, 1)) == moved  # done stays done, with its day
    assert [m["done_on"] for m in progress(POLICY, plan, "live", day)] == ["2026-11-20"] * 3
    assert progress(POLICY, plan, "no such stage", day) == plan
    assert next_due(progress(POLICY, plan, "live", day)) is None


def test_delivery_risk_names_the_latest_milestone_late():
    plan = POLICY.plan(ORDERED)
    assert delivery_risk(POLICY, plan, date(2026, 11, 8)) == ("none", "")  # due today is not late
    assert delivery_risk(POLICY, plan, date(2026, 11, 9)) == ("at_risk", "Kickoff call was due 2026-11-08, 1 day late")
    assert delivery_risk(POLICY, plan, date(2026, 12, 5)) == (
        "at_risk", "Kickoff call was due 2026-11-08, 27 days late (+1 more)")
    done = progress(POLICY, plan, "implementation", date(2026, 11, 9))
    assert delivery_risk(POLICY, done, date(2026, 11, 20)) == ("none", "")


@pytest.mark.parametrize("change, message", [
    ({"billing": {"new_invoice_status": "PAID"}}, "billing.new_invoice_status is 'PAID', not one of DRAFT"),
    ({"onboarding": {"stages": ["a", "a"]}}, "onboarding.stages names a stage twice"),
    ({"onboarding": {"milestone": [{"name": "x", "stage": "nope", "due_days": 1}]}},
     "onboarding.milestone[0].stage is 'nope', not one of kickoff"),
    ({"onboarding": {"milestone": [{"name": "x", "stage": "kickoff", "due_days": "soon"}]}},
     "onboarding.milestone[0].due_days must be a whole number of days"),
    ({"onboarding": {"milestone": [{"name": "", "stage": "kickoff", "due_days": 3}]}},
     "onboarding.milestone[0] needs a name and due_days >= 0"),
    ({"onboarding": {"ticket_title": "for {customer}"}},
     "onboarding.ticket_title may use {legal_name} and {order_number}, not 'customer'"),
])
def test_a_wrong_policy_names_the_key(change, message):
    with pytest.raises(ValueError) as err:
        LifecyclePolicy.from_dict(change)
    assert message in str(err.value)


def _inv(status, due, *, date_="2026-09-01", due_amount="0", paid_on=None, currency="USD"):
    return {"InvoiceID": f"i-{status}-{due}", "Status": status, "DueDateString": f"{due}T00:00:00",
            "DateString": f"{date_}T00:00:00", "AmountDue": due_amount, "CurrencyCode": currency,
            "FullyPaidOnDate": f"/Date({calendar.timegm(date.fromisoformat(paid_on).timetuple()) * 1000}+0000)/"
            if paid_on else None}


def test_payment_history_folds_overdue_and_late_payments():
    today = date(2026, 11, 30)
    history = payment_history([
        _inv("AUTHORISED", "2026-10-01", due_amount="1200.50"),  # 60 days overdue
        _inv("AUTHORISED", "2026-11-20", due_amount="99.50"),  # 10 days overdue
        _inv("AUTHORISED", "2026-12-20", due_amount="500"),  # not due yet
        _inv("PAID", "2026-09-30", paid_on="2026-10-12"),  # paid 12 days late
        _inv("PAID", "2026-09-30", paid_on="2026-09-25"),  # paid early
        _inv("AUTHORISED", "2026-10-01", due_amount="70", currency="EUR"),  # another currency, fewer invoices
        _inv("AUTHORISED", "2025-01-01", date_="2024-12-01", due_amount="5000"),  # outside the window
    ], today)
    assert history.overdue is not None
    assert (history.overdue.amount, history.overdue.currency) == (Decimal("1300.00"), "USD")
    assert (history.max_days_late, history.late_payments) == (60, 4)
    assert payment_history([], today) == type(history)(None, 0, 0)
