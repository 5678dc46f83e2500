"""Account and contact sync in both directions across HubSpot, Xero and Intercom, following ownership:
the real engine against the three sandboxes over loopback HTTP, with exact write counts (the Xero
sandbox's write log, the HubSpot and Intercom write logs of tests/engine/conftest.py)."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
from sqlalchemy import select

from connectors.webhooks import sign_hubspot_v3, sign_intercom
from opsconsole.engine import governance, records
from opsconsole.sandboxes import HUBSPOT_SECRET, INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN
from opsconsole.services import Services
from opsconsole.store.tables import conflicts, inbox, runs, steps
from tests.engine.conftest import INTERCOM_WEBHOOK_KEY, XERO_WEBHOOK_KEY, wait_for

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
INTERCOM = {"Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.14"}
XERO = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT}


def _q(engine, stmt):
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


async def _settled(engine):
    """Every run finished (the echoes of the engine's own writes included)."""
    await asyncio.sleep(0.6)
    await wait_for(lambda: not _q(engine, select(runs.c.id).where(runs.c.status.in_(["pending", "running", "waiting"]))))


def _runs(engine, workflow: str) -> list[str]:
    return [r[0] for r in _q(engine, select(runs.c.status).where(runs.c.workflow == workflow).order_by(runs.c.id))]


def _skipped(engine, workflow: str, step: str) -> list[str]:
    return [r[0] for r in _q(engine, select(steps.c.status).join(runs, runs.c.id == steps.c.run_id)
                                  .where(runs.c.workflow == workflow, steps.c.name == step).order_by(steps.c.id))]


def _xero_contact_writes(sb) -> list[dict]:
    return [w for w in sb.xero_writes() if "/Contacts" in w["path"]]


async def _customer(engine, sb, *, in_intercom: bool) -> dict:
    """A customer made by an approved quote (CRM company, ERP contact, golden record), optionally
    known to customer success (an Intercom company under the customer's name, cross-referenced)."""
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    quote = next(q for q in sb.quote_ids() if q not in special)
    sb.approve(quote)
    await wait_for(lambda: _runs(engine, "quote_to_order") == ["succeeded"])
    [(customer_id,)] = _q(engine, select(runs.c.account_key).where(runs.c.workflow == "quote_to_order"))
    assoc = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/quotes/{quote}", params={"associations": "companies"},
                        headers=AUTH).json()
    company_id = assoc["associations"]["companies"]["results"][0]["id"]
    company = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/companies/{company_id}",
                          params={"associations": "contacts"}, headers=AUTH).json()
    contact_id = company["associations"]["contacts"]["results"][0]["id"]
    [erp] = sb.xero_records("Contacts")
    out = {"customer": customer_id, "company": company_id, "contact": contact_id, "erp": erp, "intercom": None}
    if in_intercom:
        r = sb.http.post(f"{sb.intercom_url}/companies", headers=INTERCOM,
                         json={"company_id": customer_id, "name": erp["Name"]})
        r.raise_for_status()
        out["intercom"] = r.json()
        await engine.writer.run(lambda c: records.put_xref(c, "intercom", "company", customer_id, customer_id))
    await _settled(engine)
    sb.hubspot_log.writes.clear()
    sb.intercom_log.writes.clear()
    return out


def _patch_contact(sb, contact_id: str, **properties) -> None:
    r = sb.http.patch(f"{sb.hubspot_url}/crm/v3/objects/contacts/{contact_id}", json={"properties": properties},
                      headers=AUTH)
    assert r.status_code == 200, r.text


async def _post_intercom(engine, topic: str, item: dict) -> str:
    """A notification as Intercom sends it, signed with the app's client secret (X-Hub-Signature)."""
    now = int(time.time())
    nid = f"notif_test_{topic}_{item['id']}_{item.get('updated_at')}"
    body = orjson.dumps({"type": "notification_event", "app_id": "opsconsole-sandbox",
                         "data": {"type": "notification_event_data", "item": item}, "links": {}, "id": nid,
                         "topic": topic, "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0,
                         "first_sent_at": now, "created_at": now, "self": None})
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{engine.ingress_url}/webhooks/intercom", content=body,
                            headers={"X-Hub-Signature": sign_intercom(INTERCOM_WEBHOOK_KEY, body),
                                     "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return nid


async def _redeliver_hubspot(engine, raw: bytes) -> None:
    """HubSpot sends a delivery again (same eventIds), freshly signed."""
    ts = int(time.time() * 1000)
    uri = f"{engine.ingress_url}/webhooks/hubspot"
    async with httpx.AsyncClient() as http:
        r = await http.post(uri, content=raw, headers={
            "Content-Type": "application/json", "X-HubSpot-Request-Timestamp": str(ts),
            "X-HubSpot-Signature-v3": sign_hubspot_v3(HUBSPOT_SECRET, "POST", uri, raw, ts)})
    assert r.status_code == 200, r.text


async def _until_workflow_done(engine, workflow: str, count: int) -> None:
    await wait_for(lambda: _runs(engine, workflow) == ["succeeded"] * count)
    await _settled(engine)


async def test_a_crm_contact_edit_reaches_intercom_and_the_erp_once(engine, sandboxes):
    sb = sandboxes
    c = await _customer(engine, sb, in_intercom=True)
    xero_before = len(_xero_contact_writes(sb))
    # one PATCH of three properties: HubSpot fires three events, so three runs; one of them writes
    _patch_contact(sb, c["contact"], firstname="Ada", lastname="Lovelace", phone="+44 20 7946 0001")
    await _until_workflow_done(engine, "crm_contact_to_cs_erp", 3)
    email = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/contacts/{c['contact']}", headers=AUTH).json()
    email = email["properties"]["email"]
    [person] = sb.intercom_records("contacts")
    assert (person["email"], person["name"], person["phone"]) == (email, "Ada Lovelace", "+44 20 7946 0001")
    assert person["external_id"].startswith("con_")
    assert [(w["method"], w["path"]) for w in sb.intercom_log.writes] == [
        ("POST", "/contacts"), ("POST", f"/contacts/{person['id']}/companies")]
    assert sb.intercom_log.writes[0]["body"] == {"external_id": person["external_id"], "email": email,
                                                "name": "Ada Lovelace", "phone": "+44 20 7946 0001"}
    assert [ref["id"] for ref in person["companies"]["data"]] == [c["intercom"]["id"]]
    writes = _xero_contact_writes(sb)[xero_before:]
    assert len(writes) == 1
    [erp] = sb.xero_records("Contacts")
    assert erp["ContactPersons"] == [{"FirstName": "Ada", "LastName": "Lovelace", "EmailAddress": email,
                                      "IncludeInEmails": True}]
    assert sorted(_skipped(engine, "crm_contact_to_cs_erp", "upsert_cs_contact")) == ["skipped", "skipped", "succeeded"]
    assert [r[0] for r in _q(engine, select(conflicts.c.id))] == []

    # a later change: only what changed, once to each (Intercom keeps one name: sent whole)
    _patch_contact(sb, c["contact"], lastname="Byron")
    await _until_workflow_done(engine, "crm_contact_to_cs_erp", 4)
    assert [(w["method"], w["path"], w["body"]) for w in sb.intercom_log.writes[2:]] == [
        ("PUT", f"/contacts/{person['id']}", {"name": "Ada Byron"})]
    assert len(_xero_contact_writes(sb)[xero_before:]) == 2
    assert sb.xero_records("Contacts")[0]["ContactPersons"] == [
        {"FirstName": "Ada", "LastName": "Byron", "EmailAddress": email, "IncludeInEmails": True}]

    # redelivered (same eventIds): dropped at the inbox, no run, no write
    intercom_writes, xero_writes = len(sb.intercom_log.writes), len(sb.xero_writes())
    raw = _q(engine, select(inbox.c.raw_body).where(inbox.c.event_type == "contact.propertyChange")
             .order_by(inbox.c.id.desc()).limit(1))[0][0]
    await _redeliver_hubspot(engine, raw)
    # and a new event for the unchanged contact (a fresh eventId): a run that finds nothing changed
    event = {**orjson.loads(raw)[0], "eventId": 99_000_001, "occurredAt": int(time.time() * 1000)}
    await _redeliver_hubspot(engine, orjson.dumps([event]))
    await _until_workflow_done(engine, "crm_contact_to_cs_erp", 5)
    assert len(sb.intercom_log.writes) == intercom_writes and len(sb.xero_writes()) == xero_writes
    assert _q(engine, select(inbox.c.status).order_by(inbox.c.id.desc()).limit(1)) == [("processed",)]
    assert _skipped(engine, "crm_contact_to_cs_erp", "update_erp_contact_persons")[-1] == "skipped"
    assert len(sb.intercom_records("contacts")) == 1


async def test_an_intercom_change_to_a_crm_owned_contact_field_is_a_conflict_never_written_to_the_crm(engine, sandboxes):
    sb = sandboxes
    c = await _customer(engine, sb, in_intercom=True)
    _patch_contact(sb, c["contact"], firstname="Grace")
    await _until_workflow_done(engine, "crm_contact_to_cs_erp", 1)
    [person] = sb.intercom_records("contacts")
    crm = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/contacts/{c['contact']}", headers=AUTH).json()["properties"]
    await asyncio.sleep(1.05)  # Intercom's times are whole seconds: change after the CRM's change
    # someone in customer success edits the contact: the e-mail (the CRM owns it) and the phone (nobody does)
    r = sb.http.put(f"{sb.intercom_url}/contacts/{person['id']}", headers=INTERCOM,
                    json={"email": "grace.private@example.org", "phone": "+1 555 0100"})
    assert r.status_code == 200, r.text
    sb.hubspot_log.writes.clear()
    nid = await _post_intercom(engine, "contact.user.updated", r.json())
    await _until_workflow_done(engine, "cs_contact_to_crm", 1)
    services = Services(engine.settings, operator="sam", audit=engine.audit, engine_mode="engine")
    try:
        [conflict] = services.conflicts().rows
    finally:
        services.close()
    assert (conflict.kind, conflict.entity, conflict.field, conflict.owner, conflict.challenger) == (
        "ownership", "contact", "email", "hubspot", "intercom")
    assert conflict.values == {"hubspot": crm["email"], "intercom": "grace.private@example.org"}
    # the phone (no single owner, the newer value) is taken and written to the CRM: that, and only that
    assert [(w["method"], w["path"], w["body"]) for w in sb.hubspot_log.writes] == [
        ("PATCH", f"/crm/v3/objects/contacts/{c['contact']}", {"properties": {"phone": "+1 555 0100"}})]
    after = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/contacts/{c['contact']}", params={"properties": "email,phone"},
                        headers=AUTH).json()["properties"]
    assert (after["email"], after["phone"]) == (crm["email"], "+1 555 0100")
    with engine.read_engine.connect() as conn:
        golden = governance.load_golden(conn, "contact", conflict.canonical_id)
    assert golden.fields["email"].value == crm["email"] and golden.fields["email"].system == "hubspot"
    assert golden.fields["phone"].value == "+1 555 0100" and golden.fields["phone"].system == "intercom"
    # the CRM's echo of that write changed nothing, so nothing went back to Intercom or the ERP
    assert _runs(engine, "crm_contact_to_cs_erp") == ["succeeded", "succeeded"]
    assert _skipped(engine, "crm_contact_to_cs_erp", "upsert_cs_contact")[-1] == "skipped"
    # the same notification again: kept once, no second conflict, no second write
    await _post_intercom(engine, "contact.user.updated", r.json())
    await _settled(engine)
    assert _q(engine, select(inbox.c.status).where(inbox.c.event_key == nid)) == [("processed",)]
    assert len(_q(engine, select(conflicts.c.id))) == 1 and len(sb.hubspot_log.writes) == 1
    assert _runs(engine, "cs_contact_to_crm") == ["succeeded"]


async def test_a_customer_not_in_intercom_gets_nothing_written_there(engine, sandboxes):
    sb = sandboxes
    c = await _customer(engine, sb, in_intercom=False)
    xero_before = len(_xero_contact_writes(sb))
    _patch_contact(sb, c["contact"], firstname="Linus")
    sb.http.patch(f"{sb.hubspot_url}/crm/v3/objects/companies/{c['company']}",
                  json={"properties": {"domain": "linus.example"}}, headers=AUTH).raise_for_status()
    await wait_for(lambda: _runs(engine, "crm_contact_to_cs_erp") == ["succeeded"]
                   and _runs(engine, "company_to_contact") == ["succeeded"])
    await _settled(engine)
    assert sb.intercom_log.writes == [] and sb.intercom_records("contacts") == []
    assert sb.intercom_records("companies") == []
    assert _skipped(engine, "crm_contact_to_cs_erp", "upsert_cs_contact") == ["skipped"]
    assert _skipped(engine, "company_to_contact", "update_cs_company") == ["skipped"]
    # the skip was decided before the ERP write's commit and written in it (one commit less):
    # its step started before the ERP step's row was finished
    (upsert_finished,), (skip_started,) = _q(engine, select(
        steps.c.finished_at).join(runs, runs.c.id == steps.c.run_id)
        .where(runs.c.workflow == "company_to_contact", steps.c.name == "upsert_contact")), _q(
        engine, select(steps.c.started_at).join(runs, runs.c.id == steps.c.run_id)
        .where(runs.c.workflow == "company_to_contact", steps.c.name == "update_cs_company"))
    assert skip_started < upsert_finished
    # the ERP still gets the person, once
    assert sorted(w["idempotency_key"].rsplit(":", 1)[-1] for w in _xero_contact_writes(sb)[xero_before:]) == [
        "update_erp_contact_persons", "upsert_contact"]  # the person, and the company's change (domain)
    assert [p["FirstName"] for p in sb.xero_records("Contacts")[0]["ContactPersons"]] == ["Linus"]


async def test_customer_changes_from_the_crm_and_the_erp_reach_the_intercom_company_once(engine, sandboxes):
    sb = sandboxes
    sb.http.post(f"{sb.xero_url}/_sandbox/webhooks", json={
        "target_url": f"{engine.ingress_url}/webhooks/xero", "key": XERO_WEBHOOK_KEY}).raise_for_status()
    # Intercom notifies the engine of its company changes (the echoes of the engine's own writes too)
    sb.http.post(f"{sb.intercom_url}/_sandbox/webhooks", json={
        "target_url": f"{engine.ingress_url}/webhooks/intercom", "retry_delays": [0.05]}).raise_for_status()
    c = await _customer(engine, sb, in_intercom=True)
    echoes = len(_runs(engine, "cs_company_to_crm"))  # e.g. of the invoice's payment status (invoice_feedback)
    # the CRM owns the domain: the Intercom company's website follows, once
    sb.http.patch(f"{sb.hubspot_url}/crm/v3/objects/companies/{c['company']}",
                  json={"properties": {"domain": "www.ridge-new.example"}}, headers=AUTH).raise_for_status()
    await wait_for(lambda: _runs(engine, "company_to_contact") == ["succeeded"])
    await _settled(engine)
    assert [(w["method"], w["path"], w["body"]) for w in sb.intercom_log.writes] == [
        ("POST", "/companies", {"company_id": c["customer"], "website": "https://ridge-new.example"})]
    # Intercom's company.updated for that write came back and changed nothing
    await wait_for(lambda: _runs(engine, "cs_company_to_crm")[echoes:] == ["succeeded"])
    assert _skipped(engine, "cs_company_to_crm", "update_crm_company")[echoes:] == ["skipped"]

    # the ERP owns the legal name: a Xero rename reaches the CRM and Intercom, once each
    r = sb.http.post(f"{sb.xero_api}/Contacts/{c['erp']['ContactID']}",
                     json={"Contacts": [{"ContactID": c["erp"]["ContactID"], "Name": "Ridgeway Renamed Ltd"}]},
                     headers={**XERO, "Idempotency-Key": "finance-desk-rename-1"})
    assert r.status_code == 200, r.text
    await wait_for(lambda: any(w["body"].get("name") == "Ridgeway Renamed Ltd" for w in sb.intercom_log.writes))
    await _settled(engine)
    assert [(w["path"], w["body"]) for w in sb.intercom_log.writes[1:]] == [
        ("/companies", {"company_id": c["customer"], "name": "Ridgeway Renamed Ltd"})]
    [company] = sb.intercom_records("companies")
    assert (company["name"], company["website"]) == ("Ridgeway Renamed Ltd", "https://ridge-new.example")
    assert [w["body"] for w in sb.hubspot_log.writes if w["path"].endswith(f"/companies/{c['company']}")][-1] == {
        "properties": {"name": "Ridgeway Renamed Ltd"}}
    assert _q(engine, select(conflicts.c.id)) == []
    assert set(_runs(engine, "cs_company_to_crm")) == {"succeeded"}
    assert set(_skipped(engine, "cs_company_to_crm", "update_crm_company")) == {"skipped"}


async def test_an_intercom_company_rename_is_a_conflict_never_written_to_the_crm(engine, sandboxes):
    sb = sandboxes
    sb.http.post(f"{sb.intercom_url}/_sandbox/webhooks", json={
        "target_url": f"{engine.ingress_url}/webhooks/intercom", "retry_delays": [0.05]}).raise_for_status()
    c = await _customer(engine, sb, in_intercom=True)
    hubspot_writes = len(sb.hubspot_log.writes)
    await asyncio.sleep(1.05)  # Intercom's times are whole seconds: rename after the golden record was set
    # customer success renames the company: Intercom notifies company.updated (the sandbox's own delivery)
    r = sb.http.post(f"{sb.intercom_url}/companies", headers=INTERCOM,
                     json={"company_id": c["customer"], "name": "Ridgeway (CS nickname)"})
    assert r.status_code == 200, r.text
    await wait_for(lambda: _runs(engine, "cs_company_to_crm") == ["succeeded"])
    await _settled(engine)
    [(field, owner, challenger, values)] = _q(engine, select(conflicts.c.field, conflicts.c.owner,
                                                             conflicts.c.challenger, conflicts.c["values"]))
    assert (field, owner, challenger) == ("legal_name", "xero", "intercom")
    assert values["intercom"] == "Ridgeway (CS nickname)"
    assert values.get("xero", values.get("hubspot")) == c["erp"]["Name"]  # whoever set the golden name
    assert len(sb.hubspot_log.writes) == hubspot_writes  # nothing written to the CRM
    # the test's own rename is Intercom's only write: the engine wrote nothing back
    assert [w["body"] for w in sb.intercom_log.writes] == [{"company_id": c["customer"], "name": "Ridgeway (CS nickname)"}]
    company = sb.http.get(f"{sb.hubspot_url}/crm/v3/objects/companies/{c['company']}", headers=AUTH).json()
    assert company["properties"]["name"] != "Ridgeway (CS nickname)"
