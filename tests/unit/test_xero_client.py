"""XeroClient against the Xero sandbox over real HTTP (uvicorn on loopback), no engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors.errors import AuthError, DownstreamError, FatalError, NotFoundError, RateLimitedError
from connectors.http import call_recorder
from connectors.pagination import XeroPages, parse_xero_date
from connectors.ratelimit import VirtualClock
from connectors.sandbox import SlidingWindow, serve_in_thread
from connectors.xero import CONNECTOR
from connectors.xero.client import XeroClient
from connectors.xero.sandbox import XeroSandbox
from connectors.xero.sandbox_limits import VENDOR_LIMITS
from tests.sandbox_contract import checked

TOKEN, TENANT = "sandbox-xero-token", "sandbox-tenant"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def served():
    sandbox = XeroSandbox(token=TOKEN, tenant_id=TENANT)
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def sandbox(served):
    sandbox, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "demo"}).raise_for_status()
    return sandbox


@pytest.fixture
def url(served, sandbox):
    return served[1]


@pytest.fixture
async def client(url):
    c = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT)
    yield c
    await c.aclose()


def control(url: str, path: str) -> dict | list:
    return httpx.get(f"{url}/_sandbox/{path}").json()


def quote_body(contact_id: str, **extra) -> dict:
    return {"Contact": {"ContactID": contact_id}, "Date": "2024-05-01",
            "LineItems": [{"Description": "Annual licence", "Quantity": 3, "UnitAmount": 19.99}], **extra}


async def test_create_contact_sends_headers_and_logs_the_write(client, url):
    contact = await client.upsert_contact({"Name": "Acme Ltd", "EmailAddress": "ap@acme.example"},
                                          idempotency_key="contact:acme", traceparent=TRACEPARENT)
    assert contact["Name"] == "Acme Ltd" and contact["ContactStatus"] == "ACTIVE"
    assert contact["UpdatedDateUTC"].startswith("/Date(") and contact["UpdatedDateUTC"].endswith("+0000)/")
    assert control(url, "state")["counts"] == {"contacts": 1, "quotes": 0, "invoices": 0}
    [write] = control(url, "writes")
    assert isinstance(write["seq"], int) and abs(write["at"] - time.time()) < 5
    assert write == {**write, "method": "POST", "path": "/api.xro/2.0/Contacts",
                     "idempotency_key": "contact:acme", "traceparent": TRACEPARENT, "status": 200, "replayed": False}
    assert client.rate_limit.minute_remaining is not None and client.rate_limit.day_remaining is not None
    assert client.rate_limit.app_minute_remaining is not None
    assert (await client.get_contact(contact["ContactID"]))["Name"] == "Acme Ltd"


async def test_duplicate_name_is_a_fatal_error_with_xeros_message(client, url):
    await client.upsert_contact({"Name": "Acme Ltd"}, idempotency_key="k1")
    with pytest.raises(FatalError) as info:
        await client.upsert_contact({"Name": "Acme Ltd"}, idempotency_key="k2")
    err = info.value
    assert err.status == 400 and err.category == "rejected_by_target" and not err.retriable
    assert err.message == ("The contact name Acme Ltd is already assigned to another contact. "
                           "The contact name must be unique across all active contacts.")
    assert control(url, "state")["counts"]["contacts"] == 1


async def test_idempotent_replay_returns_the_same_contact_and_creates_one(client, url):
    first = await client.upsert_contact({"Name": "Replay Co"}, idempotency_key="same-key")
    again = await client.upsert_contact({"Name": "Replay Co"}, idempotency_key="same-key")
    assert again == first
    state = control(url, "state")
    assert state["counts"]["contacts"] == 1
    assert state["writes"] == 2 and state["replays"] == 1
    writes = control(url, "writes")
    assert [w["replayed"] for w in writes] == [False, True]
    first_seq = writes[0]["seq"]  # seq keeps rising across resets, so pollers never go backwards
    assert [w["seq"] for w in control(url, f"writes?since={first_seq}")] == [first_seq + 1]


async def test_update_contact_by_id_keeps_one_record(client, url):
    created = await client.upsert_contact({"Name": "Old Name"}, idempotency_key="c1")
    updated = await client.upsert_contact({"ContactID": created["ContactID"], "Name": "New Name"}, idempotency_key="c2")
    assert updated["ContactID"] == created["ContactID"] and updated["Name"] == "New Name"
    # the old name is free again
    await client.upsert_contact({"Name": "Old Name"}, idempotency_key="c3")
    assert control(url, "state")["counts"]["contacts"] == 2


async def test_quote_draft_sent_accepted(client, url):
    contact = await client.upsert_contact({"Name": "Quote Buyer"}, idempotency_key="c")
    cid = contact["ContactID"]
    quote = await client.create_quote(quote_body(cid), idempotency_key="q:create", traceparent=TRACEPARENT)
    assert quote["Status"] == "DRAFT" and quote["QuoteNumber"] == "QU-0001"
    assert (quote["SubTotal"], quote["TotalTax"], quote["Total"]) == (59.97, 0.0, 59.97)
    qid = quote["QuoteID"]
    sent = await client.update_quote(qid, {"Contact": {"ContactID": cid}, "Date": "2024-05-01", "Status": "SENT"},
                                     idempotency_key="q:sent")
    assert sent["Status"] == "SENT"
    accepted = await client.update_quote(qid, {"Contact": {"ContactID": cid}, "Date": "2024-05-01",
                                               "Status": "ACCEPTED"}, idempotency_key="q:accepted")
    assert accepted["Status"] == "ACCEPTED" and accepted["QuoteID"] == qid and accepted["Total"] == 59.97
    assert (await client.get_quote(qid))["Status"] == "ACCEPTED"
    assert control(url, "state")["counts"]["quotes"] == 1


async def test_invalid_quote_transition_is_rejected(client, url):
    cid = (await client.upsert_contact({"Name": "Skipper"}, idempotency_key="c"))["ContactID"]
    qid = (await client.create_quote(quote_body(cid), idempotency_key="q"))["QuoteID"]
    with pytest.raises(FatalError) as info:
        await client.update_quote(qid, {"Contact": {"ContactID": cid}, "Date": "2024-05-01", "Status": "ACCEPTED"},
                                  idempotency_key="q:accept-from-draft")
    assert info.value.status == 400 and info.value.category == "rejected_by_target"
    assert info.value.message == "The quote status cannot be changed from DRAFT to ACCEPTED."
    assert (await client.get_quote(qid))["Status"] == "DRAFT"


async def test_quote_update_without_contact_and_date_is_rejected(client):
    cid = (await client.upsert_contact({"Name": "Lazy"}, idempotency_key="c"))["ContactID"]
    qid = (await client.create_quote(quote_body(cid), idempotency_key="q"))["QuoteID"]
    with pytest.raises(FatalError) as info:
        await client.update_quote(qid, {"Status": "SENT"}, idempotency_key="q:sent")
    assert "A Contact must be specified" in info.value.message and "Date must be specified" in info.value.message


async def test_quote_for_unknown_contact_is_rejected(client, url):
    with pytest.raises(FatalError) as info:
        await client.create_quote(quote_body("6a65f055-b0e0-471a-a933-d1ffdd89393f"), idempotency_key="q")
    assert info.value.status == 400 and "could not be found" in info.value.message
    assert control(url, "state")["counts"]["quotes"] == 0


async def test_invoice_creation(client, url):
    cid = (await client.upsert_contact({"Name": "Invoicee"}, idempotency_key="c"))["ContactID"]
    invoice = await client.create_invoice({
        "Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2024-05-01", "DueDate": "2024-05-31",
        "Status": "AUTHORISED", "Reference": "Q-1001", "CurrencyCode": "EUR",
        "LineItems": [{"Description": "Licence", "Quantity": 2, "UnitAmount": 1234.565, "TaxType": "OUTPUT"}],
    }, idempotency_key="inv:1", traceparent=TRACEPARENT)
    assert invoice["InvoiceNumber"] == "INV-0001" and invoice["Status"] == "AUTHORISED"
    assert invoice["Reference"] == "Q-1001" and invoice["CurrencyCode"] == "EUR"
    # 2 x 1234.565 = 2469.13 exclusive; 15% OUTPUT tax = 370.3695 -> 370.37
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"], invoice["AmountDue"]) == \
        (2469.13, 370.37, 2839.5, 2839.5)
    assert invoice["DueDate"] == "/Date(1717113600000+0000)/"
    assert (await client.get_invoice(invoice["InvoiceID"]))["InvoiceNumber"] == "INV-0001"
    assert (await client.get_contact(cid))["IsCustomer"] is True
    assert control(url, "state")["counts"]["invoices"] == 1


async def test_list_contacts_pages_and_modified_since(client):
    for i in range(3):
        await client.upsert_contact({"Name": f"Lister {i}"}, idempotency_key=f"l{i}")
    page = await client.list_contacts(page=1)
    assert [c["Name"] for c in page] == ["Lister 0", "Lister 1", "Lister 2"]
    assert await client.list_contacts(page=2) == []
    assert [c["Name"] for c in await client.list_contacts(where='Name=="Lister 1"')] == ["Lister 1"]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await client.list_contacts(modified_since=future) == []
    assert len([c async for c in client.iter_contacts()]) == 3


async def test_429_storm_raises_rate_limited_with_retry_after(url):
    clock = VirtualClock()
    client = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT, clock=clock)
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "storm429", "storm": 1, "retry_after": 7}).raise_for_status()
    try:
        with pytest.raises(RateLimitedError) as info:
            await client.upsert_contact({"Name": "Stormy"}, idempotency_key="s")
        err = info.value
        assert err.status == 429 and err.retry_after == 7 and err.category == "rate_limit" and err.retriable
        assert client.rate_limit.problem == "minute" and client.rate_limit.throttled == 1
        assert err.message == "rate limit exceeded (minute limit)"
        # the governor waits out the Retry-After (7 virtual seconds) before the next call, which succeeds
        await client.upsert_contact({"Name": "Stormy"}, idempotency_key="s")
        assert clock.sleeps == [7.0]
    finally:
        await client.aclose()
    state = control(url, "state")
    assert state["counts"]["contacts"] == 1 and state["writes"] == 1 and state["faults"]["injected_429"] == 1


async def test_wrong_token_is_auth_error(url):
    c = XeroClient(f"{url}/api.xro/2.0", token="wrong", tenant_id=TENANT)
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        with pytest.raises(AuthError) as info:
            await c.get_contact("6a65f055-b0e0-471a-a933-d1ffdd89393f")
    finally:
        call_recorder.reset(token)
        await c.aclose()
    assert info.value.status == 401 and info.value.category == "auth"
    assert not info.value.retriable and len(recorded) == 1  # one request; the engine never retries it
    assert info.value.message == "Unauthorized: AuthenticationUnsuccessful"


async def test_wrong_tenant_is_auth_error(url):
    c = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id="someone-else")
    try:
        with pytest.raises(AuthError) as info:
            await c.upsert_contact({"Name": "Nope"}, idempotency_key="x")
    finally:
        await c.aclose()
    assert info.value.status == 403 and info.value.category == "auth"
    assert control(url, "state")["writes"] == 0


async def test_5xx_is_downstream_error(client, url):
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "flaky5xx", "error_rate": 1.0}).raise_for_status()
    with pytest.raises(DownstreamError) as info:
        await client.upsert_contact({"Name": "Down"}, idempotency_key="d")
    assert info.value.status == 503 and info.value.category == "downstream_5xx" and info.value.retriable
    assert control(url, "state")["counts"]["contacts"] == 0


async def test_unknown_id_is_not_found(client):
    with pytest.raises(NotFoundError) as info:
        await client.get_invoice("6a65f055-b0e0-471a-a933-d1ffdd89393f")
    assert info.value.status == 404 and info.value.category == "rejected_by_target"


async def test_an_id_addresses_only_its_own_resource(client):
    """An id is one path segment, percent-encoded: '../' in it cannot climb to another collection
    (unencoded, GET /Invoices/../Contacts is GET /Contacts, which lists contacts), nor '?' start a query."""
    await client.upsert_contact({"Name": "Someone Else"}, idempotency_key="other")
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        for bad_id in ("../Contacts", "x?where=Name!=null", "a/b#c"):
            with pytest.raises(NotFoundError) as info:
                await client.get_invoice(bad_id)
            assert info.value.status == 404
    finally:
        call_recorder.reset(token)
    assert [c.url.split("/api.xro/2.0", 1)[1] for c in recorded] == [
        "/Invoices/..%2FContacts", "/Invoices/x%3Fwhere%3DName%21%3Dnull", "/Invoices/a%2Fb%23c"]


async def test_vendor_profile_enforces_the_minute_limit(url):
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "vendor"}).raise_for_status()
    headers = {"Authorization": f"Bearer {TOKEN}", "xero-tenant-id": TENANT}
    with httpx.Client(base_url=f"{url}/api.xro/2.0", headers=headers) as http:
        answers = [http.get("/Invoices/6a65f055-b0e0-471a-a933-d1ffdd89393f") for _ in range(61)]
    assert [a.status_code for a in answers[:60]] == [404] * 60
    assert answers[59].headers["X-MinLimit-Remaining"] == "0"
    last = answers[60]
    assert last.status_code == 429 and last.headers["X-Rate-Limit-Problem"] == "minute"
    assert int(last.headers["Retry-After"]) >= 1


def _age(window: SlidingWindow, seconds: float) -> None:
    """Let ``seconds`` pass for a sandbox's sliding window (its hits become that much older)."""
    for key, hits in window._hits.items():
        window._hits[key] = [t - seconds for t in hits]


async def test_governor_waits_instead_of_a_429_when_the_minute_budget_is_nearly_spent(sandbox, url):
    """Xero's 60 a minute with 57 spent: six more calls would meet a 429 at the fourth; the governor sees
    the budget at its reserve and waits out the minute instead."""
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "vendor"}).raise_for_status()
    minute = sandbox.limits.minute[TENANT] = SlidingWindow(VENDOR_LIMITS["minute"], 60)
    for _ in range(VENDOR_LIMITS["minute"] - 3):
        minute.hit(TENANT)
    clock = VirtualClock(on_sleep=lambda s: _age(minute, s))
    client = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT, clock=clock)
    try:
        for _ in range(6):
            assert await client.get_tax_rates()
    finally:
        await client.aclose()
    assert clock.sleeps == [60.0]  # one wait: the minute from the first answer seen
    assert client.rate_limit.throttled == 0 and sandbox.limits.rejected == 0


async def test_iter_contacts_crosses_pages_once_each_then_syncs_incrementally(client):
    names = [f"Paged {i}" for i in range(7)]
    for i, name in enumerate(names):
        await client.upsert_contact({"Name": name}, idempotency_key=f"p{i}")
    pages = XeroPages(page_size=3)
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        seen = [c async for c in client.iter_contacts(pages=pages)]
    finally:
        call_recorder.reset(token)
    assert len(recorded) == 3 and [r.url.split("?")[1] for r in recorded] == [
        "page=1&pageSize=3", "page=2&pageSize=3", "page=3&pageSize=3"]
    assert [c["Name"] for c in seen] == names and len({c["ContactID"] for c in seen}) == 7  # each exactly once
    since = pages.latest_modified
    assert since == max(parse_xero_date(c["UpdatedDateUTC"]) for c in seen)
    changed = await client.upsert_contact({"ContactID": seen[0]["ContactID"], "Name": "Paged 0 (renamed)"},
                                          idempotency_key="p0-renamed")
    later = XeroPages(page_size=3, modified_since=since)
    delta = [c async for c in client.iter_contacts(pages=later)]
    assert changed["ContactID"] in {c["ContactID"] for c in delta}
    assert all(parse_xero_date(c["UpdatedDateUTC"]) >= since for c in delta)
    assert later.latest_modified >= since


def test_connector_builds_client_and_sandbox():
    assert (CONNECTOR.name, CONNECTOR.role) == ("xero", "erp")
    sandbox = CONNECTOR.sandbox(profile="unthrottled")
    assert sandbox.faults.profile == "unthrottled" and sandbox.describe()["counts"]["contacts"] == 0
    client = CONNECTOR.client("http://127.0.0.1:1/api.xro/2.0", token="t", transport="httpx", tenant_id="x")
    assert isinstance(client, XeroClient) and client.tenant_id == "x"
