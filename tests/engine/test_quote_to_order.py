"""quote_to_order end to end: webhook -> inbox -> run -> Xero contact, order, invoice."""

from __future__ import annotations

from sqlalchemy import func, select

from opsconsole.store.tables import exceptions, inbox, runs, spans, steps
from tests.engine.conftest import wait_for


def _q(engine, stmt):
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


async def test_approved_quote_becomes_contact_order_invoice(engine, sandboxes):
    ordinary = [q for q in sandboxes.quote_ids() if q not in _special(sandboxes)][:3]
    for qid in ordinary:
        sandboxes.approve(qid)
    await wait_for(lambda: _q(engine, select(func.count()).select_from(runs).where(runs.c.status == "succeeded"))[0][0] == 3)
    state = sandboxes.xero_state()
    assert state["counts"]["contacts"] == 3
    assert state["counts"]["quotes"] == 3
    assert state["counts"]["invoices"] == 3
    assert len(sandboxes.xero_records("RepeatingInvoices")) == 3  # every seeded quote has a subscription line
    quotes = sandboxes.xero_records("Quotes")
    assert {q["Status"] for q in quotes} == {"ACCEPTED"}
    # every write carried an idempotency key and the run's traceparent
    writes = sandboxes.xero_writes()
    assert len(writes) == 15 and all(w["idempotency_key"] for w in writes)  # with a billing schedule each
    corr = {r[0] for r in _q(engine, select(runs.c.correlation_id))}
    assert {w["traceparent"].split("-")[1] for w in writes} == corr
    # spans recorded for the reads and writes of each run
    assert _q(engine, select(func.count()).select_from(spans))[0][0] >= 3 * 7
    assert _q(engine, select(func.count()).select_from(inbox))[0][0] == 3


def _special(sb):
    ids = sb.hubspot.scenario_ids()
    return {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}


async def test_missing_tax_number_is_a_validation_exception_then_replay_succeeds(engine, sandboxes):
    from opsconsole.services import Services

    ids = sandboxes.hubspot.scenario_ids()
    sandboxes.approve(str(ids["missing_tax"]))
    rows = await wait_for(lambda: _q(engine, select(exceptions.c.id, exceptions.c.category, exceptions.c.last_error, exceptions.c.run_id)))
    assert len(rows) == 1
    exc_id, category, error, run_id = rows[0]
    assert category == "validation"
    assert "has no tax number (vat_number)" in error
    assert sandboxes.xero_state()["counts"]["contacts"] == 0
    # the fix in the CRM, then replay from the console's services
    company_id = _company_of(sandboxes, str(ids["missing_tax"]))
    r = sandboxes.http.patch(f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{company_id}",
                             json={"properties": {"vat_number": "GB999888777"}},
                             headers={"Authorization": "Bearer sandbox-hubspot-token"})
    assert r.status_code == 200
    # the change fires the company's own webhook: its run creates the ERP contact, tax number and all
    company_run = (runs.c.workflow == "company_to_contact") & (runs.c.status == "succeeded")
    await wait_for(lambda: _q(engine, select(func.count()).select_from(runs).where(company_run))[0][0] == 1)
    assert [c["TaxNumber"] for c in sandboxes.xero_records("Contacts")] == ["GB999888777"]
    services = Services(engine.settings, operator="alice", audit=engine.audit, engine_mode="engine")
    plan = await __import__("asyncio").to_thread(services.plan_replay, run_id)
    assert plan.problems == []
    assert plan.from_step == "validate"
    # the dry run works out what the replayed validate step changes in the golden record: nothing
    # (the company's run has applied the tax number), so the ERP contact is left as it is; then
    # order, accept, schedule, invoice; the customer is not in Intercom: no onboarding event
    assert plan.steps[0].payload["changed"] == [] and plan.steps[0].payload["would_conflict"] == []
    assert [s.verdict for s in plan.steps][1:] == (["nothing to send to xero — will be skipped"] + ["will be sent"] * 4
                                                   + ["nothing to send to intercom — will be skipped"])
    receipt = services.replay(run_id, plan.from_step, "original")
    await wait_for(lambda: services.command(receipt.command_id).status == "done")
    await wait_for(lambda: _q(engine, select(runs.c.status).where(runs.c.id == run_id))[0][0] == "succeeded")
    assert _q(engine, select(exceptions.c.state).where(exceptions.c.id == exc_id))[0][0] == "closed"
    # the replay did what its dry run said
    done = dict(_q(engine, select(steps.c.name, steps.c.status).where(steps.c.run_id == run_id)))
    assert done["upsert_contact"] == "skipped" and done["create_invoice"] == "succeeded"
    assert sandboxes.xero_state()["counts"]["contacts"] == 1
    assert sandboxes.xero_state()["counts"]["invoices"] == 1
    services.close()


def _company_of(sb, quote_id: str) -> str:
    r = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/quotes/{quote_id}", params={"associations": "companies"},
                    headers={"Authorization": "Bearer sandbox-hubspot-token"}).json()
    return r["associations"]["companies"]["results"][0]["id"]


async def test_two_companies_of_one_customer_make_one_erp_contact(engine, sandboxes):
    pair = [str(q) for q in sandboxes.hubspot.scenario_ids()["duplicate_pair"]]
    for qid in pair:
        sandboxes.approve(qid)
    await wait_for(lambda: _q(engine, select(func.count()).select_from(runs).where(runs.c.status == "succeeded"))[0][0] == 2)
    state = sandboxes.xero_state()["counts"]
    assert (state["contacts"], state["quotes"], state["invoices"]) == (1, 2, 2)
    matched = [r[0]["matched_by"] for r in _q(engine, select(steps.c.response).where(steps.c.name == "validate"))]
    assert sorted(matched) == ["new", "same tax number, same legal name, same web domain"]


async def test_429_storm_is_retried_and_all_succeed(engine, sandboxes):
    from opsconsole.engine.workflows.quote_to_order import cached_tax_rates
    await cached_tax_rates(engine.env.client("xero"), "")  # read once per engine: the storm meets the writes
    sandboxes.xero_faults(profile="storm429", storm=5, retry_after=0.2)
    ordinary = [q for q in sandboxes.quote_ids() if q not in _special(sandboxes)][:3]
    for qid in ordinary:
        sandboxes.approve(qid)
    await wait_for(lambda: _q(engine, select(func.count()).select_from(runs).where(runs.c.status == "succeeded"))[0][0] == 3)
    assert _q(engine, select(func.count()).select_from(exceptions))[0][0] == 0
    retried = _q(engine, select(func.sum(steps.c.attempts - 1)).where(steps.c.target_system == "xero",
                                                                      steps.c.attempts > 0))[0][0]
    assert retried == 5
    # and the console sees them: each run's retries
    from opsconsole.services import Services

    services = Services(engine.settings, audit=engine.audit)
    assert sum(r.retries for r in services.runs().rows) == 5
    services.close()
    assert sandboxes.xero_state()["counts"]["invoices"] == 3
