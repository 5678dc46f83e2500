"""The workflows' view of the mappings: one function per mapping use, each applying the versioned
mapping file (``data/mappings/<vendor>/<entity>.v<N>.toml``) of the catalogue version a run uses.

The rules live in the files; these functions only name the file and supply the context values a
file refers to as ``$ctx.``. Every run records the catalogue version it mapped with
(:func:`current_version` for new runs), so a replay can map with that one or the current one.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from canonical.mapper import MappingError, catalogue
from canonical.models import Customer, Quote

__all__ = [
    "MappingError", "company_problems", "current_version", "hubspot_customer", "hubspot_quote", "mapping",
    "xero_accept", "xero_contact", "xero_invoice", "xero_sales_order",
]


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


def xero_sales_order(quote: Quote, contact_id: str, today: date, version: str | None = None) -> dict:
    """The sales order as a Xero Quote (created SENT, then moved to ACCEPTED)."""
    ctx = {"contact_id": contact_id, "today": today, "expiry_default": today + timedelta(days=30)}
    return catalogue().get("xero/sales_order", version).write(quote, ctx)


def xero_accept(quote_record: dict, contact_id: str, today: date, version: str | None = None) -> dict:
    return catalogue().get("xero/sales_order_accept", version).write(quote_record, {"contact_id": contact_id, "today": today})


def xero_invoice(quote: Quote, contact_id: str, order_number: str, today: date, terms_days: int = 30,
                 version: str | None = None) -> dict:
    ctx = {"contact_id": contact_id, "today": today, "due_date": today + timedelta(days=terms_days),
           "order_number": order_number}
    return catalogue().get("xero/invoice", version).write(quote, ctx)


_USES: dict[str, Callable[..., Any]] = {
    "quote": hubspot_quote, "customer": hubspot_customer, "contact": xero_contact,
    "sales_order": xero_sales_order, "accept": xero_accept, "invoice": xero_invoice,
}


def mapping(version: str) -> dict[str, Callable[..., Any]]:
    """The mapping functions bound to catalogue ``version`` (the one a run recorded, or the current)."""
    known = catalogue().current_version
    if not str(version).isdigit() or not 1 <= int(version) <= known:
        raise KeyError(f"unknown mapping version {version!r} (known: 1..{known})")

    def bind(fn: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args, **kwargs: fn(*args, **kwargs, version=version)

    return {name: bind(fn) for name, fn in _USES.items()}
