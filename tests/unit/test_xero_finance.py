"""Payments, credit notes, repeating invoices, tax rates and aged receivables: XeroClient against the
Xero sandbox over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import httpx
import pytest

from connectors.errors import FatalError
from connectors.sandbox import serve_in_thread
from connectors.xero.client import XeroClient
from connectors.xero.sandbox import XeroSandbox
from connectors.xero.sandbox_finance import OVERPAYMENT, add_months
from tests.sandbox_contract import checked

TOKEN, TENANT = "sandbox-xero-token", "sandbox-tenant"
LINES = [{"Description": "Support plan", "Quantity": 1, "UnitAmount": 100, "TaxType": "OUTPUT"}]
ACCOUNT = {"Code": "090"}
START_2099 = "/Date(4073500800000+0000)/"  # 2099-01-31T00:00:00Z


@pytest.fixture(scope="module")
def served():
    sandbox = XeroSandbox(token=TOKEN, tenant_id=TENANT)
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
async def client(served):
    sandbox, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    c = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT)
    yield c
    await c.aclose()


async def _invoice(client, name="Finance Co", status="AUTHORISED") -> dict:
    contact = await client.upsert_contact({"Name": name}, idempotency_key=f"c-{name}")
    return await client.create_invoice({"Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]},
                                        "Date": "2024-05-01", "DueDate": "2024-05-31", "Status": status,
                                        "LineItems": LINES}, idempotency_key=f"i-{name}-{status}")


async def test_payments_settle_an_invoice_and_overpayment_is_rejected(client, served):
    invoice = await _invoice(client)
    assert invoice["Total"] == 115.0 and invoice["AmountDue"] == 115.0
    first = await client.create_payment({"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                                         "Date": "2024-05-10", "Amount": 40}, idempotency_key="p1")
    assert first["Status"] == "AUTHORISED" and first["PaymentType"] == "ACCRECPAYMENT" and first["Amount"] == 40.0
    partly = await client.get_invoice(invoice["InvoiceID"])
    assert (partly["Status"], partly["AmountDue"], partly["AmountPaid"]) == ("AUTHORISED", 75.0, 40.0)

    with pytest.raises(FatalError) as info:
        await client.create_payment({"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                                     "Amount": 75.01}, idempotency_key="p-over")
    assert info.value.message == OVERPAYMENT == "Payment amount exceeds the amount outstanding on this document"
    assert info.value.status == 400

    await client.create_payment({"Invoice": {"InvoiceNumber": invoice["InvoiceNumber"]}, "Account": ACCOUNT,
                                 "Date": "2024-05-20", "Amount": 75}, idempotency_key="p2")
    paid = await client.get_invoice(invoice["InvoiceID"])
    assert (paid["Status"], paid["AmountDue"], paid["AmountPaid"]) == ("PAID", 0.0, 115.0)
    assert [p["Amount"] for p in paid["Payments"]] == [40.0, 75.0]
    assert paid["FullyPaidOnDate"] == "/Date(1716163200000+0000)/"  # 2024-05-20
    assert (await client.get_payment(first["PaymentID"]))["Invoice"]["InvoiceID"] == invoice["InvoiceID"]

    with pytest.raises(FatalError) as info:  # a PAID invoice takes no more payments
        await client.create_payment({"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                                     "Amount": 1}, idempotency_key="p3")
    assert info.value.message == "Payments can only be made against Authorised documents."


async def test_overpayment_body_is_xeros_validation_exception(client, served):
    invoice = await _invoice(client)
    url = served[1]
    r = httpx.put(f"{url}/api.xro/2.0/Payments", headers={"Authorization": f"Bearer {TOKEN}",
                                                           "xero-tenant-id": TENANT, "Idempotency-Key": "raw"},
                  json={"Payments": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                                      "Amount": 500}]})
    assert r.status_code == 400
    body = r.json()
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (
        10, "ValidationException", "A validation exception occurred")
    assert body["Elements"][0]["ValidationErrors"] == [{"Message": OVERPAYMENT}]
    assert (await client.get_invoice(invoice["InvoiceID"]))["AmountDue"] == 115.0


async def test_draft_invoice_and_missing_account_are_rejected(client):
    draft = await _invoice(client, status="DRAFT")
    with pytest.raises(FatalError) as info:
        await client.create_payment({"Invoice": {"InvoiceID": draft["InvoiceID"]}, "Amount": 10},
                                    idempotency_key="p-draft")
    assert "Payments can only be made against Authorised documents." in info.value.message
    assert "Account" in info.value.message


async def test_payment_replay_with_the_same_key_creates_one_payment(client, served):
    sandbox = served[0]
    invoice = await _invoice(client)
    body = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT, "Amount": 50}
    one = await client.create_payment(body, idempotency_key="same-key")
    two = await client.create_payment(body, idempotency_key="same-key")
    assert one == two
    assert len(sandbox.payments.records) == 1 and sandbox.replays == 1
    after = await client.get_invoice(invoice["InvoiceID"])
    assert (after["AmountDue"], after["AmountPaid"], len(after["Payments"])) == (65.0, 50.0, 1)


async def test_repeating_invoice_round_trip(client):
    contact = await client.upsert_contact({"Name": "Monthly Co"}, idempotency_key="c-monthly")
    created = await client.create_repeating_invoice({
        "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "Status": "AUTHORISED",
        "Reference": "Retainer", "LineItems": LINES,
        "Schedule": {"Period": 1, "Unit": "MONTHLY", "DueDate": 20, "DueDateType": "OFFOLLOWINGMONTH",
                     "StartDate": "2099-01-31"}}, idempotency_key="ri-1")
    assert created["RepeatingInvoiceID"] == created["ID"] and created["Total"] == 115.0
    assert created["Schedule"] == {"Period": 1, "Unit": "MONTHLY", "DueDate": 20, "DueDateType": "OFFOLLOWINGMONTH",
                                   "StartDate": START_2099, "NextScheduledDate": START_2099}
    fetched = await client.get_repeating_invoice(created["RepeatingInvoiceID"])
    assert fetched == created
    listed = await client.list_repeating_invoices()
    assert [r["RepeatingInvoiceID"] for r in listed] == [created["RepeatingInvoiceID"]]
    assert await client.list_repeating_invoices(where='Reference=="nope"') == []

    with pytest.raises(FatalError) as info:
        await client.create_repeating_invoice({
            "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "LineItems": LINES,
            "Schedule": {"Period": 0, "Unit": "DAILY", "DueDate": 20, "DueDateType": "OFFOLLOWINGMONTH"}},
            idempotency_key="ri-bad")
    assert "Schedule Unit must be WEEKLY or MONTHLY." in info.value.message
    assert "Schedule StartDate must be specified." in info.value.message


def test_add_months_clamps_to_month_end():
    from datetime import date

    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)


async def test_credit_note_round_trip(client):
    contact = await client.upsert_contact({"Name": "Credit Co"}, idempotency_key="c-credit")
    note = await client.create_credit_note({"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact["ContactID"]},
                                            "Date": "2024-06-01", "Status": "AUTHORISED", "Reference": "refund",
                                            "LineItems": LINES}, idempotency_key="cn-1")
    assert note["CreditNoteNumber"] == "CN-0001" and note["Total"] == 115.0 and note["RemainingCredit"] == 115.0
    assert note["DateString"] == "2024-06-01T00:00:00"
    assert await client.get_credit_note(note["CreditNoteID"]) == note
    with pytest.raises(FatalError) as info:
        await client.create_credit_note({"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact["ContactID"]},
                                         "CreditNoteNumber": "CN-0001", "LineItems": LINES}, idempotency_key="cn-2")
    assert info.value.message == "Credit Note # must be unique."


async def test_tax_rates_and_aged_receivables(client):
    rates = await client.get_tax_rates()
    assert {r["TaxType"] for r in rates} >= {"OUTPUT", "INPUT", "NONE"}
    invoice = await _invoice(client, name="Aged Co")
    await client.create_payment({"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": ACCOUNT,
                                 "Amount": 15}, idempotency_key="p-aged")
    report = await client.get_aged_receivables_by_contact(invoice["Contact"]["ContactID"], date="2024-06-30")
    assert report["ReportType"] == "AgedReceivablesByContact"
    header, section = report["Rows"]
    assert [c["Value"] for c in header["Cells"]] == ["Date", "Number", "Due Date", "", "Total", "Paid",
                                                     "Credited", "Due"]
    row, total = section["Rows"]
    assert [c["Value"] for c in row["Cells"]] == ["2024-05-01T00:00:00", invoice["InvoiceNumber"],
                                                  "2024-05-31T00:00:00", "30 days overdue", "115.00", "15.00",
                                                  "0.00", "100.00"]
    assert row["Cells"][0]["Attributes"] == [{"Value": invoice["InvoiceID"], "Id": "invoiceID"}]
    assert total["RowType"] == "SummaryRow" and total["Cells"][-1]["Value"] == "100.00"


async def test_credit_note_status_rules_and_allocated_note_cannot_be_voided(client, served):
    from connectors.errors import NotFoundError
    from connectors.xero.sandbox_finance import CREDIT_ALLOCATED, CREDIT_NOT_MODIFIABLE

    sandbox, _ = served
    contact = await client.upsert_contact({"Name": "Void Co"}, idempotency_key="c-void")
    note = await client.create_credit_note({"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact["ContactID"]},
                                            "LineItems": LINES}, idempotency_key="cn-v")
    assert note["Status"] == "DRAFT"
    submitted = await client.update_credit_note(note["CreditNoteID"], {"Status": "SUBMITTED", "CreditNoteNumber": "CN-77"},
                                                idempotency_key="cn-v-sub")
    assert (submitted["Status"], submitted["CreditNoteNumber"]) == ("SUBMITTED", "CN-77")
    authorised = await client.update_credit_note(note["CreditNoteID"], {"Status": "AUTHORISED"}, idempotency_key="cn-v-a")
    assert authorised["Status"] == "AUTHORISED" and authorised["RemainingCredit"] == 115.0
    # the sandbox has no allocation endpoint: allocate 40 of it the way Xero would record it
    rec = sandbox.credit_notes.records[note["CreditNoteID"]]
    rec["Allocations"] = [{"Amount": 40.0, "Date": "/Date(1717200000000+0000)/",  # as Xero's Allocation has it
                           "Invoice": {"InvoiceID": "0c5d4d3e-5b7e-4a86-9c52-2f3e8f1a7b10"}}]
    rec["RemainingCredit"] = 75.0
    with pytest.raises(FatalError) as info:
        await client.update_credit_note(note["CreditNoteID"], {"Status": "VOIDED"}, idempotency_key="cn-v-void")
    assert info.value.message == CREDIT_ALLOCATED
    with pytest.raises(FatalError) as info:
        await client.update_credit_note(note["CreditNoteID"], {"LineItems": LINES * 2}, idempotency_key="cn-v-edit")
    assert info.value.message == CREDIT_ALLOCATED
    with pytest.raises(FatalError) as info:
        await client.update_credit_note(note["CreditNoteID"], {"Status": "DELETED"}, idempotency_key="cn-v-del")
    assert info.value.message == CREDIT_NOT_MODIFIABLE
    assert (await client.get_credit_note(note["CreditNoteID"]))["Status"] == "AUTHORISED"
    with pytest.raises(NotFoundError):
        await client.update_credit_note("6a65f055-b0e0-471a-a933-d1ffdd89393f", {"Status": "VOIDED"},
                                        idempotency_key="cn-missing")


async def test_repeating_invoice_update_keeps_what_is_not_sent(client):
    contact = await client.upsert_contact({"Name": "Template Co"}, idempotency_key="c-tpl")
    created = await client.create_repeating_invoice({
        "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "Reference": "Retainer", "LineItems": LINES,
        "Schedule": {"Period": 1, "Unit": "MONTHLY", "DueDate": 20, "DueDateType": "OFFOLLOWINGMONTH",
                     "StartDate": "2099-01-31"}}, idempotency_key="ri-tpl")
    repriced = await client.update_repeating_invoice(created["RepeatingInvoiceID"], {
        "LineItems": [{**LINES[0], "UnitAmount": 200}], "ApprovedForSending": True}, idempotency_key="ri-tpl-price")
    assert (repriced["Total"], repriced["Reference"], repriced["ApprovedForSending"]) == (230.0, "Retainer", True)
    assert repriced["Schedule"] == created["Schedule"] and repriced["Status"] == "DRAFT"
    with pytest.raises(FatalError) as info:
        await client.update_repeating_invoice(created["RepeatingInvoiceID"], {"Type": "ACCPAY"}, idempotency_key="ri-t")
    assert info.value.message == "The Type of a repeating invoice cannot be changed."
    assert await client.get_repeating_invoice(created["RepeatingInvoiceID"]) == repriced
