"""`opsconsole sync backfill` over the seeded sandboxes (HubSpot, Xero and Intercom over loopback HTTP,
every answer checked against the vendor's description): the expected customers are linked and the
expected suspected duplicates raised (connectors/sandbox_overlap.py says why these numbers); a second
run changes nothing; it refuses while an engine holds the lease; the CLI does the same."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import serve_in_thread
from connectors.sandbox_overlap import seed_overlap
from opsconsole.engine.backfill_run import BackfillRefused, run_backfill
from opsconsole.sandboxes import INTERCOM_TOKEN
from opsconsole.settings import IntercomSettings
from opsconsole.store.db import make_engine
from opsconsole.store.tables import audit, conflicts, customers, golden_fields, xrefs
from tests.engine.conftest import INTERCOM_WEBHOOK_KEY, make_settings
from tests.sandbox_contract import checked


@pytest.fixture
def intercom():
    sb = IntercomSandbox(token=INTERCOM_TOKEN)
    server, _, url = serve_in_thread(checked(sb.app, "intercom"))
    yield sb, url
    server.should_exit = True


@pytest.fixture
def settings(tmp_path, sandboxes, intercom):
    """The three sandboxes seeded to overlap (12 CRM companies, 8 ERP contacts, 6 CS companies)."""
    sb, url = intercom
    assert seed_overlap(sandboxes.hubspot, sandboxes.xero, sb) == {"xero": 8, "intercom": 6}
    return make_settings(tmp_path, sandboxes, intercom=IntercomSettings(
        base_url=url, token=INTERCOM_TOKEN, webhook_secret=INTERCOM_WEBHOOK_KEY))


def _state(settings) -> dict:
    eng = make_engine(settings.store_url, write=False)
    try:
        with eng.connect() as c:
            count = lambda t: c.scalar(select(func.count()).select_from(t))  # noqa: E731
            per_system = dict(c.execute(select(xrefs.c.system, func.count()).group_by(xrefs.c.system)).all())
            dupes = [(r.values["record"]["system"], r.values["candidate"]["system"], r.values["record"]["legal_name"],
                      r.score, r.state) for r in c.execute(select(conflicts).order_by(conflicts.c.id))]
            linked = c.execute(select(xrefs.c.canonical_id).group_by(xrefs.c.canonical_id)
                               .having(func.count(func.distinct(xrefs.c.system)) > 1)).all()
            return {"customers": count(customers), "xrefs": per_system, "linked": len(linked), "duplicates": dupes,
                    "golden": count(golden_fields), "audit": count(audit),
                    "rows": sorted(tuple(r) for r in c.execute(select(xrefs.c.system, xrefs.c.external_id,
                                                                      xrefs.c.canonical_id)))}
    finally:
        eng.dispose()


EXPECTED = {
    "customers": 17, "xrefs": {"hubspot": 12, "xero": 8, "intercom": 6}, "linked": 6, "golden": 50, "audit": 1,
    "duplicates": [("hubspot", "hubspot", "ACME Corp.", 1.0, "open"),  # the CRM's two Acme companies
                   ("xero", "hubspot", "Quantum Outfitters Inc.", 0.5, "open"),  # name only, free-mail address
                   ("intercom", "hubspot", "Maple Analytics Ltd", 0.5, "open")],  # name only, no web site
}


async def test_backfill_links_the_expected_customers_and_raises_the_expected_suspects_once(settings):
    progress = []
    dry = await run_backfill(settings, dry_run=True)
    assert _state(settings)["customers"] == 0  # a dry run writes nothing
    assert (dry.report.new_customers, dry.report.suspects_raised) == (17, 3)

    first = (await run_backfill(settings, actor="olivia", progress=lambda *a: progress.append(a))).report
    assert first.read == {"hubspot": 12, "xero": 8, "intercom": 6}
    assert (first.customers, first.linked_customers, first.in_all_systems, first.new_customers) == (17, 6, 3, 17)
    assert first.xrefs_added == {"hubspot": 12, "xero": 8, "intercom": 6} and first.already_linked == 0
    assert (first.suspects_raised, first.golden_fields) == (3, 50)
    state = _state(settings)
    assert {k: state[k] for k in EXPECTED} == EXPECTED
    # progress: records read per system, then linking, then writing
    phases = [p[0] for p in progress]
    assert phases.index("link") > max(i for i, p in enumerate(phases) if p == "read")
    assert phases[-1] == "write" and progress[-1][2:] == (20, 20)  # 17 customers + 3 suspects
    assert {p[1]: p[2] for p in progress if p[0] == "read"} == {"hubspot": 12, "xero": 8, "intercom": 6}

    again = (await run_backfill(settings)).report
    assert _state(settings) == state  # nothing changed, not even the audit log
    assert (again.new_customers, sum(again.xrefs_added.values()), again.suspects_raised, again.golden_fields) == (0, 0, 0, 0)
    assert (again.already_linked, again.suspects_known, again.linked_customers) == (26, 3, 6)


async def test_backfill_is_refused_while_an_engine_holds_the_lease(engine, settings):
    with pytest.raises(BackfillRefused, match=f"the engine of {engine.lease.holder} is running"):
        await run_backfill(settings)
    assert _state(settings)["customers"] == 0
    assert (await run_backfill(settings, dry_run=True)).report.new_customers == 17  # a dry run needs no lease


def test_the_cli_backfills_once_and_prints_the_summary(settings, tmp_path, monkeypatch):
    from opsconsole.cli import main

    config = tmp_path / "opsconsole.toml"
    config.write_text("\n".join([
        f'store_url = "{settings.store_url}"', f'var_dir = "{tmp_path}"', 'audit_key = "test-audit-key"',
        'operator = "olivia"',
        *(f'[{name}]\nbase_url = "{getattr(settings, name).base_url}"\ntoken = "{getattr(settings, name).token}"'
          + (f'\ntenant_id = "{settings.xero.tenant_id}"' if name == "xero" else "")
          for name in ("hubspot", "xero", "intercom"))]) + "\n")
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    runner = CliRunner()

    result = runner.invoke(main, ["sync", "backfill", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "planned" and doc["report"]["new_customers"] == 17
    assert len(doc["report"]["plan"]["linked"]) == 6 and len(doc["report"]["plan"]["suspects"]) == 3

    result = runner.invoke(main, ["sync", "backfill"])
    assert result.exit_code == 0, result.output
    for line in ("customers linked across systems", "new customers", "suspected duplicates raised",
                 "records already linked"):
        assert line in result.stdout
    assert "3 suspected duplicate(s) wait for a person" in result.stdout
    assert _state(settings)["customers"] == 17

    result = runner.invoke(main, ["sync", "backfill", "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["status"] == "done"
    assert (doc["report"]["new_customers"], doc["report"]["suspects_raised"], doc["report"]["already_linked"]) == (0, 0, 26)
    assert _state(settings)["audit"] == 1
