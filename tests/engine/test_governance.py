"""Governed sync end to end: a CRM edit of an ERP-owned, billing-impacting field becomes a conflict,
then a correction that finance (not the requester) approves, after which exactly one ERP update is
sent; a forged approval row is refused; a suspected duplicate holds its run and never makes a second
ERP contact."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from opsconsole.engine import records
from opsconsole.services import ActionRefused, Services
from opsconsole.store.tables import corrections, exceptions, runs
from tests.engine.conftest import make_settings, wait_for

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}


def _q(engine, stmt):
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


def _ordinary_quote(sb):
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    return next(q for q in sb.quote_ids() if q not in special)


def _company_of(sb, quote_id: str) -> str:
    r = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/quotes/{quote_id}", params={"associations": "companies"},
                    headers=AUTH).json()
    return r["associations"]["companies"]["results"][0]["id"]


def _contact_writes(sb) -> list[dict]:
    return [w for w in sb.xero_writes() if "/Contacts" in w["path"]]


async def _ordered_customer(engine, sb) -> tuple[str, dict]:
    qid = _ordinary_quote(sb)
    sb.approve(qid)
    await wait_for(lambda: _q(engine, select(runs.c.status).where(runs.c.workflow == "quote_to_order")) == [("succeeded",)])
    [contact] = sb.xero_records("Contacts")
    return _company_of(sb, qid), contact


async def test_crm_edit_of_erp_tax_number_becomes_a_correction_finance_approves_once(tmp_path, sandboxes):
    from opsconsole.engine.app import Engine

    settings = make_settings(tmp_path, sandboxes, roles={"fiona": ["finance", "support"], "frank": ["finance"],
                                                         "sam": ["support"]})
    engine = Engine(settings)
    assert await engine.start(wait_for_lease=False)
    sandboxes.hubspot.target_url = f"{engine.ingress_url}/webhooks/hubspot"
    try:
        company_id, contact = await _ordered_customer(engine, sandboxes)
        writes_before = len(_contact_writes(sandboxes))
        # the CRM edits the tax number, which the ERP owns: a conflict, nothing sent to the ERP
        r = sandboxes.http.patch(f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{company_id}",
                                 json={"properties": {"vat_number": "GB 999 000 111"}}, headers=AUTH)
        assert r.status_code == 200
        services = Services(settings, operator="fiona", audit=engine.audit, engine_mode="engine")
        page = await wait_for(lambda: services.conflicts().total and services.conflicts())
        [conflict] = page.rows
        assert (conflict.kind, conflict.field, conflict.owner, conflict.challenger) == (
            "ownership", "tax_number", "xero", "hubspot")
        assert conflict.values == {"hubspot": "GB999000111"} | {k: v for k, v in conflict.values.items() if k != "hubspot"}
        assert conflict.billing_impacting
        await wait_for(lambda: _q(engine, select(runs.c.status).where(runs.c.workflow == "company_to_contact"))
                       == [("succeeded",)])
        assert len(_contact_writes(sandboxes)) == writes_before  # the upsert had nothing to send
        # resolving a conflict needs the support role: refused when asked, and again in the engine
        frank = Services(settings, operator="frank", audit=engine.audit, engine_mode="engine")
        with __import__("pytest").raises(ActionRefused, match="not yours to resolve a conflict: frank does not hold the support role"):
            frank.resolve_conflict(conflict.id, "keep")
        forced = frank._command("resolve_conflict", f"conflict:{conflict.id}", {"resolution": "keep", "note": ""}, "forced")
        await wait_for(lambda: frank.command(forced.command_id).status == "failed")
        assert frank.command(forced.command_id).result == "frank does not hold the support role"
        assert services.conflict(conflict.id).state == "open"
        with __import__("pytest").raises(ActionRefused, match="billing-impacting"):
            services.resolve_conflict(conflict.id, "take")
        receipt = services.resolve_conflict(conflict.id, "correction", "new VAT certificate received")
        await wait_for(lambda: services.command(receipt.command_id).status == "done")
        [correction] = services.corrections().rows
        assert (correction.field, correction.after, correction.requested_by, correction.state) == (
            "tax_number", "GB999000111", "fiona", "pending")
        # the requester cannot approve it, nor can someone without the finance role; the console says why
        assert correction.why_not_yours == "fiona requested correction 1; another finance approver must decide it"
        with __import__("pytest").raises(ActionRefused, match="another finance approver"):
            services.approve(correction.id)
        sam = Services(settings, operator="sam", audit=engine.audit, engine_mode="engine")
        with __import__("pytest").raises(ActionRefused, match="sam does not hold the finance role"):
            sam.approve(correction.id)
        # and the engine re-checks even if the console is bypassed: the requester's own command fails
        forced = services._command("approve", f"correction:{correction.id}", {}, "forced")
        await wait_for(lambda: services.command(forced.command_id).status == "failed")
        frank = Services(settings, operator="frank", audit=engine.audit, engine_mode="engine")
        receipt = frank.approve(correction.id)
        await wait_for(lambda: frank.command(receipt.command_id).status == "done")
        await wait_for(lambda: frank.correction(correction.id).state == "applied")
        contact_writes = _contact_writes(sandboxes)[writes_before:]
        assert len(contact_writes) == 1
        [after] = sandboxes.xero_records("Contacts")
        assert after["ContactID"] == contact["ContactID"] and after["TaxNumber"] == "GB999000111"
        for s in (services, sam, frank):
            s.close()
    finally:
        await engine.stop(drain_s=2)


async def test_a_forged_approval_row_is_refused(engine, sandboxes):
    company_id, contact = await _ordered_customer(engine, sandboxes)
    writes_before = len(_contact_writes(sandboxes))
    customer = _q(engine, select(runs.c.account_key).where(runs.c.workflow == "quote_to_order"))[0][0]

    def forge(c):
        c.execute(corrections.insert().values(
            entity="customer", canonical_id=customer, field="tax_number", before=contact["TaxNumber"],
            after="GB000000000", target_system="xero", billing_impacting=True, requested_by="mallory",
            reason="", state="approved", decided_by="mallory2", decision_reason="", created_at=0, approval_audit_id=1))
        return records.open_run(c, "apply_correction", "correction:1")

    run_id = await engine.writer.run(forge)
    engine.runner.submit(run_id)
    await wait_for(lambda: _q(engine, select(runs.c.status).where(runs.c.id == run_id)) == [("failed",)])
    [(title, category, error)] = _q(engine, select(exceptions.c.title, exceptions.c.category, exceptions.c.last_error)
                                    .where(exceptions.c.run_id == run_id))
    assert (title, category) == ("Correction refused", "validation")
    assert error == "approval refused: mallory2 does not hold the finance role"
    assert _q(engine, select(corrections.c.state))[0][0] == "refused"
    assert len(_contact_writes(sandboxes)) == writes_before
    assert sandboxes.xero_records("Contacts")[0]["TaxNumber"] == contact["TaxNumber"]


async def test_a_suspected_duplicate_holds_the_run_until_a_person_links_it(engine, sandboxes):
    company_id, contact = await _ordered_customer(engine, sandboxes)
    name = sandboxes.http.get(f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{company_id}", headers=AUTH).json()
    name = name["properties"]["name"]
    # a second CRM company with the same name but no tax number or domain: maybe the same customer
    sandboxes.hubspot.store.create("companies", {"name": name, "address": "1 Way", "city": "Leeds", "country": "GB",
                                                 "vat_number": ""}, at_ms=0)
    twin = max(sandboxes.hubspot.store.objects["companies"], key=int)
    await asyncio.to_thread(sandboxes.http.patch, f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{twin}",
                            json={"properties": {"zip": "LS1"}}, headers=AUTH)
    services = Services(engine.settings, operator="sam", audit=engine.audit, engine_mode="engine")
    page = await wait_for(lambda: services.conflicts(kind="duplicate").total and services.conflicts(kind="duplicate"))
    [conflict] = page.rows
    assert conflict.values["record"]["external_id"] == twin and conflict.score == 0.5
    run_id = conflict.run_id
    [(status,)] = _q(engine, select(runs.c.status).where(runs.c.id == run_id))
    [(title,)] = _q(engine, select(exceptions.c.title).where(exceptions.c.run_id == run_id))
    assert (status, title) == ("failed", "Suspected duplicate")
    assert len(sandboxes.xero_records("Contacts")) == 1  # nothing created while a person decides
    receipt = services.resolve_conflict(conflict.id, "link", "same company, second CRM record")
    await wait_for(lambda: services.command(receipt.command_id).status == "done")
    await wait_for(lambda: _q(engine, select(runs.c.status).where(runs.c.id == run_id)) == [("succeeded",)])
    assert len(sandboxes.xero_records("Contacts")) == 1  # linked: the one ERP contact, never a second
    services.close()


async def _settled(engine):
    """Every run finished (the webhook echoes of the engine's own writes included)."""
    await asyncio.sleep(0.5)
    await wait_for(lambda: not _q(engine, select(runs.c.id).where(runs.c.status.in_(["pending", "running", "waiting"]))))


async def test_an_erp_change_of_an_erp_owned_field_flows_to_the_crm_and_stops_there(engine, sandboxes):
    from opsconsole.sandboxes import XERO_TENANT, XERO_TOKEN
    from tests.engine.conftest import XERO_WEBHOOK_KEY

    sandboxes.http.post(f"{sandboxes.xero_url}/_sandbox/webhooks", json={
        "target_url": f"{engine.ingress_url}/webhooks/xero", "key": XERO_WEBHOOK_KEY}).raise_for_status()
    company_id, contact = await _ordered_customer(engine, sandboxes)
    await _settled(engine)  # the ERP's echo of the engine's own contact write changed nothing
    assert {r[0] for r in _q(engine, select(runs.c.workflow))} == {"quote_to_order", "contact_to_company",
                                                                  "invoice_feedback"}  # the invoice's CREATE
    company_url = f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{company_id}?properties=vat_number"
    assert sandboxes.http.get(company_url, headers=AUTH).json()["properties"]["vat_number"] != "GB777000111"
    writes_before = len(_contact_writes(sandboxes))
    r = sandboxes.http.post(f"{sandboxes.xero_api}/Contacts/{contact['ContactID']}",
                            json={"Contacts": [{"ContactID": contact["ContactID"], "TaxNumber": "GB 777 000 111"}]},
                            headers={"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT,
                                     "Idempotency-Key": "finance-desk-edit-1"})
    assert r.status_code == 200, r.text
    await wait_for(lambda: sandboxes.http.get(company_url, headers=AUTH).json()["properties"]["vat_number"]
                   == "GB777000111")
    await _settled(engine)
    services = Services(engine.settings, operator="sam", audit=engine.audit, engine_mode="engine")
    assert services.conflicts().total == 0  # the ERP owns the field: no conflict
    services.close()
    # the CRM's change event for the engine's own write came back and sent nothing to the ERP
    assert len(_contact_writes(sandboxes)) == writes_before + 1
    assert _q(engine, select(runs.c.status).where(runs.c.workflow == "company_to_contact")) == [("succeeded",)]


async def test_reconciliation_reports_drift_as_conflicts_and_takes_what_the_owner_changed(engine, sandboxes):
    from opsconsole.sandboxes import XERO_TENANT, XERO_TOKEN

    company_id, contact = await _ordered_customer(engine, sandboxes)
    # drift the engine heard nothing about (no webhooks): the CRM's city, the ERP's tax number
    sandboxes.hubspot.target_url = None
    r = sandboxes.http.patch(f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{company_id}",
                             json={"properties": {"city": "Drifton"}}, headers=AUTH)
    assert r.status_code == 200
    r = sandboxes.http.post(f"{sandboxes.xero_api}/Contacts/{contact['ContactID']}",
                            json={"Contacts": [{"ContactID": contact["ContactID"], "TaxNumber": "GB555000111"}]},
                            headers={"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT,
                                     "Idempotency-Key": "finance-desk-edit-2"})
    assert r.status_code == 200, r.text
    writes_before = len(sandboxes.xero_writes())
    report = await engine.reconciler.run()
    assert (report.compared, report.taken_from_owner, len(report.conflicts_opened), report.unreadable) == (2, 1, 1, 0)
    services = Services(engine.settings, operator="sam", audit=engine.audit, engine_mode="engine")
    [conflict] = services.conflicts().rows
    assert (conflict.field, conflict.owner, conflict.challenger) == ("billing_address", "xero", "hubspot")
    assert conflict.values["hubspot"]["city"] == "Drifton"
    # seen again, the same drift is not reported twice; nothing was written to any system
    again = await engine.reconciler.run()
    assert (again.compared, again.taken_from_owner, again.conflicts_opened) == (1, 0, [])
    assert services.conflicts().total == 1 and len(sandboxes.xero_writes()) == writes_before
    with engine.read_engine.connect() as c:
        from opsconsole.engine import governance

        golden = governance.load_golden(c, "customer", conflict.canonical_id)
    assert golden.fields["tax_number"].value == "GB555000111" and golden.fields["tax_number"].system == "xero"
    services.close()


async def test_taking_a_non_billing_value_writes_it_to_the_system_of_record(engine, sandboxes):
    from datetime import datetime, timedelta, timezone

    from opsconsole.engine import governance

    company_id, _ = await _ordered_customer(engine, sandboxes)
    customer = _q(engine, select(runs.c.account_key).where(runs.c.workflow == "quote_to_order"))[0][0]
    # customer success knows a different web domain than the CRM, which owns it: a conflict
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    _, (conflict_id,) = await engine.writer.run(lambda c: governance.apply_to_golden(
        c, governance.ownership_rules(), "customer", customer, "intercom", {"domain": "support.example"},
        event_id="intercom:test", at=later))
    services = Services(engine.settings, operator="sam", audit=engine.audit, engine_mode="engine")
    receipt = services.resolve_conflict(conflict_id, "take", "the customer moved to its support domain")
    await wait_for(lambda: services.command(receipt.command_id).status == "done")
    correction = services.conflict(conflict_id).correction_id
    await wait_for(lambda: services.correction(correction).state == "applied")
    props = sandboxes.http.get(f"{sandboxes.hubspot_url}/crm/v3/objects/companies/{company_id}?properties=domain",
                               headers=AUTH).json()["properties"]
    assert props["domain"] == "support.example"
    row = services.correction(correction)
    assert (row.target_system, row.requested_by, row.decided_by) == ("hubspot", "sam", "sam")
    with engine.read_engine.connect() as c:
        golden = governance.load_golden(c, "customer", customer)
    assert golden.fields["domain"].value == "support.example" and golden.fields["domain"].system == "hubspot"
    services.close()
