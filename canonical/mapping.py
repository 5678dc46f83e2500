"""The workflows' view of the mappings: one function per mapping use, each applying the versioned
mapping file (``data/mappings/<vendor>/<entity>.v<N>.toml``) of the catalogue version a run uses.

The rules live in the files; these functions only name the file and supply the context values a
file refers to as ``$ctx.``. Every run records the catalogue version it mapped with
(:func:`current_version` for new runs), so a replay can map with that one or the current one.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Callable

from canonical.mapper import MappingError, catalogue
from canonical.models import BillingSchedule, Customer, Quote
from canonical.rules import load_toml

__all__ = [
    "MappingError", "company_problems", "current_version", "hubspot_customer", "hubspot_quote", "mapping",
    "billing_schedule", "tax_type", "xero_accept", "xero_contact", "xero_invoice", "xero_repeating_invoice",
    "xero_sales_order",
]

# HubSpot's recurringbillingfrequency -> a Xero schedule (Period, Unit)
FREQUENCIES: dict[str, tuple[int, str]] = {
    "weekly": (1, "WEEKLY"), "biweekly": (2, "WEEKLY"), "monthly": (1, "MONTHLY"), "quarterly": (3, "MONTHLY"),
    "per_six_months": (6, "MONTHLY"), "annually": (12, "MONTHLY"), "per_two_years": (24, "MONTHLY"),
    "per_three_years": (36, "MONTHLY"), "per_four_years": (48, "MONTHLY"), "per_five_years": (60, "MONTHLY"),
}


@lru_cache(maxsize=1)
def _tax_rules() -> dict:
    return load_toml("tax.toml")


def tax_type(customer: Customer, tax_rates: list[dict] | None, rules: dict | None = None) -> str:
    """The Xero TaxType of the customer's invoice lines (data/tax.toml): by billing country, and only
    a TaxType the organisation has as an active revenue rate (``tax_rates``: GET /TaxRates), else the
    fallback."""
    rules = rules if rules is not None else _tax_rules()
    address = customer.billing_address or customer.sold_to
    country = (address.country if address else "") or ""
    chosen = (rules.get("countries") or {}).get(country)
    if chosen is None:
        domestic = country.strip().casefold() == str(rules.get("org_country", "")).casefold()
        chosen = rules.get("domestic") if domestic else rules.get("export")
    usable = {r.get("TaxType") for r in tax_rates or ()
              if r.get("Status", "ACTIVE") == "ACTIVE" and r.get("CanApplyToRevenue", True)}
    return chosen if chosen in usable else str(rules.get("fallback", "NONE"))


def _advance(day: date, period: int, unit: str) -> date:
    if unit == "WEEKLY":
        return day + timedelta(weeks=period)
    month = day.month - 1 + period
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def billing_schedule(quote: Quote, order_id: str, ordered_on: date, due_days: int = 30) -> BillingSchedule | None:
    """The billing schedule of an order's subscription lines (None when it has none). The order's
    invoice bills the first period, so the schedule starts one period after ``ordered_on``.

    Raises:
        MappingError: the subscription lines mix billing frequencies, or name one Xero cannot schedule.
    """
    subs = [line for line in quote.lines if line.billing_frequency]
    if not subs:
        return None
    freqs = sorted({line.billing_frequency.lower() for line in subs})
    problems = [f"quote {quote.quote_id}: line {line.line_id} has billing frequency {line.billing_frequency!r}, "
                f"which Xero cannot schedule" for line in subs if line.billing_frequency.lower() not in FREQUENCIES]
    if len(freqs) > 1:
        problems.append(f"quote {quote.quote_id}: subscription lines mix billing frequencies ({', '.join(freqs)})")
    if problems:
        raise MappingError(problems)
    period, unit = FREQUENCIES[freqs[0]]
    return BillingSchedule(schedule_id=f"schedule:{quote.quote_id}", order_id=order_id,
                           customer_id=quote.customer.customer_id, currency=quote.currency, lines=subs,
                           period=period, unit=unit, start_on=_advance(ordered_on, period, unit), due_days=due_days)


def current_version() -> str:
    """The catalogue version new runs map with (the highest version of any mapping file)."""
    return str(catalogue().current_version)


def company_problems(company: dict, version: str | None = None, *, billing: bool = False) -> list[str]:
    """What the customer mapping finds missing or wrong in a CRM company (empty when it maps);
    ``billing``: also what billing it needs (a tax number, a billing address)."""
    problems: list[str] = []
    catalogue().get("hubspot/customer", version).read_dict(company, {"customer_id": "", "billing": billing}, problems)
    return problems


def hubspot_customer(company: dict, canonical_id: str, version: str | None = None) -> Customer:
    return catalogue().get("hubspot/customer", version).read(company, {"customer_id": canonical_id})  # type: ignore[return-value]


def hubspot_quote(quote: dict, company: dict | None, line_items: list[dict], canonical_customer_id: str,
                  version: str | None = None) -> Quote:
    """The canonical quote; raises MappingError listing every problem."""
    doc = {"quote": quote, "company": company, "line_items": line_items}
    return catalogue().get("hubspot/quote", version).read(doc, {"customer_id": canonical_customer_id, "billing": True})  # type: ignore[return-value]


def xero_contact(customer: Customer, contact_id: str | None = None, version: str | None = None) -> dict:
    """A Xero Contact for an upsert; with ``contact_id`` an update that leaves the name alone."""
    return catalogue().get("xero/contact", version).write(customer, {"contact_id": contact_id})


def xero_sales_order(quote: Quote, contact_id: str, today: date, tax: str = "NONE", version: str | None = None) -> dict:
    """The sales order as a Xero Quote (created SENT, then moved to ACCEPTED); ``tax``: the lines'
    TaxType (version 2 onwards; version 1 sends NONE)."""
    ctx = {"contact_id": contact_id, "today": today, "expiry_default": today + timedelta(days=30), "tax_type": tax}
    return catalogue().get("xero/sales_order", version).write(quote, ctx)


def xero_accept(quote_record: dict, contact_id: str, today: date, version: str | None = None) -> dict:
    return catalogue().get("xero/sales_order_accept", version).write(quote_record, {"contact_id": contact_id, "today": today})


def xero_invoice(quote: Quote, contact_id: str, order_number: str, today: date, terms_days: int = 30,
                 tax: str = "NONE", status: str = "AUTHORISED", version: str | None = None) -> dict:
    """``status``: the new invoice's status (data/lifecycle.toml); versions 1 and 2 always send AUTHORISED."""
    ctx = {"contact_id": contact_id, "today": today, "due_date": today + timedelta(days=terms_days),
           "order_number": order_number, "tax_type": tax, "invoice_status": status}
    return catalogue().get("xero/invoice", version).write(quote, ctx)


def xero_repeating_invoice(schedule: BillingSchedule, contact_id: str, order_number: str, tax: str = "NONE",
                           version: str | None = None) -> dict | None:
    """The billing schedule as a Xero RepeatingInvoice; None under a catalogue version without one
    (version 1: such runs had no billing schedule)."""
    try:
        spec = catalogue().get("xero/repeating_invoice", version)
    except KeyError:
        return None
    return spec.write(schedule, {"contact_id": contact_id, "order_number": order_number, "tax_type": tax})


_USES: dict[str, Callable[..., Any]] = {
    "quote": hubspot_quote, "customer": hubspot_customer, "contact": xero_contact,
    "sales_order": xero_sales_order, "accept": xero_accept, "invoice": xero_invoice,
    "repeating_invoice": xero_repeating_invoice,
}


_BOUND: dict[str, tuple[Any, dict[str, Callable[..., Any]]]] = {}


def mapping(version: str) -> dict[str, Callable[..., Any]]:
    """The mapping functions bound to catalogue ``version`` (the one a run recorded, or the current);
    made once per version and catalogue (every run's build asks for them)."""
    cat = catalogue()
    found = _BOUND.get(version)
    if found is not None and found[0] is cat:
        return found[1]
    known = cat.current_version
    if not str(version).isdigit() or not 1 <= int(version) <= known:
        raise KeyError(f"unknown mapping version {version!r} (known: 1..{known})")

    def bind(fn: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args, **kwargs: fn(*args, **kwargs, version=version)

    bound = {name: bind(fn) for name, fn in _USES.items()}
    _BOUND[version] = (cat, bound)
    return bound
