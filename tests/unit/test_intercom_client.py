"""IntercomClient against the Intercom sandbox over real HTTP (uvicorn on loopback), no engine."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.errors import AuthError, DownstreamError, FatalError, NotFoundError, RateLimitedError
from connectors.http import call_recorder
from connectors.intercom import CONNECTOR
from connectors.intercom.client import IntercomClient, StartingAfterCursor
from connectors.intercom.sandbox import VENDOR_LIMIT, WINDOW_S, IntercomSandbox
from connectors.ratelimit import VirtualClock
from connectors.sandbox import serve_in_thread
from tests.sandbox_contract import checked

TOKEN = "sandbox-intercom-token"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEALTH = {"health_score": 71, "renewal_date": 1767225600, "financial_risk": False, "onboarding_stage": "kickoff"}


@pytest.fixture(scope="module")
def served():
    sandbox = IntercomSandbox(token=TOKEN)
    server, thread, url = serve_in_thread(checked(sandbox.app, "intercom"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def url(served):
    sandbox, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "demo"}).raise_for_status()
    return url


@pytest.fixture
async def client(url):
    c = CONNECTOR.client(url, token=TOKEN)
    yield c
    await c.aclose()


def control(url: str, path: str) -> dict:
    return httpx.get(f"{url}/_sandbox/{path}").json()


def test_connector_metadata():
    assert (CONNECTOR.name, CONNECTOR.role) == ("intercom", "customer_success")
    assert isinstance(CONNECTOR.sandbox(), IntercomSandbox)


async def test_upsert_creates_then_updates_one_company(client, url):
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        created = await client.upsert_company({"company_id": "ACME-1", "name": "Acme", "custom_attributes": HEALTH},
                                              traceparent=TRACEPARENT)
    finally:
        call_recorder.reset(token)
    assert created["type"] == "company" and created["company_id"] == "ACME-1" and len(created["id"]) == 24
    assert created["custom_attributes"] == HEALTH
    headers = recorded[0].request_headers
    assert headers["Intercom-Version"] == "2.14" and headers["traceparent"] == TRACEPARENT
    assert "Authorization" not in headers  # never recorded
    updated = await client.upsert_company({"company_id": "ACME-1", "name": "Acme Ltd",
                                           "custom_attributes": {"health_score": 40, "financial_risk": True}})
    assert updated["id"] == created["id"] and updated["name"] == "Acme Ltd"
    assert updated["custom_attributes"] == {**HEALTH, "health_score": 40, "financial_risk": True}
    assert control(url, "state")["counts"]["companies"] == 1
    assert (await client.get_company(created["id"]))["name"] == "Acme Ltd"
    assert client.rate_limit.limit and client.rate_limit.remaining and client.rate_limit.reset_at > time.time() - 1


async def test_find_company_by_company_id(client):
    created = await client.upsert_company({"company_id": "FIND-1", "name": "Findable"})
    await client.upsert_company({"company_id": "FIND-2", "name": "Other"})
    found = await client.find_company("FIND-1")
    assert found is not None and found["id"] == created["id"]
    assert await client.find_company("NOPE") is None


async def test_pagination_across_pages(client):
    for i in range(7):
        await client.upsert_company({"company_id": f"P-{i}", "name": f"Paged {i}"})
    first = await client.list_companies(per_page=3)
    assert len(first["data"]) == 3 and first["total_count"] == 7
    assert first["pages"]["next"]["starting_after"]
    seen, pages, cursor = [], 0, StartingAfterCursor(per_page=3)
    while not cursor.done:
        body = await client.list_companies(per_page=cursor.per_page, starting_after=cursor.starting_after)
        cursor.advance(body)
        seen += [c["company_id"] for c in body["data"]]
        pages += 1
    assert pages == 3 and seen == [f"P-{i}" for i in range(7)]  # every company exactly once, in order
    assert [c["company_id"] async for c in client.iter_companies(per_page=2)] == seen


async def test_scroll_covers_every_company_once(client, served):
    sandbox, _ = served
    for i in range(250):
        sandbox.upsert_company({"company_id": f"S-{i:03d}", "name": f"Scrolled {i}"})
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        seen = [c["company_id"] async for c in client.iter_scroll_companies()]
    finally:
        call_recorder.reset(token)
    assert seen == [f"S-{i:03d}" for i in range(250)]  # every company exactly once
    assert len(recorded) == 4  # 100 + 100 + 50, then the empty page that ends the scroll
    assert "scroll_param" not in recorded[0].url and all("scroll_param=" in r.url for r in recorded[1:])
    # the ended scroll has expired: a new one may open, and the old parameter is refused
    first = await client.scroll_companies()
    assert len(first["data"]) == 100 and first["scroll_param"] != recorded[1].url.rsplit("=", 1)[1]
    with pytest.raises(FatalError):
        await client.scroll_companies(recorded[1].url.rsplit("=", 1)[1])


async def test_storm_429_retry_after_from_reset_header(url):
    clock = VirtualClock()
    client = IntercomClient(url, token=TOKEN, clock=clock)
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "storm429", "storm": 1, "retry_after": 7}).raise_for_status()
    try:
        with pytest.raises(RateLimitedError) as info:
            await client.upsert_company({"company_id": "X"})
        err = info.value
        assert err.status == 429 and err.retriable and "Exceeded rate limit" in err.message
        assert 7 <= err.retry_after <= 8.5  # the reset is whole UNIX seconds: up to one second of rounding
        assert "retry-after" not in {k.lower() for k in err.call.response_headers}
        assert client.rate_limit.remaining == 0 and client.rate_limit.throttled == 1
        # the governor holds the next request until the reset (in virtual time), then it succeeds
        await client.upsert_company({"company_id": "X"})
        assert clock.sleeps == [pytest.approx(err.retry_after)]
    finally:
        await client.aclose()
    assert control(url, "faults")["counts"]["injected_429"] == 1


async def test_governor_waits_instead_of_a_429_when_the_budget_is_nearly_spent(served, url):
    """Intercom's window (1667 per 10 s under the vendor profile) with all but three spent: six more calls
    would meet a 429 at the fourth; the governor sees the budget at its reserve and waits for the reset."""
    sandbox, _ = served
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "vendor"}).raise_for_status()
    window = sandbox.window

    def new_window(seconds: float) -> None:  # virtual time reached X-RateLimit-Reset: a fresh window
        window.used = 0

    for _ in range(3):  # a real 10-second boundary between filling the window and the calls: fill again
        clock = VirtualClock(on_sleep=new_window)
        window.window_start, window.used = int(time.time() // WINDOW_S) * WINDOW_S, VENDOR_LIMIT - 3
        client = IntercomClient(url, token=TOKEN, clock=clock)
        try:
            for _ in range(6):
                await client.upsert_company({"company_id": "G-1", "name": "Governed"})
        finally:
            await client.aclose()
        if clock.sleeps:
            break
    assert len(clock.sleeps) == 1 and 0 < clock.sleeps[0] <= WINDOW_S + 1  # until X-RateLimit-Reset
    assert client.rate_limit.throttled == 0 and window.rejected == 0


async def test_wrong_token_is_auth_error(url):
    c = IntercomClient(url, token="wrong")
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        with pytest.raises(AuthError) as info:
            await c.get_company("0" * 24)
    finally:
        call_recorder.reset(token)
        await c.aclose()
    assert info.value.status == 401 and info.value.message == "Access Token Invalid"
    assert info.value.category == "auth" and not info.value.retriable  # the engine never retries it
    assert len(recorded) == 1 and c.governor.wait_s() == 0


async def test_404_not_found_with_intercoms_message(client):
    with pytest.raises(NotFoundError) as info:
        await client.get_company("6762f0761bb69f9f2193bae2")
    assert info.value.status == 404 and info.value.message == "Company Not Found"
    assert info.value.body["errors"][0]["code"] == "company_not_found"


async def test_bad_payload_is_fatal_with_message(client):
    with pytest.raises(FatalError) as info:
        await client.upsert_company({"company_id": "B", "test": "invalid"})
    assert info.value.status == 400 and info.value.message == "bad 'test' parameter"


async def test_data_event_accepted(client, url):
    await client.create_contact({"email": "ops@acme.example", "external_id": "u-1"})
    result = await client.create_data_event("invoice-paid", 1717000000, user_id="u-1",
                                            metadata={"invoice": "INV-1", "amount": "120.50"})
    assert result is None
    events = control(url, "records/events")["events"]
    assert events[0]["event_name"] == "invoice-paid" and events[0]["metadata"]["invoice"] == "INV-1"
    with pytest.raises(ValueError):
        await client.create_data_event("x", 1)


async def test_data_event_status_is_202(url):
    r = httpx.post(f"{url}/events", json={"event_name": "e", "created_at": 1, "email": "a@b.example"},
                   headers={"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"})
    assert r.status_code == 202 and r.content == b""
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)


async def test_contacts_create_search_and_conflict(client):
    contact = await client.create_contact({"email": "cs@kestrel.example", "name": "Kim"})
    assert contact["type"] == "contact" and contact["role"] == "user"
    found = await client.search_contacts("cs@kestrel.example")
    assert [c["id"] for c in found] == [contact["id"]]
    assert await client.search_contacts("nobody@kestrel.example") == []
    with pytest.raises(FatalError) as info:
        await client.create_contact({"email": "cs@kestrel.example"})
    assert info.value.status == 409 and contact["id"] in info.value.message


async def test_ticket_and_tags(client):
    company = await client.upsert_company({"company_id": "T-1", "name": "Ticketed"})
    contact = await client.create_contact({"email": "t@ticketed.example"})
    ticket = await client.create_ticket("1", [{"id": contact["id"]}], title="Onboarding kickoff",
                                        description="Schedule the kickoff", company_id=company["id"])
    assert ticket["type"] == "ticket" and ticket["ticket_attributes"]["_default_title_"] == "Onboarding kickoff"
    tag = await client.create_tag("At risk")
    again = await client.tag_companies("at risk", [company["id"]])
    assert again["id"] == tag["id"]
    assert (await client.get_company(company["id"]))["tags"]["tags"][0]["name"] == "At risk"


async def test_flaky_5xx_is_downstream_error(client, url):
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "flaky5xx", "error_rate": 1.0}).raise_for_status()
    with pytest.raises(DownstreamError) as info:
        await client.get_company("x")
    assert info.value.status == 503 and "temporarily unavailable" in info.value.message


def test_vendor_profile_enforces_the_10s_window():
    sandbox = IntercomSandbox(profile="vendor")
    for _ in range(VENDOR_LIMIT):
        assert sandbox.window.hit(True)[0]
    allowed, limit, remaining, reset = sandbox.window.hit(True)
    if int(time.time() // 10) * 10 + 10 == reset:  # same window (not crossed a 10 s boundary meanwhile)
        assert (allowed, limit, remaining) == (False, 1667, 0)
    assert sandbox.window.hit(False)[1] == 100_000


async def test_vendor_profile_429_over_http():
    sandbox = IntercomSandbox(token=TOKEN, profile="vendor")
    sandbox.window.window_start = int(time.time() // 10) * 10
    sandbox.window.used = VENDOR_LIMIT
    transport = httpx.ASGITransport(app=checked(sandbox.app, "intercom"))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
        r = await c.get("/companies", headers={"Authorization": f"Bearer {TOKEN}"})
        if sandbox.window.window_start == int(time.time() // 10) * 10:
            assert r.status_code == 429 and r.headers["x-ratelimit-remaining"] == "0"
            assert r.json()["errors"][0]["code"] == "rate_limit_exceeded"
        r = await c.get("/companies", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "x-ratelimit-limit" not in r.headers
