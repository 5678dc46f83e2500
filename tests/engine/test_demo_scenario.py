"""The demo's story, played by its driver through the real ingress against the sandboxes."""

from __future__ import annotations


from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from opsconsole.demo import DemoDriver, load_scenario
from opsconsole.engine.app import Engine
from opsconsole.sandboxes import SandboxInfo
from opsconsole.services import Services
from opsconsole.settings import ScheduleSettings
from opsconsole.engine import records
from opsconsole.store.tables import exceptions, inbox, onboardings, payment_positions, rejected_webhooks, renewals, runs, steps
from tests.engine.conftest import Sandboxes, make_settings, wait_for


def _n(engine, table, *where):
    with engine.read_engine.connect() as c:
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar()


async def test_the_demo_story(tmp_path):
    sandboxes = Sandboxes(companies=30)  # enough quotes for every wave of the scenario
    try:
        await _story(tmp_path, sandboxes)
    finally:
        sandboxes.close()


async def _story(tmp_path, sandboxes):
    scenario = load_scenario()
    assert scenario["version"] == 1
    scenario["storm"].update(after_s=0.3, lasts_s=1.5)
    scenario["steady"].update(every_s=0.1)
    scenario["governance"].update(after_s=0.2)
    scenario["lifecycle"].update(after_s=0.2, wait_s=20)
    settings = make_settings(tmp_path, sandboxes, schedule=ScheduleSettings(hubspot_poll_s=0.5, retry_sweep_s=1),
                             roles={"you": ["support", "finance"], "sam": ["support"]})
    engine = Engine(settings)
    assert await engine.start()
    info = SandboxInfo(sandboxes.hubspot_url, sandboxes.xero_url, 0, sandboxes.hubspot.scenario_ids(), "demo",
                       sandboxes.intercom_url)
    services = Services(settings, operator="you", audit=engine.audit, engine_mode="engine")
    driver = DemoDriver(info, engine.ingress_url, scenario,
                        services=lambda op: Services(settings, operator=op, audit=engine.audit)).start()
    q2o = runs.c.workflow == "quote_to_order"
    try:
        quotes = len(sandboxes.quote_ids())
        # every quote gets a run: the withheld ones through the poll; all but Northwind succeed
        await wait_for(lambda: _n(engine, runs, q2o, runs.c.status == "succeeded") == quotes - 1, timeout=40)
        assert _n(engine, runs, q2o) == quotes
        # governance, by real events: the CRM's tax-number edit is a conflict that sam raised as a
        # correction now waiting for finance; a second CRM company with an ordered customer's name is
        # a suspected duplicate holding its run (nothing created in the ERP for it)
        pending = await wait_for(lambda: services.corrections().rows, timeout=20)
        assert [(c.field, c.requested_by, c.state, c.why_not_yours) for c in pending] == [
            ("tax_number", "sam", "pending", "")]
        [dup] = (await wait_for(lambda: services.conflicts(kind="duplicate").rows, timeout=20))
        held = _n(engine, exceptions, exceptions.c.run_id == dup.run_id, exceptions.c.title == "Suspected duplicate")
        assert held == 1 and dup.state == "open"
        # the two withheld approvals can only have come through the poll (which may also win a race
        # against a webhook still in flight: that webhook then counts as a duplicate)
        assert _n(engine, inbox, inbox.c.event_key.like("poll:%"), inbox.c.status == "processed") >= 2
        # Northwind: a validation exception naming the field; the malformed delivery: another
        with engine.read_engine.connect() as c:
            errors = sorted(r[0] for r in c.execute(select(exceptions.c.last_error).where(exceptions.c.state == "open")))
            # (a step skipped for having nothing to send made no attempt)
            retried = c.execute(select(func.sum(steps.c.attempts - 1)).where(steps.c.status != "skipped")).scalar()
        assert len(errors) == 3
        assert "has no tax number (vat_number)" in errors[0] and "Northwind Traders" in errors[0]
        assert "lacks eventId, objectId" in errors[1] and "may be customer" in errors[2]
        # the 429 storm was retried (each 429 exactly once more), nothing became an exception because of it
        injected = sandboxes.xero_state()["faults"]["injected_429"]
        assert 1 <= injected <= scenario["storm"]["requests"]
        assert retried == injected
        # the forged webhook was refused and counted
        assert _n(engine, rejected_webhooks) == 1
        # Acme Corporation and ACME Corp. are one ERP contact
        counts = sandboxes.xero_state()["counts"]
        assert counts["invoices"] == quotes - 1 and counts["contacts"] == quotes - 2
        await _lifecycle(engine, sandboxes, driver, scenario["lifecycle"], quotes)
    finally:
        driver.close()
        services.close()
        await engine.stop()
    assert driver.log[0].startswith("approved")


def _rows(engine, stmt):
    with engine.read_engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(stmt)]


def _crm_company(engine, sandboxes, customer_id: str) -> dict:
    with engine.read_engine.connect() as c:
        company = records.find_xref(c, customer_id, "hubspot", "company")
    return sandboxes.hubspot.store.objects["companies"][company]["properties"]


async def _lifecycle(engine, sandboxes, driver, plan, quotes):
    """The lifecycle act: finance's approvals in Xero, a late implementation, an overdue invoice and
    the renewals, with the scheduled jobs run by hand (exact outcomes, no waiting for their interval)."""
    await wait_for(lambda: sum("customer success scored" in line for line in driver.log) == 2, timeout=30)
    # every order but Northwind's has an invoice; finance approved all but the last two, then the
    # delayed quote's: their onboardings started, the two still await billing approval
    started = quotes - 1 - plan["awaiting_approval"]
    await wait_for(lambda: _n(engine, runs, runs.c.workflow == "onboarding", runs.c.status == "succeeded") == started)
    await wait_for(lambda: _n(engine, onboardings, onboardings.c.state == "started") == started)
    assert _n(engine, onboardings, onboardings.c.state == "awaiting_approval") == plan["awaiting_approval"]
    assert _n(engine, onboardings) == quotes - 1
    assert len([i for i in sandboxes.xero_records("Invoices") if i["Status"] == "SUBMITTED"]) == 2

    # the delayed implementation: signed 40 days ago, so its kickoff (7 days) and implementation
    # (30 days) are late: the onboarding watch raises delivery risk on its CRM company
    today = datetime.now(timezone.utc).date()
    signed = today - timedelta(days=plan["delayed"]["signed_days_ago"])
    [late] = _rows(engine, select(onboardings).where(onboardings.c.ordered_on < (today - timedelta(days=7)).isoformat()))
    assert late["ordered_on"] == signed.isoformat() and late["state"] == "started"
    await engine.onboarding_watch.run()
    dr = runs.c.workflow == "delivery_risk"
    await wait_for(lambda: _n(engine, runs, dr, runs.c.status == "succeeded") == 1)
    assert _n(engine, runs, dr) == 1  # only the late one
    props = _crm_company(engine, sandboxes, late["customer_id"])
    kickoff = signed + timedelta(days=7)
    assert (props["delivery_risk"], props["delivery_risk_reason"]) == (
        "at_risk", f"Kickoff call was due {kickoff.isoformat()}, {(today - kickoff).days} days late (+1 more)")

    # the invoice approved 50 days overdue: financial risk "high" in Intercom (and the CRM)
    overdue_days = plan["overdue"]["overdue_days"]
    [position] = _rows(engine, select(payment_positions).where(payment_positions.c.days_overdue > 0))
    assert (position["days_overdue"], position["financial_risk"], position["status"]) == (overdue_days, "high", "overdue")
    customer = position["customer_id"]
    [cs] = [c for c in sandboxes.intercom_records("companies") if c["company_id"] == customer]
    assert cs["custom_attributes"]["financial_risk"] == "high"
    assert _crm_company(engine, sandboxes, customer)["financial_risk"] == "high"

    # the renewal batch: the overdue customer's renewal is blocked by payment, in the CRM and Intercom;
    # the two customers customer success scored are ready (90) and at risk (20)
    await engine.renewal_batch.run()
    rr = runs.c.workflow == "renewal_readiness"
    await wait_for(lambda: _n(engine, runs, rr) > 0 and _n(engine, runs, rr, runs.c.status == "succeeded") == _n(engine, runs, rr),
                   timeout=20)
    amount = f"{Decimal(position['amount_due']):,.2f} {position['currency']}"
    reason = f"blocked by payment: {amount} overdue, {overdue_days} days late"
    [blocked] = _rows(engine, select(renewals).where(renewals.c.readiness == "blocked_by_payment"))
    assert (blocked["customer_id"], blocked["reason"], blocked["deal_stage"]) == (customer, reason, "contractsent")
    props = _crm_company(engine, sandboxes, customer)
    assert (props["renewal_readiness"], props["renewal_readiness_reason"]) == ("blocked_by_payment", reason)
    assert sandboxes.hubspot.store.objects["deals"][blocked["deal_id"]]["properties"]["renewal_readiness"] == \
        "blocked_by_payment"
    [cs] = [c for c in sandboxes.intercom_records("companies") if c["company_id"] == customer]
    assert (cs["custom_attributes"]["renewal_readiness"], cs["custom_attributes"]["renewal_readiness_reason"]) == (
        "blocked_by_payment", reason)
    with_deal = _rows(engine, select(renewals.c.readiness, renewals.c.deal_stage).where(renewals.c.deal_id != "")
                      .order_by(renewals.c.readiness))
    assert [(r["readiness"], r["deal_stage"]) for r in with_deal] == [
        ("at_risk", "appointmentscheduled"), ("blocked_by_payment", "contractsent"), ("ready", "contractsent")]
