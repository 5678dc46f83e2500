"""quote_to_order under the Xero sandbox's ``malformed`` and ``commit_then_timeout`` fault profiles: the
engine retries with the same idempotency key and Xero ends with exactly one record of each."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from opsconsole.sandboxes import XERO_TENANT, XERO_TOKEN
from opsconsole.settings import XeroSettings
from opsconsole.store.tables import exceptions, runs, steps
from tests.engine.conftest import XERO_WEBHOOK_KEY, make_settings, wait_for

XERO_TIMEOUT = 0.4  # the held answer (delay 1 s) comes after it; the sandbox stops holding when we hang up


@pytest.fixture
def settings(tmp_path, sandboxes):
    return make_settings(tmp_path, sandboxes, xero=XeroSettings(
        base_url=sandboxes.xero_api, token=XERO_TOKEN, tenant_id=XERO_TENANT, webhook_secret=XERO_WEBHOOK_KEY,
        timeout_s=XERO_TIMEOUT))


def _q(engine, stmt):
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


def _ordinary_quote(sb) -> str:
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    return next(q for q in sb.quote_ids() if q not in special)


def _run_statuses(engine) -> list[str]:
    return [r[0] for r in _q(engine, select(runs.c.status))]


def _attempts(engine) -> dict[str, int]:
    return dict(_q(engine, select(steps.c.name, steps.c.attempts).where(steps.c.target_system == "xero")))


def _one_of_each(sb) -> tuple[int, int, int]:
    counts = sb.xero_state()["counts"]
    return counts["contacts"], counts["quotes"], counts["invoices"]


async def _tax_rates_read(engine) -> None:
    """quote_to_order reads Xero's TaxRates once per engine: read before the fault, so it meets the writes."""
    from opsconsole.engine.workflows.quote_to_order import cached_tax_rates
    await cached_tax_rates(engine.env.client("xero"), "")


async def test_a_malformed_xero_answer_is_retried_and_the_run_succeeds(engine, sandboxes):
    await _tax_rates_read(engine)
    sandboxes.xero_faults(profile="malformed", count=1)
    sandboxes.approve(_ordinary_quote(sandboxes))
    await wait_for(lambda: _run_statuses(engine) == ["succeeded"])
    assert _q(engine, select(func.count()).select_from(exceptions))[0][0] == 0
    assert _attempts(engine) == {"upsert_contact": 2, "create_sales_order": 1, "accept_sales_order": 1,
                                 "create_billing_schedule": 1, "create_invoice": 1}
    state = sandboxes.xero_state()
    assert state["faults"]["injected_malformed"] == 1
    assert (state["writes"], state["replays"]) == (6, 1)  # the contact was written once, its retry replayed
    assert _one_of_each(sandboxes) == (1, 1, 1)


async def test_malformed_xero_answers_past_the_attempt_budget_become_a_downstream_exception(engine, sandboxes):
    await _tax_rates_read(engine)
    sandboxes.xero_faults(profile="malformed")
    sandboxes.approve(_ordinary_quote(sandboxes))
    rows = await wait_for(lambda: _q(engine, select(exceptions.c.category, exceptions.c.title, exceptions.c.system,
                                                    exceptions.c.last_error, exceptions.c.run_id)))
    assert len(rows) == 1
    category, title, system, error, run_id = rows[0]
    assert (category, title, system) == ("downstream_5xx", "Malformed response", "xero")
    assert error.startswith("xero HTTP 200: malformed response: its JSON body (")
    assert _q(engine, select(runs.c.status).where(runs.c.id == run_id))[0][0] == "failed"
    assert _attempts(engine) == {"upsert_contact": 4}  # retry.max_attempts in the engine tests' settings
    state = sandboxes.xero_state()
    assert (state["writes"], state["replays"], state["faults"]["injected_malformed"]) == (4, 3, 4)
    assert _one_of_each(sandboxes) == (1, 0, 0)  # written once, whatever the answers looked like


async def test_a_xero_write_that_timed_out_after_commit_is_retried_into_one_record(engine, sandboxes):
    sandboxes.xero_faults(profile="commit_then_timeout", delay=1.0, count=1)
    sandboxes.approve(_ordinary_quote(sandboxes))
    await wait_for(lambda: _run_statuses(engine) == ["succeeded"])
    assert _q(engine, select(func.count()).select_from(exceptions))[0][0] == 0
    assert _attempts(engine) == {"upsert_contact": 2, "create_sales_order": 1, "accept_sales_order": 1,
                                 "create_billing_schedule": 1, "create_invoice": 1}
    state = sandboxes.xero_state()
    assert state["faults"]["injected_timeout"] == 1
    assert (state["writes"], state["replays"]) == (6, 1)
    writes = sandboxes.xero_writes()
    assert writes[0]["idempotency_key"] == writes[1]["idempotency_key"] and writes[1]["replayed"] is True
    assert _one_of_each(sandboxes) == (1, 1, 1)
