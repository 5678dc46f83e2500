"""The pure parts of quote to order, complete: the line TaxType from Xero's TaxRates (data/tax.toml)
and the billing schedule of a quote's subscription lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from canonical.mapping import MappingError, billing_schedule, mapping, tax_type
from canonical.models import Address, Customer, Money, Quote, QuoteLine

RATES = [{"TaxType": t, "Status": "ACTIVE", "CanApplyToRevenue": True} for t in ("OUTPUT", "EXEMPTOUTPUT", "NONE")]


def _customer(country: str) -> Customer:
    return Customer(customer_id="cus_1", legal_name="Acme Ltd", currency="NZD",
                    billing_address=Address(line1="1 Queen St", city="Auckland", country=country))


def _quote(*frequencies: str) -> Quote:
    lines = [QuoteLine(line_id=str(i), description=f"line {i}", quantity=Decimal(1),
                       unit_price=Money(amount=Decimal("100"), currency="NZD"), sku=f"SKU{i}", billing_frequency=f)
             for i, f in enumerate(frequencies)]
    return Quote(quote_id="9", number="Q-9", customer=_customer("Germany"), currency="NZD", lines=lines)


def test_tax_type_is_chosen_by_country_among_the_org_tax_rates():
    assert tax_type(_customer("New Zealand"), RATES) == "OUTPUT"
    assert tax_type(_customer("Germany"), RATES) == "EXEMPTOUTPUT"
    # a TaxType the organisation does not have (or not for revenue) falls back
    assert tax_type(_customer("Germany"), [r for r in RATES if r["TaxType"] != "EXEMPTOUTPUT"]) == "NONE"
    assert tax_type(_customer("New Zealand"), None) == "NONE"
    rules = {"org_country": "New Zealand", "domestic": "OUTPUT", "export": "EXEMPTOUTPUT", "fallback": "NONE",
             "countries": {"Australia": "OUTPUT"}}
    assert tax_type(_customer("Australia"), RATES, rules) == "OUTPUT"


def test_the_billing_schedule_holds_the_subscription_lines_from_the_next_period():
    schedule = billing_schedule(_quote("annually", "", "annually"), "order-1", date(2026, 1, 31))
    assert schedule is not None
    assert [line.line_id for line in schedule.lines] == ["0", "2"]
    assert (schedule.period, schedule.unit, schedule.start_on) == (12, "MONTHLY", date(2027, 1, 31))
    assert billing_schedule(_quote("quarterly"), "o", date(2026, 11, 30)).start_on == date(2027, 2, 28)
    assert billing_schedule(_quote(""), "o", date(2026, 1, 1)) is None
    with pytest.raises(MappingError, match="mix billing frequencies"):
        billing_schedule(_quote("annually", "monthly"), "o", date(2026, 1, 1))


def test_mapping_version_1_sends_no_tax_and_no_schedule_version_2_does():
    quote = _quote("annually")
    schedule = billing_schedule(quote, "order-1", date(2026, 1, 1))
    v1, v2 = mapping("1"), mapping("2")
    assert {li["TaxType"] for li in v1["invoice"](quote, "c1", "QU-1", date(2026, 1, 1), tax="OUTPUT")["LineItems"]} == {"NONE"}
    assert {li["TaxType"] for li in v2["invoice"](quote, "c1", "QU-1", date(2026, 1, 1), tax="OUTPUT")["LineItems"]} == {"OUTPUT"}
    assert v1["repeating_invoice"](schedule, "c1", "QU-1", "OUTPUT") is None
    body = v2["repeating_invoice"](schedule, "c1", "QU-1", "OUTPUT")
    assert body["Schedule"] == {"Period": 12, "Unit": "MONTHLY", "DueDate": 30, "DueDateType": "DAYSAFTERBILLDATE",
                                "StartDate": "2027-01-01"}
    assert body["Reference"] == "QU-1" and body["LineItems"][0]["TaxType"] == "OUTPUT"
