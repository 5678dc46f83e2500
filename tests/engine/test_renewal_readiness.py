"""Renewal readiness: the scheduled batch reads health (Intercom), payments (Xero) and the renewal
deal (HubSpot) over HTTP, decides, and writes the result back to the CRM and customer success."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from canonical.onboarding import LifecyclePolicy
from connectors.hubspot.client import DEAL_TO_COMPANY, association_to
from opsconsole.engine import lifecycle
from opsconsole.engine.workflows import renewal_readiness
from opsconsole.sandboxes import INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN
from opsconsole.store.tables import renewals, runs, steps
from tests.engine.conftest import q, run_statuses, settled, wait_for

XERO = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT}
INTERCOM = {"Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.14"}
HUBSPOT = {"Authorization": "Bearer sandbox-hubspot-token"}


@pytest.fixture(autouse=True)
def invoices_approved_at_once():
    lifecycle.use_policy(replace(LifecyclePolicy.load(), new_invoice_status="AUTHORISED"))
    yield
    lifecycle.use_policy(None)





async def test_an_overdue_invoice_blocks_the_renewal_in_the_crm_and_customer_success(engine, sandboxes, monkeypatch):
    sb = sandboxes
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    quote = next(q for q in sb.quote_ids() if q not in special)
    sb.approve(quote)
    await wait_for(lambda: run_statuses(engine, "onboarding") == ["succeeded"])  # approved at once: onboarding started
    await settled(engine)
    [(customer,)] = q(engine, select(runs.c.account_key).where(runs.c.workflow == "quote_to_order"))
    company = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/quotes/{quote}", params={"associations": "companies"},
                          headers=HUBSPOT).json()["associations"]["companies"]["results"][0]["id"]
    # customer success scores the customer's health; sales opens the renewal deal
    sb.http.post(f"{sb.intercom_url}/companies", headers=INTERCOM, json={
        "company_id": customer, "custom_attributes": {"health_score": 88}}).raise_for_status()
    deal = await engine.env.client("hubspot").create_object("deals", {
        "dealname": "Renewal 2027", "dealtype": "existingbusiness", "dealstage": "contractsent",
        "pipeline": "default", "closedate": "2027-01-31T00:00:00Z"},
        [association_to(company, DEAL_TO_COMPANY)])
    [invoice] = sb.xero_records("Invoices")
    due = date.fromisoformat(invoice["DueDateString"][:10]) if invoice.get("DueDateString") else None
    assert due is not None
    monkeypatch.setattr(renewal_readiness, "_today", lambda: due + timedelta(days=50))

    await engine.renewal_batch.run()
    await wait_for(lambda: run_statuses(engine, "renewal_readiness") == ["succeeded"])
    amount = f"{Decimal(str(invoice['AmountDue'])):,.2f} {invoice['CurrencyCode']}"
    reason = f"blocked by payment: {amount} overdue, 50 days late"
    [row] = q(engine, select(renewals.c.readiness, renewals.c.reason, renewals.c.deal_id, renewals.c.deal_stage))
    assert tuple(row) == ("blocked_by_payment", reason, deal["id"], "contractsent")
    props = sb.hubspot.store.objects["companies"][company]["properties"]
    assert (props["renewal_readiness"], props["renewal_readiness_reason"]) == ("blocked_by_payment", reason)
    assert sb.hubspot.store.objects["deals"][deal["id"]]["properties"]["renewal_readiness"] == "blocked_by_payment"
    [cs] = [c for c in sb.intercom_records("companies") if c["company_id"] == customer]
    assert cs["custom_attributes"]["renewal_readiness"] == "blocked_by_payment"
    assert cs["custom_attributes"]["renewal_readiness_reason"] == reason

    # the next batch finds nothing changed: it sends nothing
    await engine.renewal_batch.run()
    await wait_for(lambda: run_statuses(engine, "renewal_readiness") == ["succeeded", "succeeded"])
    [(second,)] = q(engine, select(runs.c.id).where(runs.c.workflow == "renewal_readiness").order_by(runs.c.id.desc()).limit(1))
    assert {s for (s,) in q(engine, select(steps.c.status).where(steps.c.run_id == second, steps.c.seq > 0))} == {"skipped"}

    # finance records the payment: the renewal is no longer blocked (paid 50 days late lowers the score)
    r = sb.http.put(f"{sb.xero_api}/Payments", headers={**XERO, "Idempotency-Key": "renewal-pay"}, json={"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"},
        "Date": (due + timedelta(days=50)).isoformat(), "Amount": invoice["AmountDue"]}]})
    assert r.status_code == 200, r.text
    await engine.renewal_batch.run()
    await wait_for(lambda: len(run_statuses(engine, "renewal_readiness")) == 3)
    await settled(engine)
    [(readiness, reason)] = q(engine, select(renewals.c.readiness, renewals.c.reason))
    assert readiness == "ready" and reason == \
        "ready: health 88/100, 1 late payment, up to 50 days late, deal in contractsent"
    assert sb.hubspot.store.objects["companies"][company]["properties"]["renewal_readiness"] == "ready"
