"""HubSpot sandbox seed data: deterministic, with the demo's scenario stories."""

from __future__ import annotations

from decimal import Decimal

import httpx

from connectors.hubspot import seed as seeding
from connectors.hubspot.sandbox import HubSpotSandbox
from connectors.hubspot.store import CrmStore, to_ms
from tests.sandbox_contract import checked

DAY_MS = 86_400_000
CURRENCY = {"United Kingdom": "GBP", "Germany": "EUR", "France": "EUR", "Netherlands": "EUR", "Ireland": "EUR",
            "United States": "USD", "Australia": "AUD", "New Zealand": "NZD"}


def _dump(store: CrmStore) -> dict:
    return {t: {i: r["properties"] for i, r in objs.items()} for t, objs in store.objects.items()}


def test_same_seed_same_data_and_other_seed_other_data():
    a, b, c = CrmStore(), CrmStore(), CrmStore()
    seeding.seed(a, companies=30, seed=7)
    seeding.seed(b, companies=30, seed=7)
    seeding.seed(c, companies=30, seed=8)
    assert _dump(a) == _dump(b)
    assert _dump(a) != _dump(c)


def test_every_customer_is_complete_and_consistent():
    store = CrmStore()
    seeding.seed(store, companies=40, seed=3)
    assert len(store.objects["companies"]) == len(store.objects["quotes"]) == len(store.objects["contacts"]) == 40
    names = [r["properties"]["name"] for r in store.objects["companies"].values()]
    assert len(set(names)) == 40
    for qid, quote in store.objects["quotes"].items():
        p = quote["properties"]
        assert qid.isdigit() and p["hs_status"] in ("DRAFT", "PENDING_APPROVAL")
        (cid,) = store.associated("quotes", qid, "companies")
        assert len(store.associated("quotes", qid, "deals")) == len(store.associated("quotes", qid, "contacts")) == 1
        company = store.objects["companies"][cid]["properties"]
        assert p["hs_currency"] == CURRENCY[company["country"]]
        for key in ("name", "domain", "address", "city", "zip", "country"):
            assert company[key]
        items = [store.objects["line_items"][i]["properties"] for i in store.associated("quotes", qid, "line_items")]
        assert 1 <= len(items) <= 4
        assert all(i["hs_line_item_currency_code"] == p["hs_currency"] and isinstance(i["price"], str) for i in items)
        assert sum(Decimal(i["amount"]) for i in items) == Decimal(p["hs_quote_amount"])
        first_item = store.associated("quotes", qid, "line_items")[0]
        assert store.associated("line_items", first_item, "quotes") == [qid]  # associations go both ways


def test_quotes_are_recent_and_still_valid_on_the_day_they_are_dated_back_from():
    """The demo dates its seed back from today: a quote it approves was made in the last two weeks,
    after its company, and has not expired (the ERP's sales order carries that expiry date)."""
    now = 1_796_000_000_000  # 2026-11-29
    store = CrmStore()
    seeding.seed(store, companies=40, seed=5, base_ms=now)
    for qid, quote in store.objects["quotes"].items():
        made, expires = to_ms(quote["createdAt"]), to_ms(quote["properties"]["hs_expiration_date"])
        (cid,) = store.associated("quotes", qid, "companies")
        assert to_ms(store.objects["companies"][cid]["createdAt"]) < made <= now - DAY_MS
        assert made >= now - 15 * DAY_MS and now + 14 * DAY_MS <= expires <= now + 29 * DAY_MS


def test_scenario_missing_tax_and_duplicate_pair():
    store = CrmStore()
    seeding.seed(store, companies=10, seed=7)
    ids = seeding.scenario_ids(store)
    (cid,) = store.associated("quotes", ids["missing_tax"], "companies")
    northwind = store.objects["companies"][cid]["properties"]
    assert northwind["name"] == "Northwind Traders" and northwind["vat_number"] is None
    companies = [store.objects["companies"][store.associated("quotes", q, "companies")[0]]["properties"]
                 for q in ids["duplicate_pair"]]
    assert [c["name"] for c in companies] == ["Acme Corporation", "ACME Corp."]
    assert companies[0]["domain"] == companies[1]["domain"] == "acme.example"
    assert companies[0]["vat_number"] == companies[1]["vat_number"] and companies[0]["vat_number"]
    others = [r["properties"] for r in store.objects["companies"].values() if r["id"] != cid]
    assert all(c["vat_number"] for c in others)  # only Northwind lacks a tax number
    # the scenario's ids do not depend on how many companies are seeded
    bigger = CrmStore()
    seeding.seed(bigger, companies=100, seed=7)
    assert seeding.scenario_ids(bigger) == ids


def test_without_scenario_there_is_no_story():
    store = CrmStore()
    seeding.seed(store, companies=5, scenario=False, seed=7)
    assert seeding.scenario_ids(store) == {"missing_tax": None, "duplicate_pair": []}
    assert len(store.objects["companies"]) == 5


def test_control_routes_seed_bulk_state_reset():
    sb = HubSpotSandbox()
    sb.app = checked(sb.app, "hubspot")
    with sb.serving() as url:
        seeded = httpx.post(url + "/_sandbox/seed", json={"companies": 20, "scenario": True, "seed": 7}).json()
        assert (seeded["companies"], seeded["quotes"]) == (20, 20)
        assert seeded["scenario"] == sb.scenario_ids() and len(seeded["scenario"]["duplicate_pair"]) == 2
        bulk = httpx.post(url + "/_sandbox/bulk-quotes", json={"count": 250}).json()
        assert len(bulk["quote_ids"]) == len(set(bulk["quote_ids"])) == 250
        state = httpx.get(url + "/_sandbox/state").json()
        assert state["companies"] == 270 and sum(state["quotes"].values()) == 270
        assert state["webhooks"] == {"events": 0, "deliveries": 0, "sent": 0, "pending": 0, "delivered": 0,
                                     "failed": 0, "no_target": 0}
        approved = httpx.post(url + "/_sandbox/approve", json={"ids": bulk["quote_ids"][:3]}).json()
        assert approved["approved"] == bulk["quote_ids"][:3]
        assert httpx.get(url + "/_sandbox/state").json()["quotes"]["APPROVED"] == 3
        assert httpx.post(url + "/_sandbox/reset").json() == {"reset": True}
        assert httpx.get(url + "/_sandbox/state").json()["companies"] == 0
