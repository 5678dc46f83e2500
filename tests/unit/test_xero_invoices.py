"""A contact's invoices: GET /Invoices with Xero's ContactIDs, Statuses and page parameters (getInvoices),
XeroClient.iter_invoices against the Xero sandbox over real HTTP (uvicorn on loopback, contract-checked)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from connectors.errors import FatalError
from connectors.http import call_recorder
from connectors.sandbox import serve_in_thread
from connectors.xero.client import XeroClient
from connectors.xero.sandbox import XeroSandbox
from tests.sandbox_contract import checked

TOKEN, TENANT = "sandbox-xero-token", "sandbox-tenant"
LINES = [{"Description": "Support plan", "Quantity": 1, "UnitAmount": 100, "TaxType": "OUTPUT"}]
ACCOUNT = {"Code": "090"}
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Xero-Tenant-Id": TENANT, "Accept": "application/json"}


@pytest.fixture(scope="module")
def served():
    sandbox = XeroSandbox(token=TOKEN, tenant_id=TENANT)
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def url(served):
    httpx.post(f"{served[1]}/_sandbox/reset").raise_for_status()
    return served[1]


@pytest.fixture
async def client(url):
    c = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT)
    yield c
    await c.aclose()


async def _contact(client, name: str) -> str:
    return (await client.upsert_contact({"Name": name}, idempotency_key=f"c-{name}"))["ContactID"]


async def _invoice(client, contact_id: str, key: str, status: str = "AUTHORISED") -> dict:
    return await client.create_invoice({"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Date": "2024-05-01",
                                        "DueDate": "2024-05-31", "Status": status, "LineItems": LINES},
                                       idempotency_key=key)


async def test_iter_invoices_filters_by_contact_and_status_across_pages(client):
    big, small, other = [await _contact(client, name) for name in ("Big Co", "Small Co", "Other Co")]
    big_ids = [(await _invoice(client, big, f"big-{i}"))["InvoiceID"] for i in range(101)]
    draft = await _invoice(client, small, "small-draft", status="DRAFT")
    paid = await _invoice(client, small, "small-paid")
    await client.create_payment({"Invoice": {"InvoiceID": paid["InvoiceID"]}, "Account": ACCOUNT,
                                 "Date": "2024-05-20", "Amount": paid["AmountDue"]}, idempotency_key="pay")
    await _invoice(client, other, "other-1")

    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        got = [inv async for inv in client.iter_invoices(contact_ids=[big])]
    finally:
        call_recorder.reset(token)
    assert [inv["InvoiceID"] for inv in got] == big_ids  # 101: a page of 100, then a short one
    assert len(recorded) == 2
    queries = [dict(httpx.URL(r.url).params) for r in recorded]
    assert queries == [{"ContactIDs": big, "page": "1"}, {"ContactIDs": big, "page": "2"}]

    both = [inv async for inv in client.iter_invoices(contact_ids=[small, other], statuses=["AUTHORISED", "PAID"])]
    assert sorted(inv["Contact"]["Name"] for inv in both) == ["Other Co", "Small Co"]
    settled = [inv async for inv in client.iter_invoices(contact_ids=[small], statuses=["PAID"])]
    assert [inv["InvoiceID"] for inv in settled] == [paid["InvoiceID"]]
    assert settled[0]["FullyPaidOnDate"] == "/Date(1716163200000+0000)/"  # 2024-05-20: Xero's field once PAID
    drafts = [inv async for inv in client.iter_invoices(statuses=["DRAFT"])]
    assert [inv["InvoiceID"] for inv in drafts] == [draft["InvoiceID"]]
    assert len([inv async for inv in client.iter_invoices()]) == 104
    assert [inv async for inv in client.iter_invoices(contact_ids=[str(uuid.uuid4())])] == []

    recorded = []
    token = call_recorder.set(recorded)
    try:
        assert [inv async for inv in client.iter_invoices(contact_ids=[])] == []
    finally:
        call_recorder.reset(token)
    assert recorded == []  # no contacts: no request


async def test_invoices_query_parameters_over_http(client, url):
    cid = await _contact(client, "Query Co")
    inv = await _invoice(client, cid, "q-1")
    base = f"{url}/api.xro/2.0/Invoices"
    async with httpx.AsyncClient(headers=HEADERS) as http:
        r = await http.get(base, params={"ContactIDs": f"{cid},{uuid.uuid4()}", "Statuses": "AUTHORISED,PAID",
                                         "page": 1})
        assert r.status_code == 200
        body = r.json()
        assert [i["InvoiceID"] for i in body["Invoices"]] == [inv["InvoiceID"]]
        assert body["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 1}
        r = await http.get(base, params={"IDs": inv["InvoiceID"], "InvoiceNumbers": inv["InvoiceNumber"]})
        assert [i["InvoiceID"] for i in r.json()["Invoices"]] == [inv["InvoiceID"]]
        r = await http.get(base, params={"ContactIDs": "not-a-uuid"})
        assert r.status_code == 400 and r.json()["Type"] == "QueryParseException"
    with pytest.raises(FatalError):
        [i async for i in client.iter_invoices(contact_ids=["not-a-uuid"])]
