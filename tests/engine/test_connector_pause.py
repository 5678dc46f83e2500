"""Pausing a connector: its steps wait (nothing sent, no attempt counted, no exception), webhooks are
still accepted, a restart keeps the pause, and resuming continues the waiting runs oldest first."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from opsconsole.engine.app import Engine
from opsconsole.services import Services
from opsconsole.store.tables import audit, commands, connector_state, exceptions, inbox, runs, spans, steps
from tests.engine.conftest import make_settings, q, wait_for

ROLES = {"alice": ["support"], "carol": ["finance"]}


def _ordinary(sb, n: int) -> list[str]:
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    return [qid for qid in sb.quote_ids() if qid not in special][:n]


async def _done(services: Services, receipt) -> str:
    await wait_for(lambda: services.command(receipt.command_id).status in ("done", "failed"))
    state = services.command(receipt.command_id)
    assert state.status == "done", state.result
    return state.result


def _waiting_at_xero(engine) -> list[tuple]:
    return q(engine, select(runs.c.id, runs.c.status, runs.c.current_step, steps.c.status, steps.c.attempts)
             .join(steps, steps.c.run_id == runs.c.id).where(steps.c.target_system == "xero",
                                                             steps.c.status == "waiting").order_by(runs.c.id))


async def test_paused_xero_holds_the_runs_and_resume_continues_them_in_order(tmp_path, sandboxes):
    settings = make_settings(tmp_path, sandboxes, roles=ROLES)
    engine = Engine(settings)
    assert await engine.start(wait_for_lease=False)
    sandboxes.hubspot.target_url = f"{engine.ingress_url}/webhooks/hubspot"
    services = Services(settings, operator="alice", audit=engine.audit, engine_mode="engine")
    try:
        result = await _done(services, services.pause_connector("xero", "Xero maintenance window"))
        assert result == "xero paused: its steps wait until it is resumed"
        assert engine.runner.gate.is_paused("xero")  # held before the command showed done
        row = services.connector("xero")
        assert row.paused and row.changed_by == "alice" and row.reason == "Xero maintenance window"

        quotes = _ordinary(sandboxes, 3)
        for qid in quotes:
            sandboxes.approve(qid)
        # the webhooks are accepted and stored; each run stops at its first Xero step
        waiting = await wait_for(lambda: len(_waiting_at_xero(engine)) == 3 and _waiting_at_xero(engine))
        assert [(status, step, step_status, attempts) for _, status, step, step_status, attempts in waiting] == [
            ("waiting", "upsert_contact", "waiting", 0)] * 3
        run_ids = [r[0] for r in waiting]
        assert q(engine, select(func.count()).select_from(inbox))[0][0] == 3
        await asyncio.sleep(1.2)  # sweeps pass (every 0.5 s): still waiting, still no attempt
        assert [r[1:] for r in _waiting_at_xero(engine)] == [("waiting", "upsert_contact", "waiting", 0)] * 3
        assert sandboxes.xero_writes() == []
        assert sandboxes.xero_state()["counts"]["contacts"] == 0
        # no call to Xero but the (cached) tax-rate read of step 0, which targets the engine, not Xero
        assert {r[0] for r in q(engine, select(spans.c.operation).where(spans.c.system == "xero"))} == {
            "GET api.xro/2.0/TaxRates"}
        assert q(engine, select(func.count()).select_from(exceptions))[0][0] == 0
        assert services.connector("xero").waiting_steps == 3
        assert "xero is paused (by alice)" in services.run_detail(run_ids[0]).run.last_error

        # a restart keeps the pause: the new engine's sweep parks the runs again
        await engine.stop(drain_s=1)
        engine = Engine(settings)
        assert await engine.start(wait_for_lease=False)
        sandboxes.hubspot.target_url = f"{engine.ingress_url}/webhooks/hubspot"
        assert engine.runner.gate.is_paused("xero")
        await wait_for(lambda: sorted(engine.runner.gate.waiting("xero")) == run_ids)
        assert [r[1:] for r in _waiting_at_xero(engine)] == [("waiting", "upsert_contact", "waiting", 0)] * 3
        assert sandboxes.xero_writes() == []

        services.audit = engine.audit
        result = await _done(services, services.resume_connector("xero"))
        assert result == "xero resumed: its waiting runs continue, oldest first"
        statuses = select(runs.c.status).order_by(runs.c.id)
        await wait_for(lambda: [r[0] for r in q(engine, statuses)] == ["succeeded"] * 3)
        # continued oldest first: each run's first Xero call in run order
        first_xero = [r[0] for r in q(engine, select(spans.c.run_id).where(spans.c.system == "xero",
                                                                             spans.c.operation.not_like("GET %"))
                                      .group_by(spans.c.run_id).order_by(func.min(spans.c.started_at)))]
        assert first_xero == run_ids
        # each order exists once in Xero, none lost, none doubled
        assert sandboxes.xero_state()["counts"] == {**sandboxes.xero_state()["counts"], "contacts": 3, "quotes": 3,
                                                    "invoices": 3}
        references = sorted(q_["Reference"] for q_ in sandboxes.xero_records("Quotes"))
        assert len(references) == len(set(references)) == 3
        # the pause cost no attempt: every Xero step succeeded at its first
        assert {r[0] for r in q(engine, select(steps.c.attempts).where(steps.c.target_system == "xero"))} == {1}
        assert q(engine, select(func.count()).select_from(exceptions))[0][0] == 0
        # both commands and their execution are in the audit chain
        actions = [tuple(r) for r in q(engine, select(audit.c.actor, audit.c.action).order_by(audit.c.id))]
        assert ("alice", "pause_connector.requested") in actions and ("alice", "resume_connector.requested") in actions
        assert actions.count(("engine", "command.done")) == 2
        assert q(engine, select(connector_state.c.paused, connector_state.c.paused_by))[0] == (False, "alice")
    finally:
        services.close()
        await engine.stop(drain_s=2)


async def test_the_engine_refuses_a_pause_without_the_support_role(tmp_path, sandboxes):
    """A command row written straight into the store by someone without the role is refused."""
    from sqlalchemy import insert

    import time

    settings = make_settings(tmp_path, sandboxes, roles=ROLES)
    engine = Engine(settings)
    assert await engine.start(wait_for_lease=False)
    try:
        with engine.write_engine.begin() as c:
            c.execute(insert(commands).values(kind="pause_connector", target="connector:xero", params={},
                                              actor="carol", status="queued", created_at=time.time()))
        await wait_for(lambda: q(engine, select(commands.c.status))[0][0] == "failed")
        assert "carol does not hold the support role" in q(engine, select(commands.c.result))[0][0]
        assert not engine.runner.gate.is_paused("xero")
        assert q(engine, select(func.count()).select_from(connector_state))[0][0] == 0
    finally:
        await engine.stop(drain_s=2)


async def test_the_engine_records_each_governors_budget(engine, sandboxes, settings):
    """What the Connectors pane shows as budget left comes from the engine's governors, via the store."""
    sandboxes.approve(_ordinary(sandboxes, 1)[0])
    services = Services(settings, operator="alice", audit=engine.audit, engine_mode="engine")
    try:
        await wait_for(lambda: q(engine, select(runs.c.status))[:1] == [("succeeded",)])

        def recorded():
            row = services.connector("xero")
            return row.budget_left is not None and row

        row = await wait_for(recorded, timeout=10)
        governor = engine.env.clients["xero"].governor.state()
        # the sandbox allows more than Xero's documented 60 a minute: the governor learns it from
        # X-MinLimit-Remaining, so what remains never shows above the limit
        assert row.budget_limit == governor["limit"] == engine.env.clients["xero"].governor.minute_limit_seen > 60
        assert row.budget_left == governor["budget_left"] <= row.budget_limit
        assert row.last_success_at is not None and row.calls_hour > 0
    finally:
        services.close()


async def test_a_paused_source_is_not_read_either(tmp_path, sandboxes):
    """HubSpot paused: the quote's webhook is accepted, but its run does not read the quote from
    HubSpot: it waits at step 0 (no attempt, no exception) and goes on when HubSpot is resumed."""
    settings = make_settings(tmp_path, sandboxes, roles=ROLES)
    engine = Engine(settings)
    assert await engine.start(wait_for_lease=False)
    sandboxes.hubspot.target_url = f"{engine.ingress_url}/webhooks/hubspot"
    services = Services(settings, operator="alice", audit=engine.audit, engine_mode="engine")
    try:
        await _done(services, services.pause_connector("hubspot", "CRM migration"))
        (quote,) = _ordinary(sandboxes, 1)
        sandboxes.approve(quote)
        step0 = select(runs.c.status, steps.c.seq, steps.c.target_system, steps.c.status, steps.c.attempts).join(
            steps, steps.c.run_id == runs.c.id)
        assert await wait_for(lambda: q(engine, step0)) == [("waiting", 0, "hubspot", "waiting", 0)]
        await asyncio.sleep(1.2)  # sweeps pass: still parked, still nothing read from HubSpot
        assert q(engine, select(func.count()).select_from(spans).where(spans.c.system == "hubspot"))[0][0] == 0
        assert q(engine, select(func.count()).select_from(exceptions))[0][0] == 0
        assert services.connector("hubspot").waiting_steps == 1
        await _done(services, services.resume_connector("hubspot"))
        await wait_for(lambda: q(engine, select(runs.c.status)) == [("succeeded",)])
        assert q(engine, select(func.count()).select_from(spans).where(spans.c.system == "hubspot"))[0][0] >= 1
    finally:
        services.close()
        await engine.stop(drain_s=2)
