"""IntercomClient's ticket search, open-ticket counts and ticket updates against the Intercom sandbox over
real HTTP (uvicorn on loopback, behind the contract middleware), no engine."""

from __future__ import annotations

import httpx
import pytest

from connectors.errors import FatalError, NotFoundError
from connectors.http import call_recorder
from connectors.intercom import CONNECTOR
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import serve_in_thread
from tests.sandbox_contract import checked

TOKEN = "sandbox-intercom-token"
DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01


@pytest.fixture(scope="module")
def served():
    sandbox = IntercomSandbox(token=TOKEN)
    server, thread, url = serve_in_thread(checked(sandbox.app, "intercom"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def url(served):
    _, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    httpx.post(f"{url}/_sandbox/faults", json={"profile": "demo"}).raise_for_status()
    return url


@pytest.fixture
async def client(url):
    c = CONNECTOR.client(url, token=TOKEN)
    yield c
    await c.aclose()


def age(url: str, ticket_id: str, created_at: int) -> None:
    httpx.post(f"{url}/_sandbox/tickets/{ticket_id}", json={"created_at": created_at}).raise_for_status()


async def test_count_open_tickets_pages_and_window(client, url):
    alice = await client.create_contact({"email": "alice@renewal.example"})
    bob = await client.create_contact({"email": "bob@renewal.example"})
    carol = await client.create_contact({"email": "carol@elsewhere.example"})
    tickets = {}
    # alice: 160 tickets inside the window (more than one page of 150), one at each edge
    for i in range(160):
        t = await client.create_ticket("2", [{"id": alice["id"]}], title=f"Risk {i}")
        age(url, t["id"], T0 + i)
    t = await client.create_ticket("2", [{"id": alice["id"]}], title="at the start")
    age(url, t["id"], T0 - DAY)  # == created_from: counted
    tickets["start"] = t
    t = await client.create_ticket("2", [{"id": alice["id"]}], title="at the end")
    age(url, t["id"], T0 + 30 * DAY)  # == created_to: not counted
    # bob: one open, one closed; carol: not asked about
    t = await client.create_ticket("3", [{"id": bob["id"]}], title="Billing")
    age(url, t["id"], T0 + 5)
    closed = await client.create_ticket("3", [{"id": bob["id"]}], title="Billing closed")
    age(url, closed["id"], T0 + 6)
    await client.update_ticket(closed["id"], {"open": False})
    t = await client.create_ticket("1", [{"id": carol["id"]}], title="Other customer")
    age(url, t["id"], T0 + 7)

    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        n = await client.count_open_tickets([alice["id"], bob["id"]], T0 - DAY, T0 + 30 * DAY)
    finally:
        call_recorder.reset(token)
    assert n == 160 + 1 + 1
    assert len(recorded) == 2  # 162 matches, 150 a page
    assert await client.count_open_tickets([bob["id"]], T0 - DAY, T0 + 30 * DAY) == 1
    assert await client.count_open_tickets([alice["id"]], T0 + 30 * DAY, T0 + 31 * DAY) == 1
    assert await client.count_open_tickets([carol["id"]], T0 + 8, T0 + DAY) == 0

    recorded = []
    token = call_recorder.set(recorded)
    try:
        assert await client.count_open_tickets([], T0, T0 + DAY) == 0
    finally:
        call_recorder.reset(token)
    assert recorded == []  # no request for no contacts

    # every ticket once across pages through iter_search_tickets
    ids = [t["id"] async for t in client.iter_search_tickets(
        {"field": "contact_ids", "operator": "=", "value": alice["id"]}, per_page=50)]
    assert len(ids) == len(set(ids)) == 162


async def test_search_tickets_one_page_and_a_refused_query(client, url):
    contact = await client.create_contact({"email": "dora@renewal.example"})
    for i in range(3):
        await client.create_ticket("1", [{"id": contact["id"]}], title=f"Kickoff {i}")
    page = await client.search_tickets({"field": "title", "operator": "^", "value": "Kickoff"}, per_page=2)
    assert page["type"] == "ticket.list" and page["total_count"] == 3 and len(page["tickets"]) == 2
    rest = await client.search_tickets({"field": "title", "operator": "^", "value": "Kickoff"}, per_page=2,
                                       starting_after=page["pages"]["next"]["starting_after"])
    assert [t["ticket_attributes"]["_default_title_"] for t in rest["tickets"]] == ["Kickoff 2"]
    with pytest.raises(FatalError) as exc:
        await client.search_tickets({"field": "title", "operator": "LIKE", "value": "Kickoff"})
    assert exc.value.status == 400 and "not supported" in str(exc.value)
    with pytest.raises(FatalError):
        await client.search_tickets({"operator": "OR", "value": [
            {"field": "id", "operator": "=", "value": str(i)} for i in range(16)]})


async def test_update_ticket_closes_and_reopens(client, url):
    contact = await client.create_contact({"email": "erin@renewal.example"})
    ticket = await client.create_ticket("2", [{"id": contact["id"]}], title="Renewal risk")
    resolved = await client.update_ticket(ticket["id"], {"ticket_state_id": "4"})
    assert resolved["open"] is False and resolved["ticket_state"]["category"] == "resolved"
    reopened = await client.update_ticket(ticket["id"], {"open": True})
    assert reopened["open"] is True
    with pytest.raises(NotFoundError):
        await client.update_ticket("424242", {"open": False})
    with pytest.raises(FatalError):
        await client.update_ticket(ticket["id"], {"ticket_state_id": "99"})
