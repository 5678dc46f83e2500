"""HubSpotClient against the HubSpot sandbox over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.errors import AuthError, FatalError, NotFoundError, RateLimitedError
from connectors.http import call_recorder
from connectors.hubspot import CONNECTOR
from connectors.hubspot.client import AfterCursor, HubSpotClient, RateLimit, associated_ids
from connectors.hubspot.sandbox import VENDOR_LIMIT, HubSpotSandbox
from connectors.ratelimit import HubSpotRateLimit, VirtualClock
from tests.unit.hubspot_fixtures import TOKEN, hubspot_fixtures


sandbox, fresh = hubspot_fixtures(12)


@pytest.fixture
async def client(fresh):
    c = CONNECTOR.client(fresh.url, token=TOKEN, transport="aiohttp")
    yield c
    await c.aclose()


def test_connector_contract():
    assert (CONNECTOR.name, CONNECTOR.role) == ("hubspot", "crm")
    assert isinstance(CONNECTOR.sandbox(profile="vendor"), HubSpotSandbox)


async def test_quote_with_associations_and_line_items(client, fresh):
    qid = fresh.scenario_ids()["missing_tax"]
    quote = await client.get_quote(qid, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert quote["id"] == qid and quote["archived"] is False
    assert quote["properties"]["hs_status"] in ("DRAFT", "PENDING_APPROVAL")
    assert quote["properties"]["hs_currency"] == "GBP"
    line_ids = associated_ids(quote, "line_items")
    assert 1 <= len(line_ids) <= 4
    assert len(associated_ids(quote, "companies")) == len(associated_ids(quote, "deals")) == 1
    items = await client.batch_read_line_items(line_ids)
    assert [i["id"] for i in items] == line_ids
    from decimal import Decimal
    total = sum(Decimal(i["properties"]["amount"]) for i in items)
    assert total == Decimal(quote["properties"]["hs_quote_amount"])
    assert all(i["properties"]["hs_line_item_currency_code"] == "GBP" for i in items)
    company = await client.get_company(associated_ids(quote, "companies")[0])
    assert company["properties"]["name"] == "Northwind Traders"
    assert company["properties"]["vat_number"] is None
    v4 = await client.get_associations("quotes", qid, "line_items")
    assert [str(r["toObjectId"]) for r in v4] == line_ids
    assert v4[0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 67, "label": None}]
    contact_id = (await client.get_associations("quotes", qid, "contacts"))[0]["toObjectId"]
    contact = await client.get_contact(str(contact_id))
    assert contact["properties"]["email"].endswith("@northwind.example")


async def test_fixing_missing_tax_number_by_patch(client, fresh):
    quote = await client.get_quote(fresh.scenario_ids()["missing_tax"])
    cid = associated_ids(quote, "companies")[0]
    updated = await client.update_company(cid, {"vat_number": "GB123456789"})
    assert updated["properties"]["vat_number"] == "GB123456789"
    assert (await client.get_company(cid))["properties"]["vat_number"] == "GB123456789"
    with pytest.raises(FatalError) as err:
        await client.update_company(cid, {"no_such_property": "x"})
    assert err.value.status == 400 and err.value.body["category"] == "VALIDATION_ERROR"
    assert "PROPERTY_DOESNT_EXIST" in err.value.body["message"]


async def test_search_pages_through_all_approved_quotes(client, fresh):
    since = int(time.time() * 1000) - 1
    approved = httpx.post(fresh.url + "/_sandbox/approve", json={"count": 7, "deliver": False}).json()["approved"]
    assert len(approved) == 7
    first = await client.search_quotes(modified_since_ms=since, limit=3)
    assert first["total"] == 7 and len(first["results"]) == 3
    assert first["paging"]["next"]["after"] == "3"
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        seen = [q["id"] async for q in client.iter_approved_quotes(since, limit=3)]
    finally:
        call_recorder.reset(token)
    assert len(recorded) == 3  # three pages: 3 + 3 + 1
    assert sorted(seen) == sorted(approved) and len(seen) == len(set(seen)) == 7  # each exactly once
    assert all(q["properties"]["hs_status"] == "APPROVED" for q in first["results"])
    # nothing modified after now
    assert [q async for q in client.iter_approved_quotes(int(time.time() * 1000) + 60_000)] == []


async def test_list_companies_paging_covers_every_company(client, fresh):
    ids, after, pages = [], None, 0
    while True:
        page = await client.list_companies(after=after, limit=5)
        ids += [c["id"] for c in page["results"]]
        pages += 1
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
        assert page["paging"]["next"]["link"].startswith(fresh.url + "/crm/v3/objects/companies?")
    assert pages == 3 and len(ids) == len(set(ids)) == 12


async def test_missing_quote_is_not_found_with_hubspots_message(client):
    with pytest.raises(NotFoundError) as err:
        await client.get_quote("999999999")
    assert err.value.status == 404 and err.value.system == "hubspot"
    assert err.value.body["message"] == "resource not found"
    assert err.value.body["category"] == "OBJECT_NOT_FOUND"
    assert str(err.value).startswith("hubspot HTTP 404: OBJECT_NOT_FOUND: resource not found (correlationId ")


async def test_batch_read_with_missing_ids_raises_not_found(client, fresh):
    quote = await client.get_quote(fresh.scenario_ids()["missing_tax"])
    ids = associated_ids(quote, "line_items") + ["13899999999"]
    with pytest.raises(NotFoundError) as err:
        await client.batch_read_line_items(ids)
    assert err.value.status == 207 and err.value.body["errors"][0]["context"] == {"ids": ["13899999999"]}
    assert len(await client.batch_read_line_items(ids, missing_ok=True)) == len(ids) - 1


async def test_wrong_token_is_auth_error(fresh):
    c = HubSpotClient(fresh.url, token="not-the-token")
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        with pytest.raises(AuthError) as err:
            await c.get_company("18400000001")
    finally:
        call_recorder.reset(token)
        await c.aclose()
    assert err.value.status == 401 and err.value.body["category"] == "INVALID_AUTHENTICATION"
    assert err.value.category == "auth" and not err.value.retriable  # the engine never retries it
    assert len(recorded) == 1 and c.governor.wait_s() == 0  # one request, and no wait imposed
    assert err.value.body["message"].startswith("Authentication credentials not found.")


async def test_429_storm_is_rate_limited_with_retry_after(fresh):
    clock = VirtualClock()
    client = HubSpotClient(fresh.url, token=TOKEN, clock=clock)
    httpx.post(fresh.url + "/_sandbox/faults", json={"profile": "storm429", "storm": 2, "retry_after": 7})
    try:
        for _ in range(2):
            with pytest.raises(RateLimitedError) as err:
                await client.get_company("18400000001")
            assert err.value.retry_after == 7.0 and err.value.retriable
            assert err.value.body["errorType"] == "RATE_LIMIT" and err.value.body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert clock.sleeps == [7.0]  # the second request waited out the first 429's Retry-After
        assert (await client.get_company("18400000001"))["id"] == "18400000001"
        assert clock.sleeps == [7.0, 7.0] and client.rate_limit.throttled == 2
    finally:
        await client.aclose()


async def test_vendor_profile_enforces_100_per_10_seconds(fresh):
    httpx.post(fresh.url + "/_sandbox/faults", json={"profile": "vendor"})
    with httpx.Client(base_url=fresh.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answers = [http.get("/crm/v3/objects/companies/18400000001") for _ in range(101)]
    assert [a.status_code for a in answers[:100]] == [200] * 100
    assert answers[99].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "100"
    last = answers[100]
    assert last.status_code == 429
    assert last.json()["message"] == "You have reached your ten_secondly_rolling limit."
    assert 1 <= int(last.headers["Retry-After"]) <= 10


async def test_client_reads_rate_limit_headers(client):
    await client.get_company("18400000001")
    rl = client.rate_limit
    assert isinstance(rl, RateLimit) and RateLimit is HubSpotRateLimit
    assert (rl.max, rl.interval_ms, rl.daily) == (10_000, 10_000, 500_000)
    assert rl.remaining is not None and rl.remaining < rl.max and rl.daily_remaining < rl.daily
    state = client.governor.state()
    assert state["vendor"] == "hubspot" and state["budget_left"] == rl.remaining and state["limit"] == 10_000


def _age(window, seconds: float) -> None:
    """Let ``seconds`` pass for a sandbox's sliding window (its hits become that much older)."""
    for key, hits in window._hits.items():
        window._hits[key] = [t - seconds for t in hits]


async def test_governor_waits_instead_of_a_429_when_the_budget_is_nearly_spent(fresh):
    """Under HubSpot's own limit (100 per 10 s) with 97 already spent, six more calls would meet a 429
    at the fourth; the governor sees the budget at its reserve and waits out the window instead."""
    httpx.post(fresh.url + "/_sandbox/faults", json={"profile": "vendor"}).raise_for_status()
    window = fresh._windows[VENDOR_LIMIT]
    for _ in range(VENDOR_LIMIT - 3):
        window.hit(TOKEN)
    clock = VirtualClock(on_sleep=lambda s: _age(window, s))
    client = HubSpotClient(fresh.url, token=TOKEN, clock=clock)
    try:
        for _ in range(6):
            assert (await client.get_company("18400000001"))["id"] == "18400000001"
    finally:
        await client.aclose()
    assert clock.sleeps == [10.0]  # one wait: the 10-second window from the first answer seen
    assert client.rate_limit.throttled == 0 and client.rate_limit.waits == 1


def test_after_cursor_stops_on_last_or_repeated_page():
    cursor = AfterCursor()
    assert cursor.advance({"paging": {"next": {"after": "NTI1"}}}) and cursor.after == "NTI1"
    assert not cursor.advance({"paging": {"next": {"after": "NTI1"}}})
    assert not AfterCursor().advance({"results": []})
