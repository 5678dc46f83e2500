"""Vendor <-> canonical mappings, as plain functions for now (the governed-sync issue turns them
into versioned data files). Every run records :data:`CURRENT_VERSION`, the version it mapped with.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from typing import Any, Callable

from pydantic import ValidationError

from canonical.identity import normalise_tax_number
from canonical.models import Address, Customer, Quote, QuoteLine
from canonical.money import Money, parse_amount

CURRENT_VERSION = "1"

# a customer's default currency from its billing country (HubSpot keeps country as free text)
COUNTRY_CURRENCY = {
    "GB": "GBP", "UK": "GBP", "UNITED KINGDOM": "GBP", "US": "USD", "USA": "USD", "UNITED STATES": "USD",
    "DE": "EUR", "GERMANY": "EUR", "FR": "EUR", "FRANCE": "EUR", "NL": "EUR", "NETHERLANDS": "EUR",
    "IE": "EUR", "IRELAND": "EUR", "ES": "EUR", "SPAIN": "EUR", "IT": "EUR", "ITALY": "EUR",
    "AU": "AUD", "AUSTRALIA": "AUD", "NZ": "NZD", "NEW ZEALAND": "NZD", "CA": "CAD", "CANADA": "CAD",
}


class MappingError(ValueError):
    """The source records cannot be mapped; ``problems`` says what is missing or wrong, each naming
    the source field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _props(record: dict) -> dict:
    return record.get("properties") or {}


def _ms_to_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None


def company_problems(company: dict) -> list[str]:
    """What a customer needs before it can be billed: a name, a tax number, a billing address."""
    cp = _props(company)
    who = f"company {company.get('id')} ({cp.get('name') or 'unnamed'})"
    problems = []
    if not (cp.get("name") or "").strip():
        problems.append(f"{who} has no name")
    if not normalise_tax_number(cp.get("vat_number") or ""):
        problems.append(f"{who} has no tax number (vat_number)")
    for field in ("address", "city", "country"):
        if not (cp.get(field) or "").strip():
            problems.append(f"{who} has no billing address {field}")
    return problems


def quote_problems(quote: dict, company: dict | None, line_items: list[dict]) -> list[str]:
    """Mandatory-field checks of quote_to_order, each naming the HubSpot record and property."""
    qp = _props(quote)
    if company is None:
        return [f"quote {quote.get('id')} has no associated company"]
    problems = company_problems(company)
    status = qp.get("hs_status")
    if status is not None and status not in ("APPROVED", "APPROVAL_NOT_NEEDED"):
        problems.append(f"quote {quote.get('id')} is not approved (hs_status {status})")
    if not (qp.get("hs_currency") or "").strip():
        problems.append(f"quote {quote.get('id')} has no currency (hs_currency)")
    if not line_items:
        problems.append(f"quote {quote.get('id')} has no line items")
    return problems


def hubspot_customer(company: dict, canonical_id: str) -> Customer:
    cp = _props(company)
    return Customer(
        customer_id=canonical_id,
        legal_name=cp.get("name") or "",
        domain=cp.get("domain") or "",
        tax_number=normalise_tax_number(cp.get("vat_number") or ""),
        currency=COUNTRY_CURRENCY.get((cp.get("country") or "").strip().upper(), "USD"),
        billing_address=Address(
            line1=cp.get("address") or "", line2=cp.get("address2") or "", city=cp.get("city") or "",
            postal_code=cp.get("zip") or "", region=cp.get("state") or "", country=cp.get("country") or "",
        ),
        source_ids={"hubspot": str(company.get("id"))},
    )


def hubspot_quote(quote: dict, company: dict, line_items: list[dict], canonical_customer_id: str) -> Quote:
    """The canonical quote; raises MappingError listing every problem."""
    problems = quote_problems(quote, company, line_items)
    if problems:
        raise MappingError(problems)
    qp = _props(quote)
    currency = qp["hs_currency"].strip().upper()
    try:
        lines = [
            QuoteLine(
                line_id=str(li.get("id")),
                description=_props(li).get("name") or "",
                quantity=parse_amount(_props(li).get("quantity") or "1"),
                unit_price=Money(amount=parse_amount(_props(li).get("price") or "0"), currency=currency),
                sku=_props(li).get("hs_sku") or "",
                discount_percent=parse_amount(_props(li).get("hs_discount_percentage") or "0"),
            )
            for li in line_items
        ]
        expires = qp.get("hs_expiration_date")
        return Quote(
            quote_id=str(quote.get("id")),
            number=qp.get("hs_quote_number") or "",
            title=qp.get("hs_title") or "",
            # the customer is billed in the currency it buys in
            customer=hubspot_customer(company, canonical_customer_id).model_copy(update={"currency": currency}),
            currency=currency,
            lines=lines,
            approved_at=_ms_to_dt(qp.get("hs_lastmodifieddate")),
            expires_on=(_ms_to_dt(expires) or None) and _ms_to_dt(expires).date(),
        )
    except ValidationError as exc:
        raise MappingError([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from exc


def _xero_date(d: date) -> str:
    return d.isoformat()


def xero_contact(customer: Customer, contact_id: str | None = None) -> dict:
    """A Xero Contact for an upsert; with ``contact_id`` an update that leaves the name alone."""
    a = customer.billing_address
    contact: dict[str, Any] = {
        "ContactNumber": customer.customer_id[:50],
        "TaxNumber": customer.tax_number,
        "DefaultCurrency": customer.currency,
        "IsCustomer": True,
        "Addresses": [{
            "AddressType": "POBOX", "AddressLine1": a.line1, "AddressLine2": a.line2, "City": a.city,
            "PostalCode": a.postal_code, "Region": a.region, "Country": a.country,
        }],
    }
    if customer.email:
        contact["EmailAddress"] = customer.email
    if contact_id:
        contact["ContactID"] = contact_id
    else:
        contact["Name"] = customer.legal_name
    return contact


def _xero_lines(quote: Quote) -> list[dict]:
    return [
        {
            "Description": line.description,
            "Quantity": str(line.quantity),
            "UnitAmount": str(line.unit_price.amount),
            "DiscountRate": str(line.discount_percent),
            "ItemCode": line.sku or None,
            "AccountCode": "200",
            "TaxType": "NONE",
        }
        for line in quote.lines
    ]


def xero_sales_order(quote: Quote, contact_id: str, today: date) -> dict:
    """The sales order as a Xero Quote (created SENT, then moved to ACCEPTED)."""
    return {
        "Contact": {"ContactID": contact_id},
        "Date": _xero_date(today),
        "ExpiryDate": _xero_date(quote.expires_on or today + timedelta(days=30)),
        "Status": "SENT",
        "CurrencyCode": quote.currency,
        "Reference": f"HubSpot quote {quote.number or quote.quote_id}",
        "Title": (quote.title or f"Order for {quote.customer.legal_name}")[:100],
        "LineAmountTypes": "EXCLUSIVE",
        "LineItems": _xero_lines(quote),
    }


def xero_accept(quote_record: dict, contact_id: str, today: date) -> dict:
    return {"Contact": {"ContactID": contact_id}, "Date": _xero_date(today), "Status": "ACCEPTED"}


def xero_invoice(quote: Quote, contact_id: str, order_number: str, today: date, terms_days: int = 30) -> dict:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": _xero_date(today),
        "DueDate": _xero_date(today + timedelta(days=terms_days)),
        "Status": "AUTHORISED",
        "CurrencyCode": quote.currency,
        "Reference": order_number or quote.number,
        "LineAmountTypes": "EXCLUSIVE",
        "LineItems": _xero_lines(quote),
    }


# version -> the functions of that version; replay may choose the one a run used or the current one
VERSIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "1": {
        "quote": hubspot_quote, "customer": hubspot_customer, "contact": xero_contact,
        "sales_order": xero_sales_order, "accept": xero_accept, "invoice": xero_invoice,
    },
}


def mapping(version: str) -> dict[str, Callable[..., Any]]:
    try:
        return VERSIONS[version]
    except KeyError:
        raise KeyError(f"unknown mapping version {version!r} (known: {', '.join(VERSIONS)})") from None


