"""Deterministic seed data for the HubSpot sandbox (``random.Random(seed)``).

Each customer is a company (name, domain, billing address, ``vat_number``), one contact, one deal
and one quote in DRAFT or PENDING_APPROVAL with 1–4 line items priced in the company's currency,
associated quote→company, quote→contact, quote→deal and quote→line items (and back).

With ``scenario=True`` the data also holds the demo's stories, created first so their ids do not
depend on the number of companies:

* ``missing_tax``: "Northwind Traders" has no ``vat_number``; its quote fails validation until a
  PATCH of ``vat_number`` fixes it.
* ``duplicate_pair``: "Acme Corporation" and "ACME Corp." are one customer (same domain
  ``acme.example``, same ``vat_number``), each with a quote.
"""

from __future__ import annotations

import random
from decimal import Decimal

from connectors.hubspot.store import CrmStore, iso

SCENARIO = {
    "missing_tax": "Northwind Traders",
    "duplicate_pair": ("Acme Corporation", "ACME Corp."),
}
BASE_MS = 1_736_154_000_000  # 2025-01-06T09:00:00Z: seeded times are fixed, so seeds are reproducible
_DAY_MS = 86_400_000

# country, currency, [(city, state, zip)], street names, tax number format
_COUNTRIES = [
    ("United Kingdom", "GBP", [("London", "", "EC1A 1BB"), ("Manchester", "", "M1 2AB"), ("Leeds", "", "LS1 4AP")], "GB{:09d}"),
    ("Germany", "EUR", [("Berlin", "", "10115"), ("Munich", "", "80331"), ("Hamburg", "", "20095")], "DE{:09d}"),
    ("France", "EUR", [("Paris", "", "75002"), ("Lyon", "", "69002")], "FR{:011d}"),
    ("Netherlands", "EUR", [("Amsterdam", "", "1012 AB"), ("Utrecht", "", "3511 AA")], "NL{:09d}B01"),
    ("Ireland", "EUR", [("Dublin", "", "D02 X285")], "IE{:07d}A"),
    ("United States", "USD", [("San Francisco", "CA", "94105"), ("New York", "NY", "10001"), ("Austin", "TX", "78701")], "US{:09d}"),
    ("Australia", "AUD", [("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000")], "AU{:011d}"),
    ("New Zealand", "NZD", [("Auckland", "", "1010"), ("Wellington", "", "6011")], "NZ{:09d}"),
]
_STREETS = ["High Street", "Market Street", "Station Road", "Harbour Way", "King Street", "Mill Lane", "Park Avenue", "Queen Street"]
_ADJ = ["Blue", "Bright", "Cedar", "Copper", "Crystal", "Eastern", "Golden", "Granite", "Harbor", "Iron", "Lunar",
        "Maple", "Northern", "Oak", "Pacific", "Pine", "Quantum", "Red", "Silver", "Solar", "Summit", "Swift", "Vertex", "Willow"]
_NOUN = ["Analytics", "Bakery", "Builders", "Dynamics", "Foods", "Freight", "Labs", "Logistics", "Media", "Motors",
         "Networks", "Outfitters", "Partners", "Robotics", "Software", "Systems", "Textiles", "Ventures", "Works"]
_SUFFIX = ["Ltd", "GmbH", "Inc.", "LLC", "Pty Ltd", "BV", "Group", "Co."]
_FIRST = ["Alex", "Sam", "Priya", "Jonas", "Maria", "Chen", "Aisha", "Tom", "Lena", "Omar", "Grace", "Mateo"]
_LAST = ["Smith", "Müller", "Dubois", "Jansen", "Murphy", "Garcia", "Nguyen", "Brown", "Kowalski", "Tanaka"]
# name, sku, unit price, quantity range
_PRODUCTS = [
    ("Platform subscription (annual)", "PLAT-ANNUAL", "12000.00", (1, 1)),
    ("Seats (per user / year)", "SEAT-YR", "240.00", (5, 200)),
    ("Onboarding package", "ONB-STD", "2500.00", (1, 1)),
    ("Premium support (annual)", "SUP-PREM", "3600.00", (1, 1)),
    ("API add-on (annual)", "API-ADD", "1800.00", (1, 1)),
    ("Training day", "TRN-DAY", "1200.00", (1, 5)),
]


# the subscription products recur yearly (HubSpot's recurringbillingfrequency / hs_recurring_billing_period);
# onboarding and training are one-off. Decided by product, so the seed's random sequence is unchanged.
_ONE_OFF = {"ONB-STD", "TRN-DAY"}


def _recurring(sku: str) -> dict:
    return {} if sku in _ONE_OFF else {"recurringbillingfrequency": "annually", "hs_recurring_billing_period": "P12M"}


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def add_customer(store: CrmStore, rng: random.Random, *, name: str, domain: str, country_idx: int,
                 vat_number: str | None, street: str | None = None, base_ms: int = BASE_MS) -> tuple[str, str]:
    """Create one company with a contact, a deal and a quote; return (company id, quote id)."""
    country, currency, places, _fmt = _COUNTRIES[country_idx]
    city, state, zip_code = rng.choice(places)
    created = base_ms - rng.randint(20, 120) * _DAY_MS + rng.randint(0, _DAY_MS)
    company = store.create("companies", {
        "name": name, "domain": domain, "address": street or f"{rng.randint(1, 250)} {rng.choice(_STREETS)}",
        "address2": rng.choice(["", "", f"Floor {rng.randint(1, 9)}"]) or None, "city": city, "zip": zip_code,
        "state": state or None, "country": country, "vat_number": vat_number,
        "phone": f"+{rng.randint(1, 64)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        "industry": "COMPUTER_SOFTWARE", "lifecyclestage": "opportunity",
    }, at_ms=created)
    cid = company["id"]
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    contact = store.create("contacts", {
        "firstname": first, "lastname": last, "email": f"{first.lower()}.{rng.randint(1, 99)}@{domain}",
        "jobtitle": rng.choice(["CFO", "Head of Finance", "Operations Manager", "CTO"]), "phone": company["properties"]["phone"],
    }, at_ms=created + 60_000)
    store.associate("contacts", contact["id"], "companies", cid)
    quote_at = base_ms - rng.randint(1, 15) * _DAY_MS  # a recent quote: it expires 15 to 29 days after base_ms
    items, total = [], Decimal(0)
    for pname, sku, price, (qlo, qhi) in rng.sample(_PRODUCTS, rng.randint(1, 4)):
        qty = rng.randint(qlo, qhi)
        discount = rng.choice([None, None, None, "10", "15"])
        amount = Decimal(price) * qty * (1 - Decimal(discount or 0) / 100)
        total += amount
        items.append(store.create("line_items", {
            "name": pname, "hs_sku": sku, "quantity": str(qty), "price": price, "hs_discount_percentage": discount,
            "amount": _money(amount), "hs_line_item_currency_code": currency,
            **_recurring(sku),
        }, at_ms=quote_at))
    deal = store.create("deals", {
        "dealname": f"{name} subscription", "amount": _money(total), "dealstage": "contractsent",
        "pipeline": "default", "deal_currency_code": currency,
    }, at_ms=quote_at - _DAY_MS)
    number = len(store.objects["quotes"]) + 1
    quote = store.create("quotes", {
        "hs_title": f"{name} annual subscription", "hs_status": rng.choice(["DRAFT"] * 4 + ["PENDING_APPROVAL"]),
        "hs_quote_number": f"Q-{number:06d}", "hs_currency": currency,
        "hs_expiration_date": _iso_date(quote_at + 30 * _DAY_MS), "hs_quote_amount": _money(total),
        "hs_language": "en", "hs_public_url_key": f"{rng.getrandbits(64):016x}",
    }, at_ms=quote_at)
    qid = quote["id"]
    for to_type, to_id in [("companies", cid), ("contacts", contact["id"]), ("deals", deal["id"])] + [("line_items", i["id"]) for i in items]:
        store.associate("quotes", qid, to_type, to_id)
    store.associate("deals", deal["id"], "companies", cid)
    store.associate("deals", deal["id"], "contacts", contact["id"])
    for item in items:
        store.associate("deals", deal["id"], "line_items", item["id"])
    return cid, qid


def _iso_date(ms: int) -> str:
    return iso(ms - ms % _DAY_MS)


def add_customers(store: CrmStore, rng: random.Random, count: int, *, base_ms: int = BASE_MS) -> list[tuple[str, str]]:
    """``count`` generated customers, each a different company: unique names even without their
    legal suffix ("Iron Analytics Inc." and "Iron Analytics Ltd" would be one customer), and unique
    domains."""
    taken = {r["properties"].get("domain") for r in store.objects["companies"].values()}
    out = []
    for _ in range(count):
        base = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        stem, n = base, 1
        slug = "".join(ch for ch in stem.lower() if ch.isalnum())
        while f"{slug}.example" in taken:
            n += 1
            stem = f"{base} {n}"
            slug = "".join(ch for ch in stem.lower() if ch.isalnum())
        taken.add(f"{slug}.example")
        name = f"{stem} {rng.choice(_SUFFIX)}"
        idx = rng.randrange(len(_COUNTRIES))
        vat = _COUNTRIES[idx][3].format(rng.randrange(10 ** 7, 10 ** 9))
        out.append(add_customer(store, rng, name=name, domain=f"{slug}.example", country_idx=idx, vat_number=vat, base_ms=base_ms))
    return out


def seed(store: CrmStore, *, companies: int = 50, scenario: bool = True, seed: int = 7,
         base_ms: int = BASE_MS) -> random.Random:
    """Fill ``store`` with about ``companies`` customers; return the generator for later additions.

    Companies are created 20 to 120 days before ``base_ms``, their quotes 1 to 15 days before it,
    valid for 30 days. ``base_ms`` is a fixed day by default, so a seed is reproducible; the demo
    passes today's time, so the quotes it approves have not expired."""
    rng = random.Random(seed)
    if scenario:
        add_customer(store, rng, name=SCENARIO["missing_tax"], domain="northwind.example", country_idx=0, vat_number=None, base_ms=base_ms)
        acme, acme_dup = SCENARIO["duplicate_pair"]
        add_customer(store, rng, name=acme, domain="acme.example", country_idx=5, vat_number="US941234567", street="100 Main Street", base_ms=base_ms)
        add_customer(store, rng, name=acme_dup, domain="acme.example", country_idx=5, vat_number="US941234567", street="100 Main St.", base_ms=base_ms)
    add_customers(store, rng, max(0, companies - (3 if scenario else 0)), base_ms=base_ms)
    return rng


def scenario_ids(store: CrmStore) -> dict:
    """Quote ids of the scenario stories: {"missing_tax": id, "duplicate_pair": [id, id]} (None if absent)."""

    def quote_of(company_name: str) -> str | None:
        for rec in store.objects["companies"].values():
            if rec["properties"].get("name") == company_name:
                quotes = store.associated("companies", rec["id"], "quotes")
                return quotes[0] if quotes else None
        return None

    pair = [quote_of(n) for n in SCENARIO["duplicate_pair"]]
    return {"missing_tax": quote_of(SCENARIO["missing_tax"]), "duplicate_pair": pair if all(pair) else []}
