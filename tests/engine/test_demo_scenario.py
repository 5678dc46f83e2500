"""The demo's story, played by its driver through the real ingress against the sandboxes."""

from __future__ import annotations


from sqlalchemy import func, select

from opsconsole.demo import DemoDriver, load_scenario
from opsconsole.engine.app import Engine
from opsconsole.sandboxes import SandboxInfo
from opsconsole.services import Services
from opsconsole.settings import ScheduleSettings
from opsconsole.store.tables import exceptions, inbox, rejected_webhooks, runs, steps
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
    settings = make_settings(tmp_path, sandboxes, schedule=ScheduleSettings(hubspot_poll_s=0.5, retry_sweep_s=1),
                             roles={"you": ["support", "finance"], "sam": ["support"]})
    engine = Engine(settings)
    assert await engine.start()
    info = SandboxInfo(sandboxes.hubspot_url, sandboxes.xero_url, 0, sandboxes.hubspot.scenario_ids(), "demo")
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
    finally:
        driver.close()
        services.close()
        await engine.stop()
    assert driver.log[0].startswith("approved")
