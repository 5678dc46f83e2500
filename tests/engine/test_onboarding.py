"""Onboarding after financial approval, delivery risk, and the scheduled sync mode.

The real engine against the three sandboxes over loopback HTTP. The order's invoice is created
SUBMITTED (data/lifecycle.toml); finance approves it in Xero, whose webhook the engine follows."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import httpx
import orjson
import pytest
from sqlalchemy import select

from connectors.webhooks import sign_intercom
from opsconsole.engine import lifecycle_jobs, provisioning
from opsconsole.engine.app import Engine
from opsconsole.engine.triggers import TriggerError
from opsconsole.sandboxes import INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN
from opsconsole.settings import WorkflowSettings
from opsconsole.store.tables import onboardings, payment_positions, runs, spans, steps
from tests.engine.conftest import (
    INTERCOM_WEBHOOK_KEY, XERO_WEBHOOK_KEY, make_settings, q, run_statuses, settled, wait_for,
)

XERO = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT}
INTERCOM = {"Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.14"}





def _quote(sb) -> str:
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    return next(q for q in sb.quote_ids() if q not in special)


async def _ordered(engine, sb) -> dict:
    """An approved quote through quote_to_order, with Xero's webhooks pointed at the engine."""
    sb.http.post(f"{sb.xero_url}/_sandbox/webhooks", json={
        "target_url": f"{engine.ingress_url}/webhooks/xero", "key": XERO_WEBHOOK_KEY}).raise_for_status()
    quote = _quote(sb)
    sb.approve(quote)
    await wait_for(lambda: run_statuses(engine, "quote_to_order") == ["succeeded"])
    await settled(engine)
    [invoice] = sb.xero_records("Invoices")
    return {"quote": quote, "key": f"hubspot:quote:{quote}", "invoice": invoice}


def _authorise(sb, invoice_id: str) -> None:
    """Finance approves the invoice in Xero."""
    r = sb.http.post(f"{sb.xero_api}/Invoices/{invoice_id}", headers={**XERO, "Idempotency-Key": f"approve-{invoice_id}"},
                     json={"Invoices": [{"InvoiceID": invoice_id, "Status": "AUTHORISED"}]})
    assert r.status_code == 200, r.text


def _onboarding(engine, key: str) -> dict:
    [row] = q(engine, select(onboardings).where(onboardings.c.order_key == key))
    return dict(row._mapping)


async def _started(engine, sb) -> dict:
    o = await _ordered(engine, sb)
    _authorise(sb, o["invoice"]["InvoiceID"])
    await wait_for(lambda: run_statuses(engine, "onboarding") == ["succeeded"])
    await settled(engine)
    return o


async def test_onboarding_waits_for_finance_then_starts_once(engine, sandboxes):
    sb = sandboxes
    o = await _ordered(engine, sb)
    # the ERP accepted the order; its invoice awaits finance's approval: nothing starts
    assert o["invoice"]["Status"] == "SUBMITTED"
    row = _onboarding(engine, o["key"])
    assert (row["state"], row["stage"], len(row["plan"])) == ("awaiting_approval", "not_started", 3)
    with engine.read_engine.connect() as c:
        assert provisioning.load_entitlement(c, o["key"])["status"] == "pending"
    assert run_statuses(engine, "onboarding") == []
    assert run_statuses(engine, "invoice_feedback") == ["succeeded"]  # the CREATE: awaiting approval, nothing sent
    [(status,)] = q(engine, select(payment_positions.c.status))
    assert status == "awaiting_approval"
    assert sb.intercom_records("tickets") == []

    _authorise(sb, o["invoice"]["InvoiceID"])
    await wait_for(lambda: run_statuses(engine, "onboarding") == ["succeeded"])
    await settled(engine)
    [(run_id, corr)] = q(engine, select(runs.c.id, runs.c.correlation_id).where(runs.c.workflow == "onboarding"))
    assert dict(q(engine, select(steps.c.name, steps.c.status).where(steps.c.run_id == run_id))) == {
        "validate": "succeeded", "upsert_cs_company": "succeeded", "onboarding_event": "succeeded",
        "implementation_ticket": "succeeded"}
    row = _onboarding(engine, o["key"])
    assert (row["state"], row["stage"]) == ("started", "kickoff")
    with engine.read_engine.connect() as c:
        assert provisioning.load_entitlement(c, o["key"])["status"] == "active"
    [company] = [c for c in sb.intercom_records("companies") if c["company_id"] == row["customer_id"]]
    assert company["custom_attributes"]["onboarding_stage"] == "kickoff"
    assert company["custom_attributes"]["onboarding_due_on"] == row["plan"][-1]["due_on"]
    # and where finance stands: the approved invoice, open and not yet due
    assert (company["custom_attributes"]["payment_status"], company["custom_attributes"]["financial_risk"]) == (
        "unpaid", "none")
    [event] = [e for e in sb.intercom_records("events") if e["event_name"] == "onboarding-started"]
    assert event["metadata"]["order_number"] == row["order_number"]
    [ticket] = sb.intercom_records("tickets")
    assert ticket["ticket_attributes"]["_default_title_"] == \
        f"Implementation: {row['legal_name']} (order {row['order_number']})"
    assert ticket["company_id"] == company["id"]
    # every Intercom call of the onboarding carries its correlation id
    systems = {s for (s,) in q(engine, select(spans.c.system).where(spans.c.correlation_id == corr))}
    assert "intercom" in systems

    # the invoice is paid: another approving status, and the same webhook three times: no second start
    r = sb.http.put(f"{sb.xero_api}/Payments", headers={**XERO, "Idempotency-Key": "pay-1"}, json={"Payments": [{
        "Invoice": {"InvoiceID": o["invoice"]["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-11-30",
        "Amount": o["invoice"]["AmountDue"]}]})
    assert r.status_code == 200, r.text
    await wait_for(lambda: len(run_statuses(engine, "invoice_feedback")) == 3)
    await settled(engine)
    assert run_statuses(engine, "onboarding") == ["succeeded"]
    assert len(sb.intercom_records("tickets")) == 1


async def test_a_late_milestone_raises_delivery_risk_in_the_crm_and_clears_when_done(engine, sandboxes, monkeypatch):
    sb = sandboxes
    o = await _started(engine, sb)
    row = _onboarding(engine, o["key"])
    kickoff = date.fromisoformat(row["plan"][0]["due_on"])
    company_id = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/quotes/{o['quote']}", params={"associations": "companies"},
                             headers={"Authorization": "Bearer sandbox-hubspot-token"}).json()[
        "associations"]["companies"]["results"][0]["id"]
    monkeypatch.setattr(lifecycle_jobs, "today", lambda: kickoff + timedelta(days=3))
    await engine.onboarding_watch.run()
    await wait_for(lambda: run_statuses(engine, "delivery_risk") == ["succeeded"])
    props = sb.hubspot.store.objects["companies"][company_id]["properties"]
    assert props["delivery_risk"] == "at_risk"
    assert props["delivery_risk_reason"] == f"Kickoff call was due {kickoff.isoformat()}, 3 days late"
    assert _onboarding(engine, o["key"])["delivery_risk"] == "at_risk"
    await engine.onboarding_watch.run()  # nothing changed: no second update
    await settled(engine)
    assert run_statuses(engine, "delivery_risk") == ["succeeded"]

    # customer success moves the onboarding on in Intercom: the kickoff is done, the risk clears
    r = sb.http.post(f"{sb.intercom_url}/companies", headers=INTERCOM, json={
        "company_id": row["customer_id"], "custom_attributes": {"onboarding_stage": "implementation"}})
    assert r.status_code == 200, r.text
    await engine.onboarding_watch.run()
    await wait_for(lambda: run_statuses(engine, "delivery_risk") == ["succeeded", "succeeded"])
    props = sb.hubspot.store.objects["companies"][company_id]["properties"]
    assert (props["delivery_risk"], props["delivery_risk_reason"]) == ("none", None)  # "" clears a HubSpot property
    row = _onboarding(engine, o["key"])
    assert (row["stage"], row["plan"][0]["done_on"], row["next_due_on"]) == (
        "implementation", (kickoff + timedelta(days=3)).isoformat(), row["plan"][1]["due_on"])


def _note(company_id: str, updated_at: int, n: int) -> bytes:
    return orjson.dumps({"type": "notification_event", "id": f"notif_{company_id}_{n}", "topic": "company.updated",
                         "app_id": "app", "created_at": updated_at, "delivery_attempts": 1,
                         "data": {"type": "notification_event_data", "item": {
                             "type": "company", "id": company_id, "company_id": f"ext-{company_id}",
                             "name": f"Company {company_id}", "updated_at": updated_at,
                             "custom_attributes": {"health_score": 50 + n}}}})


@pytest.fixture
async def batch_engine(tmp_path, sandboxes):
    settings = make_settings(tmp_path, sandboxes, workflows={
        "cs_company_to_crm": WorkflowSettings(trigger="scheduled", every_s=3600)})
    eng = Engine(settings)
    assert await eng.start(wait_for_lease=False)
    yield eng
    await eng.stop(drain_s=2)


async def test_a_scheduled_workflow_holds_its_runs_and_pushes_the_newest_change_per_record(batch_engine):
    engine = batch_engine
    async with httpx.AsyncClient() as http:
        for company, n in (("c1", 1), ("c1", 2), ("c2", 1), ("c1", 3)):
            body = _note(company, 1_790_000_000 + n, n)
            r = await http.post(f"{engine.ingress_url}/webhooks/intercom", content=body, headers={
                "X-Hub-Signature": sign_intercom(INTERCOM_WEBHOOK_KEY, body), "Content-Type": "application/json"})
            assert r.status_code == 200, r.text
    await asyncio.sleep(0.8)  # the sweeper runs every 0.5 s: held runs must not start
    assert run_statuses(engine, "cs_company_to_crm") == ["scheduled"] * 4
    released = await engine.release_batch("cs_company_to_crm")
    rows = q(engine, select(runs.c.id, runs.c.business_key, runs.c.status, runs.c.last_error)
              .where(runs.c.workflow == "cs_company_to_crm").order_by(runs.c.id))
    assert released == [rows[2][0], rows[3][0]]  # c2's only change, c1's newest
    assert [r[2] for r in rows[:2]] == ["superseded", "superseded"]
    assert rows[0][3] == f"superseded by run {rows[3][0]} (a newer change to the same record in this batch)"
    await wait_for(lambda: all(s not in ("pending", "running", "waiting") for s in run_statuses(engine, "cs_company_to_crm")))
    assert await engine.release_batch("cs_company_to_crm") == []


async def test_a_trigger_a_workflow_does_not_support_is_refused_at_start(tmp_path, sandboxes):
    for workflows, message in [
        ({"invoice_feedback": WorkflowSettings(trigger="webhook")},
         "[workflows.invoice_feedback] trigger = 'webhook': invoice_feedback supports confirmed"),
        ({"quote_to_cash": WorkflowSettings(trigger="webhook")}, "[workflows.quote_to_cash]: no workflow named"),
    ]:
        eng = Engine(make_settings(tmp_path, sandboxes, workflows=workflows))
        with pytest.raises(TriggerError) as err:
            await eng.start(wait_for_lease=False)
        assert message in str(err.value)
