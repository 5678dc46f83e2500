"""The canonical model every system maps to: the account (Customer) and its contacts, the quote,
the order and its billing schedule, the subscription, invoices and payments with their status, and
the post-sales records (entitlement, onboarding plan, health score, support case, renewal).

Strict at the edges: unknown fields are refused, money is :class:`Money` (Decimal + ISO 4217),
timestamps are timezone-aware UTC. What a workflow needs before it may bill (a tax number, a
billing address) is a rule of that workflow's mapping (``required`` in the file), not of the model,
so a customer known only to customer success is still a customer.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from canonical.money import ISO_4217, Amount, Money


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


class TaxProfile(Canonical):
    """How the account is taxed (the tax number itself is :attr:`Customer.tax_number`)."""

    tax_type: Literal["VAT", "GST", "SALES_TAX", "NONE"] = "VAT"
    exempt: bool = False
    exemption_reason: str = ""


class PaymentTerms(Canonical):
    """When invoices fall due: Xero's PaymentTermType with a number of days."""

    days: int = Field(ge=0, le=365)
    basis: Literal["DAYSAFTERBILLDATE", "DAYSAFTERBILLMONTH", "OFCURRENTMONTH", "OFFOLLOWINGMONTH"] = "DAYSAFTERBILLDATE"


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(f"unknown ISO 4217 currency {value!r}")
    return code


Currency = Annotated[str, AfterValidator(_currency)]


class Customer(Canonical):
    """An account: the company that is sold to and billed."""

    customer_id: str = Field(description="canonical id")
    legal_name: str = Field(min_length=1)
    legal_entity: str = Field("", description="registered entity (company number) the account trades as")
    domain: str = ""
    tax_number: str = ""
    tax_profile: TaxProfile | None = None
    currency: Currency
    billing_address: Address | None = Field(None, description="bill-to")
    sold_to: Address | None = None
    payment_terms: PaymentTerms | None = None
    email: str = ""
    source_ids: dict[str, str] = Field(default_factory=dict, description="system -> external id")


class Contact(Canonical):
    """A person at an account."""

    contact_id: str
    customer_id: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    role: str = ""
    source_ids: dict[str, str] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if value and ("@" not in value or value.startswith("@") or value.endswith("@")):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value

    @property
    def email_domain(self) -> str:
        return self.email.rpartition("@")[2]


class QuoteLine(Canonical):
    line_id: str
    description: str = Field(min_length=1)
    quantity: Amount
    unit_price: Money
    sku: str = ""
    discount_percent: Amount = Decimal("0")
    billing_frequency: str = Field("", description="a subscription line's frequency as the CRM names it "
                                   "(HubSpot recurringbillingfrequency: monthly, quarterly, annually, ...); "
                                   "empty for a one-off line")

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


class BillingSchedule(Canonical):
    """How an order is billed over time; in Xero a RepeatingInvoice from the subscription lines."""

    schedule_id: str
    order_id: str
    customer_id: str
    currency: Currency
    lines: list[QuoteLine] = Field(min_length=1)
    period: int = Field(1, ge=1)
    unit: Literal["WEEKLY", "MONTHLY"] = "MONTHLY"
    start_on: date
    next_on: date | None = None
    end_on: date | None = None
    due_days: int = Field(30, ge=0)


class Subscription(Canonical):
    """The contract: what the customer has bought, for how long, and when it renews."""

    subscription_id: str
    customer_id: str
    order_id: str = ""
    status: Literal["pending", "active", "cancelled", "expired"] = "pending"
    currency: Currency
    lines: list[QuoteLine] = Field(default_factory=list)
    start_on: date
    end_on: date | None = None
    renewal_on: date | None = None
    auto_renew: bool = True


class Invoice(Canonical):
    invoice_id: str
    order_id: str
    customer_id: str
    number: str
    currency: str
    lines: list[QuoteLine]
    issued_on: date
    due_on: date
    status: Literal["DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"] = "AUTHORISED"
    total: Money | None = None
    amount_due: Money | None = None
    amount_paid: Money | None = None


class Payment(Canonical):
    payment_id: str
    invoice_id: str
    amount: Money
    paid_on: date
    reference: str = ""


AgingBucket = Literal["current", "1-30", "31-60", "61-90", "90+"]


def aging_bucket(days_overdue: int) -> AgingBucket:
    """The aging bucket receivables are reported in."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


class PaymentStatus(Canonical):
    """An invoice's payment position as of a day: what finance tells customer success."""

    invoice_id: str
    customer_id: str
    status: Literal["awaiting_approval", "unpaid", "partially_paid", "paid", "overdue", "voided"]
    """awaiting_approval: a DRAFT or SUBMITTED invoice, not yet approved by finance (nothing is owed yet)."""
    amount_due: Money
    days_overdue: int = Field(0, ge=0)
    aging_bucket: AgingBucket = "current"
    as_of: date


class Entitlement(Canonical):
    """What the customer may use: activated after financial approval."""

    entitlement_id: str
    customer_id: str
    order_id: str
    sku: str = ""
    quantity: Annotated[int, Field(ge=0)] = 1
    status: Literal["pending", "active", "suspended", "ended"] = "pending"
    starts_on: date | None = None
    ends_on: date | None = None


class Milestone(Canonical):
    name: str = Field(min_length=1)
    due_on: date
    done_on: date | None = None

    def delayed(self, today: date) -> bool:
        return self.done_on is None and today > self.due_on


class OnboardingPlan(Canonical):
    plan_id: str
    customer_id: str
    order_id: str
    stage: Literal["not_started", "kickoff", "implementation", "training", "live"] = "not_started"
    milestones: list[Milestone] = Field(default_factory=list)
    started_at: UtcDatetime | None = None


class HealthScore(Canonical):
    customer_id: str
    score: int = Field(ge=0, le=100)
    trend: Literal["up", "flat", "down"] = "flat"
    measured_at: UtcDatetime
    components: dict[str, int] = Field(default_factory=dict)


class SupportCase(Canonical):
    case_id: str
    customer_id: str
    title: str = ""
    status: Literal["open", "pending", "closed"] = "open"
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None = None


class RenewalEvent(Canonical):
    """A renewal decision: ready, at risk, or blocked by payment, with a one-line reason."""

    renewal_id: str
    customer_id: str
    subscription_id: str = ""
    renewal_on: date
    deal_stage: str = ""
    readiness: Literal["ready", "at_risk", "blocked_by_payment"]
    reason: str = Field(min_length=1)
    evaluated_at: UtcDatetime
