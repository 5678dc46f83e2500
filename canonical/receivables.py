"""Receivables: an ERP invoice's payment position and the credit-hold rule (data/credit_hold.toml).

Pure functions, no I/O beyond reading the rule file:

- :func:`payment_status` turns a Xero invoice record (as the ERP returns it, re-fetched: the ERP
  has confirmed it) and a day into a :class:`~canonical.models.PaymentStatus`: ``voided`` (VOIDED or
  DELETED), ``paid`` (PAID, or nothing left due), ``overdue`` (due date passed with an amount due),
  ``partially_paid`` (something paid, not yet due), else ``unpaid``; days overdue and the aging
  bucket only for an amount still due.
- :func:`risk_level` applies :class:`CreditHoldRules` to a PaymentStatus: ``none``, ``watch`` or
  ``high`` (the highest level any rule gives; paid and voided are always ``none``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from canonical.models import PaymentStatus, aging_bucket
from canonical.money import Money, parse_amount
from canonical.rules import load_toml

RiskLevel = Literal["none", "watch", "high"]
LEVELS: tuple[RiskLevel, ...] = ("none", "watch", "high")
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def xero_date(value: Any) -> date | None:
    """A Xero date (``/Date(ms+0000)/``, ``2026-11-30T00:00:00`` or ``2026-11-30``) as a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    m = _MS_DATE.fullmatch(value.strip())
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=timezone.utc).date()
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    except ValueError:
        return None


def payment_status(invoice: dict, customer_id: str, today: date) -> PaymentStatus:
    """The payment position of a Xero invoice record on ``today``.

    Raises:
        ValueError: the record lacks an InvoiceID or a currency, or its amounts are not decimals.
    """
    invoice_id = str(invoice.get("InvoiceID") or "")
    if not invoice_id:
        raise ValueError("the invoice has no InvoiceID")
    currency = str(invoice.get("CurrencyCode") or "")
    status = str(invoice.get("Status") or "").upper()
    due_amount = parse_amount(invoice.get("AmountDue") if invoice.get("AmountDue") is not None else 0)
    paid_amount = parse_amount(invoice.get("AmountPaid") if invoice.get("AmountPaid") is not None else 0)
    due_on = xero_date(invoice.get("DueDateString")) or xero_date(invoice.get("DueDate"))
    days = 0
    if status in ("VOIDED", "DELETED"):
        kind, due_amount = "voided", Decimal(0)
    elif status in ("DRAFT", "SUBMITTED"):
        kind = "awaiting_approval"
    elif status == "PAID" or (status == "AUTHORISED" and due_amount <= 0):
        kind, due_amount = "paid", Decimal(0)
    else:
        days = max(0, (today - due_on).days) if due_on is not None else 0
        if days > 0:
            kind = "overdue"
        elif paid_amount > 0:
            kind = "partially_paid"
        else:
            kind = "unpaid"
    return PaymentStatus(invoice_id=invoice_id, customer_id=customer_id, status=kind,
                         amount_due=Money(amount=due_amount, currency=currency).quantize(),
                         days_overdue=days, aging_bucket=aging_bucket(days), as_of=today)


@dataclass(frozen=True)
class CreditHoldRules:
    """data/credit_hold.toml: risk by aging bucket, by days overdue, by amount overdue per currency."""

    buckets: dict[str, RiskLevel]
    days_overdue: dict[RiskLevel, int] = field(default_factory=dict)
    amount_overdue: dict[RiskLevel, dict[str, Decimal]] = field(default_factory=dict)
    version: int = 1

    @classmethod
    def from_dict(cls, data: dict) -> "CreditHoldRules":
        def level(value: Any, where: str) -> RiskLevel:
            if value not in LEVELS:
                raise ValueError(f"credit_hold: {where} is {value!r}, not one of {', '.join(LEVELS)}")
            return value

        buckets = {str(b): level(v, f"buckets.{b}") for b, v in (data.get("buckets") or {}).items()}
        days = {level(k, f"days_overdue.{k}"): int(v) for k, v in (data.get("days_overdue") or {}).items()}
        amounts = {level(k, f"amount_overdue.{k}"): {str(c).upper() if c != "*" else "*": parse_amount(a)
                                                     for c, a in (v or {}).items()}
                   for k, v in (data.get("amount_overdue") or {}).items()}
        return cls(buckets=buckets, days_overdue=days, amount_overdue=amounts, version=int(data.get("version", 1)))

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "CreditHoldRules":
        return cls.from_dict(load_toml("credit_hold.toml", data_dir))


def risk_level(status: PaymentStatus, rules: CreditHoldRules) -> RiskLevel:
    """The financial-risk level a payment position raises under the credit-hold rules."""
    if status.status in ("paid", "voided", "awaiting_approval"):
        return "none"
    found = [rules.buckets.get(status.aging_bucket, "none")]
    for lvl, days in rules.days_overdue.items():
        if status.days_overdue > 0 and status.days_overdue >= days:
            found.append(lvl)
    if status.status == "overdue":
        for lvl, by_currency in rules.amount_overdue.items():
            threshold = by_currency.get(status.amount_due.currency, by_currency.get("*"))
            if threshold is not None and status.amount_due.amount >= threshold:
                found.append(lvl)
    return max(found, key=LEVELS.index)


@dataclass(frozen=True)
class PaymentHistory:
    """A customer's payment record over a window, from its Xero invoices (renewal readiness)."""

    overdue: Money | None  # what is still due on its overdue invoices (the main currency), None = nothing
    max_days_late: int  # the most days an invoice is overdue now, or was paid after its due date
    late_payments: int  # invoices paid late or overdue now


def payment_history(invoices: list[dict], today: date, window_days: int = 365) -> PaymentHistory:
    """Fold a customer's AUTHORISED and PAID Xero invoices dated within ``window_days`` of ``today``.
    Amounts overdue in several currencies are summed in the one with the most overdue invoices."""
    overdue: dict[str, Decimal] = {}
    count: dict[str, int] = {}
    worst = late = 0
    for inv in invoices:
        status = str(inv.get("Status") or "").upper()
        due_on = xero_date(inv.get("DueDateString")) or xero_date(inv.get("DueDate"))
        dated = xero_date(inv.get("DateString")) or xero_date(inv.get("Date")) or due_on
        if due_on is None or (dated is not None and (today - dated).days > window_days):
            continue
        if status == "AUTHORISED" and today > due_on:
            due = parse_amount(inv.get("AmountDue") if inv.get("AmountDue") is not None else 0)
            if due <= 0:
                continue
            currency = str(inv.get("CurrencyCode") or "")
            overdue[currency] = overdue.get(currency, Decimal(0)) + due
            count[currency] = count.get(currency, 0) + 1
            days = (today - due_on).days
        elif status == "PAID":
            paid_on = xero_date(inv.get("FullyPaidOnDate"))
            days = (paid_on - due_on).days if paid_on is not None else 0
        else:
            continue
        if days > 0:
            late += 1
            worst = max(worst, days)
    money = None
    if overdue:
        currency = max(count, key=lambda c: (count[c], overdue[c]))
        money = Money(amount=overdue[currency], currency=currency).quantize()
    return PaymentHistory(money, worst, late)
