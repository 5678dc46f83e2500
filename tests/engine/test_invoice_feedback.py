"""invoice_feedback: an ERP invoice's payment position reaches the CRM and customer success, once.

The real engine against the three sandboxes over loopback HTTP; exact write counts from the HubSpot
and Intercom write logs (tests/engine/conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import orjson
import pytest
from sqlalchemy import select

from canonical.onboarding import LifecyclePolicy
from canonical.receivables import CreditHoldRules
from connectors.webhooks import sign_xero
from opsconsole.engine import lifecycle, records
from opsconsole.engine.workflows.invoice_feedback import use_credit_hold_rules
from opsconsole.sandboxes import INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN
from opsconsole.store.tables import inbox, runs, spans, steps
from tests.engine.conftest import XERO_WEBHOOK_KEY, q, run_statuses, settled, wait_for

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
INTERCOM = {"Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.14"}
XERO = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT}


@pytest.fixture(autouse=True)
def unpaid_is_watch():
    """A credit-hold policy under which an open invoice not yet due is already "watch" (so paying
    it visibly changes the CRM's flag); the shipped file is unit-tested in tests/unit."""
    rules = CreditHoldRules.load()
    use_credit_hold_rules(CreditHoldRules(buckets={**rules.buckets, "current": "watch"},
                                          days_overdue=rules.days_overdue, amount_overdue=rules.amount_overdue))
    yield
    use_credit_hold_rules(None)


@pytest.fixture(autouse=True)
def invoices_approved_at_once():
    """These tests follow an invoice's payments: its order's invoice is created AUTHORISED (the
    approval step itself is tested in test_onboarding.py)."""
    lifecycle.use_policy(replace(LifecyclePolicy.load(), new_invoice_status="AUTHORISED"))
    yield
    lifecycle.use_policy(None)




def _step_statuses(engine, run_id: int) -> dict[str, str]:
    return dict(q(engine, select(steps.c.name, steps.c.status).where(steps.c.run_id == run_id)))



async def _invoiced_customer(engine, sb) -> dict:
    """An approved quote: customer, CRM company and deal, ERP contact and invoice; the customer is
    also in Intercom (company cross-referenced)."""
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    quote = next(q for q in sb.quote_ids() if q not in special)
    sb.approve(quote)
    await wait_for(lambda: run_statuses(engine, "quote_to_order") == ["succeeded"])
    [(customer_id,)] = q(engine, select(runs.c.account_key).where(runs.c.workflow == "quote_to_order"))
    assoc = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/quotes/{quote}", params={"associations": "companies,deals"},
                        headers=AUTH).json()
    company_id = assoc["associations"]["companies"]["results"][0]["id"]
    deal_id = assoc["associations"]["deals"]["results"][0]["id"]
    [erp] = sb.xero_records("Contacts")
    r = sb.http.post(f"{sb.intercom_url}/companies", headers=INTERCOM, json={"company_id": customer_id, "name": erp["Name"]})
    r.raise_for_status()
    await engine.writer.run(lambda c: records.put_xref(c, "intercom", "company", customer_id, customer_id))
    [invoice] = sb.xero_records("Invoices")
    await settled(engine)
    sb.hubspot_log.writes.clear()
    sb.intercom_log.writes.clear()
    return {"customer": customer_id, "company": company_id, "deal": deal_id, "invoice": invoice}


def _pay(sb, invoice: dict, key: str) -> None:
    r = sb.http.put(f"{sb.xero_api}/Payments", headers={**XERO, "Idempotency-Key": key}, json={"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"},
        "Date": "2026-11-30", "Amount": invoice["AmountDue"]}]})
    assert r.status_code == 200, r.text


def _event(invoice_id: str, kind: str, at: str) -> bytes:
    return orjson.dumps({"events": [{
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice_id}", "resourceId": invoice_id,
        "eventDateUtc": at, "eventType": kind, "eventCategory": "INVOICE", "tenantId": XERO_TENANT,
        "tenantType": "ORGANISATION"}], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "X" * 20})


async def _post(engine, body: bytes) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{engine.ingress_url}/webhooks/xero", content=body, headers={
            "x-xero-signature": sign_xero(XERO_WEBHOOK_KEY, body), "Content-Type": "application/json"})
    assert r.status_code == 200


def _hubspot(sb, object_path: str) -> list[dict]:
    return [w["body"] for w in sb.hubspot_log.writes if w["path"] == object_path]


async def test_a_paid_update_before_its_create_and_a_triple_delivery_change_things_once(engine, sandboxes):
    sb = sandboxes  # Xero's own webhooks are not pointed at the engine: the test delivers them
    c = await _invoiced_customer(engine, sb)
    invoice_id = c["invoice"]["InvoiceID"]
    _pay(sb, c["invoice"], "finance-desk-payment-1")
    # the UPDATE (paid) arrives first, three times; the CREATE, earlier in Xero's time, after it
    update = _event(invoice_id, "UPDATE", "2026-11-30T10:05:00.000")
    for _ in range(3):
        await _post(engine, update)
    await _post(engine, _event(invoice_id, "CREATE", "2026-11-30T10:00:00.000"))
    await wait_for(lambda: len(run_statuses(engine, "invoice_feedback")) == 2)
    await settled(engine)
    assert run_statuses(engine, "invoice_feedback") == ["succeeded", "succeeded"]
    assert len(q(engine, select(inbox.c.id).where(inbox.c.event_type.like("invoice.%")))) == 2
    paid = {"financial_risk": "none"}
    assert _hubspot(sb, f"/crm/v3/objects/companies/{c['company']}") == [{"properties": paid}]
    assert _hubspot(sb, f"/crm/v3/objects/deals/{c['deal']}") == [{"properties": paid}]
    assert [w["body"] for w in sb.intercom_log.writes] == [{"company_id": c["customer"], "custom_attributes": {
        "payment_status": "paid", "amount_due": f"0.00 {c['invoice']['CurrencyCode']}", "days_overdue": 0,
        "aging_bucket": "current", "financial_risk": "none"}}]
    first, second = [r[0] for r in q(engine, select(runs.c.id).where(runs.c.workflow == "invoice_feedback")
                                      .order_by(runs.c.id))]
    assert set(_step_statuses(engine, first).values()) == {"succeeded"}
    assert _step_statuses(engine, second) == {"validate": "succeeded", "update_crm_company": "skipped",
                                              "update_crm_deal": "skipped", "update_cs_company": "skipped"}
    [company] = sb.intercom_records("companies")
    assert company["custom_attributes"]["payment_status"] == "paid"


async def test_a_payment_posted_in_xero_reaches_hubspot_and_intercom_in_one_trace(engine, sandboxes):
    sb = sandboxes
    sb.http.post(f"{sb.xero_url}/_sandbox/webhooks", json={
        "target_url": f"{engine.ingress_url}/webhooks/xero", "key": XERO_WEBHOOK_KEY}).raise_for_status()
    c = await _invoiced_customer(engine, sb)
    # the invoice's CREATE came back: open and not yet due is "watch" under this test's policy
    assert run_statuses(engine, "invoice_feedback") == ["succeeded"]
    assert sb.hubspot.store.objects["companies"][c["company"]]["properties"]["financial_risk"] == "watch"
    _pay(sb, c["invoice"], "finance-desk-payment-2")
    await wait_for(lambda: len(run_statuses(engine, "invoice_feedback")) == 2)
    await settled(engine)
    assert _hubspot(sb, f"/crm/v3/objects/companies/{c['company']}") == [{"properties": {"financial_risk": "none"}}]
    assert _hubspot(sb, f"/crm/v3/objects/deals/{c['deal']}") == [{"properties": {"financial_risk": "none"}}]
    [cs] = [w["body"] for w in sb.intercom_log.writes]
    assert cs["custom_attributes"]["payment_status"] == "paid" and cs["custom_attributes"]["financial_risk"] == "none"
    [(run_id, correlation)] = q(engine, select(runs.c.id, runs.c.correlation_id)
                                 .where(runs.c.workflow == "invoice_feedback").order_by(runs.c.id.desc()).limit(1))
    rows = q(engine, select(spans.c.system, spans.c.correlation_id).where(spans.c.run_id == run_id))
    assert {r[1] for r in rows} == {correlation}
    assert {"xero", "hubspot", "intercom"} <= {r[0] for r in rows}


async def test_a_voided_invoice_clears_the_flag(engine, sandboxes):
    sb = sandboxes
    c = await _invoiced_customer(engine, sb)
    invoice_id = c["invoice"]["InvoiceID"]
    r = sb.http.post(f"{sb.xero_api}/Invoices/{invoice_id}", headers={**XERO, "Idempotency-Key": "void-1"},
                     json={"Invoices": [{"InvoiceID": invoice_id, "Status": "VOIDED"}]})
    assert r.status_code == 200, r.text
    await _post(engine, _event(invoice_id, "UPDATE", "2026-11-30T11:00:00.000"))
    await wait_for(lambda: run_statuses(engine, "invoice_feedback") == ["succeeded"])
    await settled(engine)
    assert _hubspot(sb, f"/crm/v3/objects/companies/{c['company']}") == [{"properties": {"financial_risk": "none"}}]
    [cs] = [w["body"] for w in sb.intercom_log.writes]
    assert cs["custom_attributes"]["payment_status"] == "voided"
    assert cs["custom_attributes"]["amount_due"].startswith("0.00 ")
