"""Intercom ticket search (searchTickets) and ticket updates (updateTicket) against Intercom's 2.14
description: the sandbox's answers, including its 400s (Intercom's error.list), validated exchange by
exchange; the sandbox's ContractMiddleware checks every answer too."""

from __future__ import annotations

import httpx
import pytest

from connectors.intercom.sandbox import IntercomSandbox
from tests.contract import openapi_support as support
from tests.sandbox_contract import checked

TOKEN = "sandbox-intercom-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}


def validate(response: httpx.Response) -> None:
    support.validate_exchange("intercom", response)


@pytest.fixture(scope="module")
def spec():
    return support.description("intercom")


@pytest.fixture
async def api(spec):
    sandbox = IntercomSandbox(token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked(sandbox.app, "intercom")),
                                 base_url="http://sandbox", headers=HEADERS) as c:
        yield c


async def _tickets(api, n: int, email: str = "search@contract.example", title: str = "Renewal") -> list[dict]:
    r = await api.post("/contacts", json={"email": email})
    contact = r.json()
    out = []
    for i in range(n):
        r = await api.post("/tickets", json={"ticket_type_id": "2", "contacts": [{"id": contact["id"]}],
                                             "ticket_attributes": {"_default_title_": f"{title} {i}"}})
        assert r.status_code == 200
        out.append(r.json())
    return out


def _error(r: httpx.Response, code: str) -> dict:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == code, body
    validate(r)
    return body


async def test_search_tickets_filters_pages_and_errors(api):
    made = await _tickets(api, 5)
    other = await _tickets(api, 1, email="other@contract.example", title="Billing")
    contact_id = made[0]["contacts"]["contacts"][0]["id"]
    await api.post(f"http://sandbox/_sandbox/tickets/{made[0]['id']}", json={"created_at": 1_700_000_000})

    # a single filter; the default page is 20
    r = await api.post("/tickets/search", json={"query": {"field": "contact_ids", "operator": "=", "value": contact_id}})
    validate(r)
    body = r.json()
    assert body["type"] == "ticket.list" and body["total_count"] == 5 and body["pages"]["per_page"] == 20
    assert "next" not in body["pages"] and [t["id"] for t in body["tickets"]] == [t["id"] for t in made]

    # AND of filters, paged 2 at a time through pages.next.starting_after
    query = {"operator": "AND", "value": [
        {"field": "open", "operator": "=", "value": True},
        {"field": "created_at", "operator": ">", "value": 1_700_000_001},
        {"field": "contact_ids", "operator": "IN", "value": [contact_id, "nobody"]}]}
    seen, cursor = [], None
    while True:
        pagination = {"per_page": 2, **({"starting_after": cursor} if cursor else {})}
        r = await api.post("/tickets/search", json={"query": query, "pagination": pagination})
        validate(r)
        page = r.json()
        assert page["total_count"] == 4
        seen += [t["id"] for t in page["tickets"]]
        cursor = (page["pages"].get("next") or {}).get("starting_after")
        if not cursor:
            break
    assert seen == [t["id"] for t in made[1:]]

    # nested groups (2 levels): (title starts "Renewal" AND state submitted) OR (title contains "Billing")
    r = await api.post("/tickets/search", json={"query": {"operator": "OR", "value": [
        {"operator": "AND", "value": [{"field": "title", "operator": "^", "value": "Renewal"},
                                      {"field": "state", "operator": "=", "value": "submitted"}]},
        {"operator": "AND", "value": [{"field": "title", "operator": "~", "value": "Billing"}]}]}})
    validate(r)
    assert r.json()["total_count"] == 6
    # > and < are documented as "greater/lower (or equal) than"; created_at also takes >= and <=
    for op in (">", ">="):
        r = await api.post("/tickets/search", json={"query": {"field": "created_at", "operator": op,
                                                              "value": 1_700_000_000}})
        assert r.json()["total_count"] == 6
    r = await api.post("/tickets/search", json={"query": {"field": "created_at", "operator": "<",
                                                          "value": 1_700_000_000}})
    assert [t["id"] for t in r.json()["tickets"]] == [made[0]["id"]]
    r = await api.post("/tickets/search", json={"query": {"field": "ticket_type_id", "operator": "NIN", "value": ["2"]}})
    assert r.json()["total_count"] == 0
    r = await api.post("/tickets/search", json={"query": {"field": "title", "operator": "$", "value": "Billing 0"}})
    assert [t["id"] for t in r.json()["tickets"]] == [other[0]["id"]]

    # errors: Intercom's error.list with a 400
    _error(await api.post("/tickets/search", json={"query": {"field": "title", "operator": "LIKE", "value": "x"}}),
           "invalid_operator")
    _error(await api.post("/tickets/search", json={"query": {"field": "open", "operator": ">", "value": True}}),
           "invalid_operator")
    _error(await api.post("/tickets/search", json={"query": {"operator": "XOR", "value": [
        {"field": "open", "operator": "=", "value": True}]}}), "invalid_operator")
    _error(await api.post("/tickets/search", json={"query": {"field": "colour", "operator": "=", "value": "red"}}),
           "invalid_field")
    _error(await api.post("/tickets/search", json={"query": {"field": "created_at", "operator": ">", "value": "soon"}}),
           "invalid_field")
    sixteen = [{"field": "id", "operator": "!=", "value": str(i)} for i in range(16)]
    body = _error(await api.post("/tickets/search", json={"query": {"operator": "AND", "value": sixteen}}),
                  "parameter_invalid")
    assert "15" in body["errors"][0]["message"]
    r = await api.post("/tickets/search", json={"query": {"operator": "AND", "value": sixteen[:15]}})
    assert r.status_code == 200
    leaf = {"field": "open", "operator": "=", "value": True}
    three_deep = {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}]}
    _error(await api.post("/tickets/search", json={"query": three_deep}), "parameter_invalid")
    _error(await api.post("/tickets/search", json={"query": leaf, "pagination": {"per_page": 151}}), "parameter_invalid")
    _error(await api.post("/tickets/search", json={"query": leaf, "pagination": {"starting_after": "nope!"}}),
           "parameter_invalid")
    r = await api.post("/tickets/search", json={"pagination": {"per_page": 5}})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "parameter_not_found"


async def test_update_ticket_states_and_errors(api):
    ticket = (await _tickets(api, 1))[0]
    assert ticket["open"] is True and ticket["ticket_state"]["category"] == "submitted"
    r = await api.put(f"/tickets/{ticket['id']}", json={"ticket_state_id": "2",
                                                        "ticket_attributes": {"_default_title_": "Renewal call"}})
    validate(r)
    assert r.json()["ticket_state"]["category"] == "in_progress" and r.json()["open"] is True
    assert r.json()["ticket_attributes"]["_default_title_"] == "Renewal call"
    r = await api.put(f"/tickets/{ticket['id']}", json={"ticket_state_id": "4"})  # resolved closes it
    validate(r)
    assert r.json()["open"] is False and r.json()["ticket_state"]["category"] == "resolved"
    r = await api.put(f"/tickets/{ticket['id']}", json={"open": True})
    validate(r)
    assert r.json()["open"] is True and r.json()["ticket_state"]["category"] == "submitted"
    r = await api.put(f"/tickets/{ticket['id']}", json={"open": False})
    validate(r)
    assert r.json()["open"] is False and r.json()["ticket_state"]["category"] == "resolved"
    r = await api.post("/tickets/search", json={"query": {"field": "state", "operator": "=", "value": "resolved"}})
    assert [t["id"] for t in r.json()["tickets"]] == [ticket["id"]]

    body = _error(await api.put(f"/tickets/{ticket['id']}", json={"ticket_state_id": "0"}), "ticket_state_id_invalid")
    assert body["errors"][0]["message"].startswith("Ticket state id is not valid")
    _error(await api.put(f"/tickets/{ticket['id']}", json={"state": "resolved"}), "bad_request")  # not in 2.14
    r = await api.put("/tickets/999999", json={"open": False})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "ticket_not_found"
    validate(r)


async def test_sandbox_control_ages_a_ticket(api):
    ticket = (await _tickets(api, 1))[0]
    r = await api.post(f"http://sandbox/_sandbox/tickets/{ticket['id']}", json={"created_at": 1_600_000_000})
    assert r.status_code == 200 and r.json()["created_at"] == 1_600_000_000
    assert (await api.post("http://sandbox/_sandbox/tickets/nope", json={"created_at": 1})).status_code == 404
    assert (await api.post(f"http://sandbox/_sandbox/tickets/{ticket['id']}", json={"open": False})).status_code == 400
