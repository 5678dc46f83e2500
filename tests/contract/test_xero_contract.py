"""The Xero sandbox's responses and XeroClient's requests, validated against Xero's own OpenAPI description.

openapi-core's core validators (not its Starlette integration). The spec's known defect (SOURCE.txt:
boolean fields carrying the strings "false"/"true" as default and example) is tolerated by JSON
pointer, one pointer at a time, and nothing broader: each listed pointer must exist and hold a string.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import httpx
import pytest

from tests.contract import openapi_support as support

from connectors.sandbox import serve_in_thread
from connectors.xero.client import XeroClient
from connectors.xero.sandbox import XeroSandbox

# openapi-core cannot check OAuth2 security schemes; the tests assert the bearer header themselves.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")

TOKEN, TENANT = "sandbox-xero-token", "sandbox-tenant"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "xero-tenant-id": TENANT}
SPEC_HOST = "https://api.xero.com"

# SOURCE.txt: "some boolean fields carry string defaults ("false")": exactly these, by JSON pointer.
_BOOLEAN_STRING_FIELDS = {
    "Account": ["HasAttachments"], "BankTransaction": ["HasAttachments"],
    "BankTransfer": ["FromIsReconciled", "ToIsReconciled", "HasAttachments"],
    "Contact": ["HasAttachments", "HasValidationErrors"], "CreditNote": ["HasAttachments", "HasErrors"],
    "Invoice": ["HasAttachments", "HasErrors"], "ManualJournal": ["HasAttachments"],
    "Overpayment": ["HasAttachments"], "Payment": ["HasAccount", "HasValidationErrors"],
    "Prepayment": ["HasAttachments"], "PurchaseOrder": ["HasAttachments"], "Receipt": ["HasAttachments"],
    "RepeatingInvoice": ["HasAttachments", "ApprovedForSending", "SendCopy", "MarkAsSent", "IncludePDF"],
}
KNOWN_DEFECTS = tuple(
    f"/components/schemas/{schema}/properties/{prop}/{key}"
    for schema, props in _BOOLEAN_STRING_FIELDS.items() for prop in props for key in ("default", "example")
)


def spec_dir() -> Path:
    return support.spec_dir("xero", "xero_accounting.yaml")


_resolve = support.resolve


@cache
def openapi():
    """Xero's Accounting spec, its known defects patched by pointer, validated and loaded once."""
    import yaml
    from openapi_core import OpenAPI

    path = spec_dir() / "xero_accounting.yaml"
    if not path.exists():
        pytest.skip(f"Xero spec not found at {path} (set OPSCONSOLE_SPECS)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as fh:
        doc = yaml.load(fh, Loader=loader)
    for pointer in KNOWN_DEFECTS:
        parent, key = _resolve(doc, pointer)
        assert isinstance(parent.get(key), str), f"known defect at {pointer} is gone: drop it from the list"
        parent[key] = parent[key] == "true"
    return OpenAPI.from_dict(doc)


def SpecRequest(method: str, url: str, headers: dict[str, str], body: bytes | None) -> support.SpecRequest:
    return support.SpecRequest(method, url, headers, body, host_url=SPEC_HOST)


def validate(response: httpx.Response) -> None:
    support.validate_exchange(openapi(), response, SPEC_HOST)


@pytest.fixture(scope="module")
def spec():
    return openapi()


@pytest.fixture
async def api(spec):
    sandbox = XeroSandbox(token=TOKEN, tenant_id=TENANT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app),
                                 base_url="http://sandbox/api.xro/2.0", headers=HEADERS) as c:
        yield c


async def _contact(api, name="Contract Co", **extra) -> dict:
    r = await api.put("/Contacts", json={"Contacts": [{"Name": name, **extra}]}, headers={"Idempotency-Key": name})
    validate(r)
    return r.json()["Contacts"][0]


QUOTE_LINES = [{"Description": "Annual licence", "Quantity": 2, "UnitAmount": 120.5, "TaxType": "OUTPUT"}]


async def test_contacts_create_get_list_and_duplicate(api):
    contact = await _contact(api, EmailAddress="ap@contract.example", ContactNumber="CRM-1",
                             Addresses=[{"AddressType": "POBOX", "City": "Wellington", "Country": "NZ"}])
    r = await api.get(f"/Contacts/{contact['ContactID']}")
    validate(r)
    r = await api.get("/Contacts", params={"page": 1})
    validate(r)
    assert r.json()["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 1}
    r = await api.post(f"/Contacts/{contact['ContactID']}", json={"Contacts": [{"Name": "Renamed Co"}]})
    validate(r)
    r = await api.post("/Contacts", json={"Contacts": [{"Name": "renamed co"}]})
    assert r.status_code == 400
    validate(r)
    assert r.json()["Elements"][0]["ValidationErrors"][0]["Message"].startswith("The contact name renamed co is")


async def test_quotes_lifecycle_and_rejection(api):
    cid = (await _contact(api))["ContactID"]
    r = await api.put("/Quotes", json={"Quotes": [{"Contact": {"ContactID": cid}, "Date": "2024-05-01",
                                                   "ExpiryDate": "2024-06-01", "LineItems": QUOTE_LINES}]})
    validate(r)
    quote = r.json()["Quotes"][0]
    assert (quote["SubTotal"], quote["TotalTax"], quote["Total"]) == (241.0, 36.15, 277.15)
    for status in ("SENT", "ACCEPTED"):
        r = await api.post(f"/Quotes/{quote['QuoteID']}", json={"Quotes": [
            {"Contact": {"ContactID": cid}, "Date": "2024-05-01", "Status": status}]})
        validate(r)
        assert r.json()["Quotes"][0]["Status"] == status
    r = await api.post(f"/Quotes/{quote['QuoteID']}", json={"Quotes": [
        {"Contact": {"ContactID": cid}, "Date": "2024-05-01", "Status": "DRAFT"}]})
    assert r.status_code == 400
    validate(r)
    r = await api.get(f"/Quotes/{quote['QuoteID']}")
    validate(r)
    r = await api.get("/Quotes", params={"page": 1})
    validate(r)


async def test_invoices_create_get_list(api):
    cid = (await _contact(api))["ContactID"]
    body = {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2024-05-01",
                          "DueDate": "2024-05-31", "Status": "AUTHORISED", "Reference": "Q-1",
                          "LineAmountTypes": "Inclusive", "LineItems": QUOTE_LINES}]}
    r = await api.put("/Invoices", json=body, headers={"Idempotency-Key": "inv-1"})
    validate(r)
    invoice = r.json()["Invoices"][0]
    assert invoice["LineAmountTypes"] == "Inclusive" and invoice["Total"] == 241.0
    r = await api.put("/Invoices", json=body, headers={"Idempotency-Key": "inv-1"})
    validate(r)
    assert r.json()["Invoices"][0]["InvoiceID"] == invoice["InvoiceID"]
    r = await api.get(f"/Invoices/{invoice['InvoiceID']}")
    validate(r)
    r = await api.get("/Invoices", params={"page": 1})
    validate(r)
    r = await api.put("/Invoices", json={"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": cid},
                                                       "InvoiceNumber": invoice["InvoiceNumber"]}]})
    assert r.status_code == 400
    validate(r)
    assert r.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]


def test_the_validator_has_teeth(spec):
    from openapi_core.exceptions import OpenAPIError

    request = httpx.Request("GET", "http://sandbox/api.xro/2.0/Quotes/6a65f055-b0e0-471a-a933-d1ffdd89393f",
                            headers=HEADERS)
    bad = httpx.Response(200, json={"Quotes": [{"Status": "APPROVED", "Total": "12.00"}]}, request=request)
    with pytest.raises(OpenAPIError):
        validate(bad)


async def test_tax_rates(api):
    r = await api.get("/TaxRates")
    validate(r)
    assert {t["TaxType"] for t in r.json()["TaxRates"]} >= {"OUTPUT", "INPUT", "NONE"}


async def test_undocumented_statuses_keep_xeros_shapes(api):
    """401/403/404/429 are not in the spec: check the shapes and headers Xero sends."""
    r = await api.get("/Contacts", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["Title"] == "Unauthorized"
    r = await api.get("/Contacts", headers={"xero-tenant-id": "other"})
    assert r.status_code == 403 and r.json()["Detail"] == "AuthenticationUnsuccessful"
    r = await api.get("/Invoices/6a65f055-b0e0-471a-a933-d1ffdd89393f")
    assert r.status_code == 404 and "cannot be found" in r.text
    assert {"x-minlimit-remaining", "x-daylimit-remaining", "x-appminlimit-remaining"} <= set(r.headers)
    await api.post("http://sandbox/_sandbox/faults", json={"profile": "storm429", "storm": 1, "retry_after": 7})
    r = await api.get("/Contacts")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.headers["x-rate-limit-problem"] == "minute" and r.headers["content-type"].startswith("text/plain")


@pytest.fixture(scope="module")
def recorded():
    """A served sandbox whose ASGI wrapper records every request the client sends."""
    sandbox = XeroSandbox(token=TOKEN, tenant_id=TENANT)
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def recorder(scope, receive, send):
        if scope["type"] != "http":
            return await sandbox.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        query = scope["query_string"].decode()
        url = f"{SPEC_HOST}{scope['path']}" + (f"?{query}" if query else "")
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append((scope["method"], url, headers, body))
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await sandbox.app(scope, replay, send)

    server, thread, url = serve_in_thread(recorder)
    yield url, seen
    server.should_exit = True
    thread.join(timeout=5)


async def test_client_requests_match_the_spec(spec, recorded):
    from datetime import UTC, datetime

    url, seen = recorded
    client = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT)
    try:
        contact = await client.upsert_contact({"Name": "Spec Client", "EmailAddress": "a@b.example"},
                                              idempotency_key="c", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        cid = contact["ContactID"]
        quote = await client.create_quote({"Contact": {"ContactID": cid}, "Date": "2024-05-01",
                                           "LineItems": QUOTE_LINES}, idempotency_key="q")
        await client.update_quote(quote["QuoteID"], {"Contact": {"ContactID": cid}, "Date": "2024-05-01",
                                                     "Status": "SENT"}, idempotency_key="q2")
        invoice = await client.create_invoice({"Type": "ACCREC", "Contact": {"ContactID": cid},
                                               "LineItems": QUOTE_LINES}, idempotency_key="i")
        await client.get_contact(cid)
        await client.get_quote(quote["QuoteID"])
        await client.get_invoice(invoice["InvoiceID"])
        await client.list_contacts(page=1, where='Name=="Spec Client"', modified_since=datetime(2024, 1, 1, tzinfo=UTC))
    finally:
        await client.aclose()
    assert len(seen) == 8
    for method, full_url, headers, body in seen:
        spec.validate_request(SpecRequest(method, full_url, headers, body))
        assert headers["authorization"] == f"Bearer {TOKEN}" and headers["xero-tenant-id"] == TENANT
        if method in ("PUT", "POST"):
            assert headers["idempotency-key"]


# --- payments, credit notes, repeating invoices, reports ----------------------------------------------
ACCOUNT = {"Code": "090"}
SCHEDULE = {"Period": 2, "Unit": "WEEKLY", "DueDate": 14, "DueDateType": "DAYSAFTERBILLDATE",
            "StartDate": "2024-05-06"}


async def _authorised_invoice(api, cid: str, key: str) -> dict:
    r = await api.put("/Invoices", headers={"Idempotency-Key": key}, json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2024-05-01", "DueDate": "2024-05-31",
        "Status": "AUTHORISED", "LineItems": QUOTE_LINES}]})
    validate(r)
    return r.json()["Invoices"][0]


async def test_payments_create_get_list_and_overpayment(api):
    cid = (await _contact(api))["ContactID"]
    invoice = await _authorised_invoice(api, cid, "inv-pay")
    body = {"Payments": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                          "Date": "2024-05-10", "Amount": invoice["Total"], "Reference": "EFT"}]}
    r = await api.put("/Payments", json=body, headers={"Idempotency-Key": "pay-1"})
    validate(r)
    payment = r.json()["Payments"][0]
    assert payment["Invoice"]["InvoiceID"] == invoice["InvoiceID"] and payment["Amount"] == 277.15
    r = await api.get(f"/Payments/{payment['PaymentID']}")
    validate(r)
    r = await api.get("/Payments", params={"page": 1})
    validate(r)
    assert r.json()["pagination"]["itemCount"] == 1
    r = await api.get(f"/Invoices/{invoice['InvoiceID']}")
    validate(r)
    paid = r.json()["Invoices"][0]
    assert (paid["Status"], paid["AmountDue"], paid["AmountPaid"]) == ("PAID", 0.0, 277.15)
    second = await _authorised_invoice(api, cid, "inv-pay-2")
    r = await api.put("/Payments", headers={"Idempotency-Key": "pay-over"}, json={"Payments": [
        {"Invoice": {"InvoiceID": second["InvoiceID"]}, "Account": ACCOUNT, "Amount": 1000}]})
    assert r.status_code == 400
    validate(r)
    assert r.json()["Type"] == "ValidationException"
    assert r.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "Payment amount exceeds the amount outstanding on this document"}]


async def test_credit_notes_create_get_list(api):
    cid = (await _contact(api))["ContactID"]
    r = await api.put("/CreditNotes", headers={"Idempotency-Key": "cn"}, json={"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": cid}, "Date": "2024-06-01", "Status": "AUTHORISED",
        "LineItems": QUOTE_LINES}]})
    validate(r)
    note = r.json()["CreditNotes"][0]
    assert note["Total"] == 277.15 and note["RemainingCredit"] == 277.15
    r = await api.get(f"/CreditNotes/{note['CreditNoteID']}")
    validate(r)
    r = await api.get("/CreditNotes", params={"page": 1})
    validate(r)
    r = await api.put("/CreditNotes", json={"CreditNotes": [{"Type": "ACCRECCREDIT", "LineItems": QUOTE_LINES}]})
    assert r.status_code == 400
    validate(r)


async def test_repeating_invoices_create_get_list(api):
    cid = (await _contact(api))["ContactID"]
    r = await api.put("/RepeatingInvoices", headers={"Idempotency-Key": "ri"}, json={"RepeatingInvoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": cid}, "Status": "DRAFT", "Schedule": SCHEDULE,
        "LineItems": QUOTE_LINES}]})
    validate(r)
    template = r.json()["RepeatingInvoices"][0]
    assert template["Schedule"]["Unit"] == "WEEKLY" and "NextScheduledDate" in template["Schedule"]
    r = await api.get(f"/RepeatingInvoices/{template['RepeatingInvoiceID']}")
    validate(r)
    r = await api.get("/RepeatingInvoices")
    validate(r)
    r = await api.put("/RepeatingInvoices", json={"RepeatingInvoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": cid}, "LineItems": QUOTE_LINES}]})
    assert r.status_code == 400
    validate(r)


async def test_aged_receivables_by_contact_report(api):
    cid = (await _contact(api))["ContactID"]
    await _authorised_invoice(api, cid, "inv-aged")
    r = await api.get("/Reports/AgedReceivablesByContact", params={"contactId": cid, "date": "2024-06-30"})
    validate(r)
    report = r.json()["Reports"][0]
    assert report["ReportType"] == "AgedReceivablesByContact"
    assert report["Rows"][1]["Rows"][0]["Cells"][-1]["Value"] == "277.15"


async def test_finance_client_requests_match_the_spec(spec, recorded):
    url, seen = recorded
    start = len(seen)
    client = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT)
    try:
        cid = (await client.upsert_contact({"Name": "Finance Spec Client"}, idempotency_key="fc"))["ContactID"]
        invoice = await client.create_invoice({"Type": "ACCREC", "Contact": {"ContactID": cid}, "Status": "AUTHORISED",
                                               "DueDate": "2024-05-31", "LineItems": QUOTE_LINES},
                                              idempotency_key="fi")
        payment = await client.create_payment({"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                                               "Date": "2024-05-10", "Amount": 10}, idempotency_key="fp")
        await client.get_payment(payment["PaymentID"])
        note = await client.create_credit_note({"Type": "ACCRECCREDIT", "Contact": {"ContactID": cid},
                                                "LineItems": QUOTE_LINES}, idempotency_key="fcn")
        await client.get_credit_note(note["CreditNoteID"])
        template = await client.create_repeating_invoice({"Type": "ACCREC", "Contact": {"ContactID": cid},
                                                          "Schedule": SCHEDULE, "LineItems": QUOTE_LINES},
                                                         idempotency_key="fri")
        await client.get_repeating_invoice(template["RepeatingInvoiceID"])
        await client.list_repeating_invoices(where='Status=="DRAFT"')
        await client.get_tax_rates()
        await client.get_aged_receivables_by_contact(cid, date="2024-06-30")
    finally:
        await client.aclose()
    requests = seen[start:]
    assert len(requests) == 11
    for method, full_url, headers, body in requests:
        spec.validate_request(SpecRequest(method, full_url, headers, body))
        assert headers["authorization"] == f"Bearer {TOKEN}" and headers["xero-tenant-id"] == TENANT
        if method in ("PUT", "POST"):
            assert headers["idempotency-key"]
