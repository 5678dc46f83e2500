"""Canonical entities (first part): Customer, Quote with lines, SalesOrder, Invoice.

Strict at the edges: required fields are required, money is :class:`Money`, timestamps are
timezone-aware UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from canonical.money import Amount, Money


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Canonical(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(Canonical):
    line1: str
    line2: str = ""
    city: str
    postal_code: str = ""
    region: str = ""
    country: str


class Customer(Canonical):
    """An account: the company that is billed."""

    customer_id: str = Field(description="canonical id")
    legal_name: str = Field(min_length=1)
    domain: str = ""
    tax_number: str = Field(min_length=1)
    currency: str = Field(min_length=3, max_length=3)
    billing_address: Address
    email: str = ""
    source_ids: dict[str, str] = Field(default_factory=dict, description="system -> external id")


class QuoteLine(Canonical):
    line_id: str
    description: str = Field(min_length=1)
    quantity: Amount
    unit_price: Money
    sku: str = ""
    discount_percent: Amount = Decimal("0")

    @property
    def total(self) -> Money:
        gross = self.unit_price.amount * self.quantity
        net = gross * (Decimal(100) - self.discount_percent) / Decimal(100)
        return Money(amount=net, currency=self.unit_price.currency).quantize()


class Quote(Canonical):
    quote_id: str = Field(description="the CRM's quote id: the business key of quote_to_order")
    number: str = ""
    title: str = ""
    customer: Customer
    currency: str
    lines: list[QuoteLine] = Field(min_length=1)
    approved_at: UtcDatetime | None = None
    expires_on: date | None = None

    @property
    def total(self) -> Money:
        total = Money(amount=Decimal(0), currency=self.currency)
        for line in self.lines:
            total = total + line.total
        return total


class SalesOrder(Canonical):
    """A confirmed order; in Xero a Quote moved to ACCEPTED."""

    order_id: str
    quote_id: str
    customer_id: str
    number: str
    currency: str
    lines: list[QuoteLine]
    issued_on: date


class Invoice(Canonical):
    invoice_id: str
    order_id: str
    customer_id: str
    number: str
    currency: str
    lines: list[QuoteLine]
    issued_on: date
    due_on: date
    status: str = "AUTHORISED"
