"""canonical.receivables: an ERP invoice's payment position and the credit-hold rule, exact outcomes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical.models import aging_bucket
from canonical.receivables import LEVELS, CreditHoldRules, payment_status, risk_level, xero_date

TODAY = date(2026, 11, 30)
RULES = CreditHoldRules.load()


def _invoice(status="AUTHORISED", due="0", paid="0", due_on="2026-12-30T00:00:00", currency="USD") -> dict:
    return {"InvoiceID": "inv-1", "Status": status, "AmountDue": due, "AmountPaid": paid, "CurrencyCode": currency,
            "DueDateString": due_on}


def test_the_shipped_rules_load():
    assert RULES.buckets == {"current": "none", "1-30": "watch", "31-60": "watch", "61-90": "high", "90+": "high"}
    assert RULES.days_overdue == {"watch": 1, "high": 45}
    assert RULES.amount_overdue["high"]["GBP"] == Decimal("8000") and RULES.amount_overdue["high"]["*"] == Decimal("10000")


@pytest.mark.parametrize("invoice, outcome", [
    (_invoice(due="100.00"), ("unpaid", "100.00 USD", 0, "current", "none")),
    (_invoice(due="60", paid="40"), ("partially_paid", "60.00 USD", 0, "current", "none")),
    (_invoice(due="100", due_on="2026-11-20T00:00:00"), ("overdue", "100.00 USD", 10, "1-30", "watch")),
    (_invoice(due="100", due_on="2026-10-01T00:00:00"), ("overdue", "100.00 USD", 60, "31-60", "high")),
    (_invoice(due="9000", due_on="2026-11-29T00:00:00", currency="GBP"), ("overdue", "9000.00 GBP", 1, "1-30", "high")),
    (_invoice(due="7999.99", due_on="2026-11-29T00:00:00", currency="GBP"), ("overdue", "7999.99 GBP", 1, "1-30", "watch")),
    (_invoice(due="100", due_on="2026-08-01T00:00:00"), ("overdue", "100.00 USD", 121, "90+", "high")),
    (_invoice(status="PAID", due="0", paid="100", due_on="2026-08-01T00:00:00"), ("paid", "0.00 USD", 0, "current", "none")),
    (_invoice(status="VOIDED", due="100", due_on="2026-08-01T00:00:00"), ("voided", "0.00 USD", 0, "current", "none")),
    (_invoice(status="DELETED", due="100"), ("voided", "0.00 USD", 0, "current", "none")),
    (_invoice(due="100", due_on="/Date(1798588800000+0000)/"), ("unpaid", "100.00 USD", 0, "current", "none")),
    (_invoice(due="100", due_on="/Date(1764460800000+0000)/"), ("overdue", "100.00 USD", 365, "90+", "high")),
])
def test_payment_status_and_risk(invoice, outcome):
    status = payment_status(invoice, "cus_1", TODAY)
    assert (status.status, str(status.amount_due), status.days_overdue, status.aging_bucket,
            risk_level(status, RULES)) == outcome
    assert status.customer_id == "cus_1" and status.as_of == TODAY


def test_dates_and_bad_records():
    assert xero_date("/Date(1764460800000+0000)/") == date(2025, 11, 30)
    assert xero_date("2026-11-30") == date(2026, 11, 30) and xero_date("") is None and xero_date(None) is None
    with pytest.raises(ValueError):
        payment_status({"Status": "AUTHORISED"}, "c", TODAY)
    with pytest.raises(ValueError, match="not one of"):
        CreditHoldRules.from_dict({"buckets": {"current": "red"}})


@given(days=st.integers(min_value=0, max_value=2000), cents=st.integers(min_value=1, max_value=10**9))
def test_risk_never_falls_as_an_invoice_ages(days, cents):
    """Older and larger never means less risk; the bucket is the model's."""
    due_on = (TODAY - timedelta(days=days)).isoformat()
    amount = str(Decimal(cents) / 100)
    now = payment_status(_invoice(due=amount, due_on=due_on), "c", TODAY)
    later = payment_status(_invoice(due=amount, due_on=due_on), "c", TODAY + timedelta(days=30))
    assert now.days_overdue == days and now.aging_bucket == aging_bucket(days)
    assert LEVELS.index(risk_level(later, RULES)) >= LEVELS.index(risk_level(now, RULES))
    paid = payment_status(_invoice(status="PAID", due_on=due_on), "c", TODAY)
    assert risk_level(paid, RULES) == "none"
