"""Canonical model: money never floats, identity keys, the quote mapping's validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from canonical.identity import normalise_domain, normalise_name, normalise_tax_number
from canonical.mapping import MappingError, hubspot_quote, xero_contact
from canonical.money import Money


def test_money_refuses_floats_and_unknown_currencies():
    with pytest.raises(ValidationError, match="must not be floats"):
        Money(amount=0.1, currency="GBP")
    with pytest.raises(ValidationError, match="unknown ISO 4217"):
        Money(amount="1", currency="XXX")
    assert Money(amount="10.005", currency="gbp").quantize().amount == Decimal("10.00")
    assert str(Money(amount="5", currency="JPY")) == "5 JPY"


@given(st.lists(st.decimals(min_value=0, max_value=10**9, places=2), min_size=1, max_size=20))
def test_money_addition_is_exact(amounts):
    total = Money(amount="0", currency="EUR")
    for a in amounts:
        total = total + Money(amount=a, currency="EUR")
    assert total.amount == sum(amounts)


def test_money_refuses_mixed_currencies():
    with pytest.raises(ValueError, match="cannot add"):
        Money(amount="1", currency="EUR") + Money(amount="1", currency="USD")


@pytest.mark.parametrize("a,b", [("Acme Corporation", "ACME Corp."), ("Müller GmbH", "Muller"),
                                 ("Smith & Sons Ltd", "smith and sons")])
def test_names_that_are_one_company_normalise_alike(a, b):
    assert normalise_name(a) == normalise_name(b)


def test_tax_numbers_and_domains():
    assert normalise_tax_number("gb 123.456-789") == "GB123456789"
    assert normalise_domain("https://www.Acme.example/about") == "acme.example"


def _company(**props):
    base = {"name": "Iron Analytics Inc.", "vat_number": "GB123", "address": "1 Way", "city": "Leeds", "country": "GB"}
    base.update(props)
    return {"id": "7", "properties": base}


def _quote(**props):
    return {"id": "42", "properties": {"hs_currency": "GBP", "hs_quote_number": "Q-42", "hs_title": "Annual", **props}}


def _line(price="100.00", qty="2"):
    return {"id": "9", "properties": {"name": "Seats", "quantity": qty, "price": price}}


def test_quote_maps_with_decimal_totals():
    q = hubspot_quote(_quote(), _company(), [_line(), _line("0.10", "3")], "cus_1")
    assert q.total == Money(amount="200.30", currency="GBP")
    assert q.customer.tax_number == "GB123"
    contact = xero_contact(q.customer)
    assert contact["Name"] == "Iron Analytics Inc." and "ContactID" not in contact
    assert "Name" not in xero_contact(q.customer, "abc") and xero_contact(q.customer, "abc")["ContactID"] == "abc"


def test_every_missing_mandatory_field_is_named():
    with pytest.raises(MappingError) as exc:
        hubspot_quote(_quote(hs_currency=""), _company(vat_number="", city=""), [], "cus_1")
    assert exc.value.problems == [
        "company 7 (Iron Analytics Inc.) has no tax number (vat_number)",
        "company 7 (Iron Analytics Inc.) has no billing address city",
        "quote 42 has no currency (hs_currency)",
        "quote 42 has no line items",
    ]


def test_customer_is_billed_in_the_quote_currency_and_country_names_map():
    q = hubspot_quote(_quote(hs_currency="EUR"), _company(country="United Kingdom"), [_line()], "cus_1")
    assert q.customer.currency == "EUR"
    from canonical.mapping import hubspot_customer

    assert hubspot_customer(_company(country="United Kingdom"), "c").currency == "GBP"
    assert hubspot_customer(_company(country="Germany"), "c").currency == "EUR"
