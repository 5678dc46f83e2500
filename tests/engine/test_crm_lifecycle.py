"""HubSpot merges, deletions and restores, end to end: the CRM sandbox's signed webhooks reach the
engine's ingress, which re-points or archives cross-references in the inbox commit, audits it, and
never touches the ERP."""

from __future__ import annotations

import time

import httpx
import orjson
from sqlalchemy import func, select

from connectors.webhooks import sign_hubspot_v3
from opsconsole.engine.crm_lifecycle import CONFLICT_TITLE
from opsconsole.sandboxes import HUBSPOT_SECRET, HUBSPOT_TOKEN
from opsconsole.store.tables import audit, exceptions, inbox, runs, xrefs
from tests.engine.conftest import wait_for

XREF_COLUMNS = (xrefs.c.system, xrefs.c.object_type, xrefs.c.external_id, xrefs.c.canonical_id, xrefs.c.merged_into,
                xrefs.c.previous_canonical_id, xrefs.c.archived_reason)


def _q(engine, stmt):
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


def _count(engine, table, *where) -> int:
    return _q(engine, select(func.count()).select_from(table).where(*where))[0][0]


def _xrefs(engine) -> dict[tuple[str, str, str], tuple]:
    """Every cross-reference: (system, type, external id) -> (canonical, merged_into, previous, reason, archived)."""
    rows = _q(engine, select(*XREF_COLUMNS, xrefs.c.archived_at))
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5], r[6], r[7] is not None) for r in rows}


async def _post(engine, events: list[dict]) -> int:
    url = f"{engine.ingress_url}/webhooks/hubspot"
    body, ts = orjson.dumps(events), int(time.time() * 1000)
    async with httpx.AsyncClient() as http:
        r = await http.post(url, content=body, headers={
            "X-HubSpot-Signature-v3": sign_hubspot_v3(HUBSPOT_SECRET, "POST", url, body, ts),
            "X-HubSpot-Request-Timestamp": str(ts), "Content-Type": "application/json"})
    return r.status_code


async def _sync_companies(engine, sandboxes, company_ids: list[str]) -> dict[str, str]:
    """Run company_to_contact for each company; return company id -> canonical customer id."""
    before = _count(engine, runs, runs.c.status == "succeeded")
    events = [{"eventId": 7000 + i, "subscriptionType": "company.propertyChange", "objectId": int(cid),
               "propertyName": "name", "propertyValue": "x", "occurredAt": 1_700_000_000_000 + i}
              for i, cid in enumerate(company_ids)]
    assert await _post(engine, events) == 200
    await wait_for(lambda: _count(engine, runs, runs.c.status == "succeeded") == before + len(company_ids))
    refs = _xrefs(engine)
    return {cid: refs[("hubspot", "company", cid)][0] for cid in company_ids}


def _hubspot_api(sandboxes) -> httpx.Client:
    return httpx.Client(base_url=sandboxes.hubspot_url, headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"})


def _companies(sandboxes) -> list[str]:
    return sorted(sandboxes.hubspot.store.objects["companies"], key=int)


def _processed(engine, event_type: str):
    rows = _q(engine, select(inbox.c.event_key, inbox.c.status, inbox.c.business_key, inbox.c.note, inbox.c.run_id)
              .where(inbox.c.event_type == event_type))
    return rows if rows and all(r.status == "processed" for r in rows) else None


async def test_merge_repoints_the_merged_cross_reference_and_keeps_the_other_customer_as_alias(engine, sandboxes):
    primary, other = _companies(sandboxes)[5:7]
    customers = await _sync_companies(engine, sandboxes, [primary, other])
    assert customers[primary] != customers[other]  # two customers, each with its ERP contact
    before = _xrefs(engine)
    erp_contacts = {ext: v[0] for (sys, ot, ext), v in before.items() if (sys, ot) == ("xero", "contact")}
    assert sorted(erp_contacts.values()) == sorted(customers.values())
    xero_writes, xero_counts = len(sandboxes.xero_writes()), sandboxes.xero_state()["counts"]

    with _hubspot_api(sandboxes) as api:
        r = api.post("/crm/v3/objects/companies/merge", json={"primaryObjectId": primary, "objectIdToMerge": other})
    assert r.status_code == 200 and r.json()["id"] == primary
    (row,) = await wait_for(lambda: _processed(engine, "company.merge"))
    event = sandboxes.hubspot.webhooks.deliveries[-1].events[0]
    assert row.event_key == str(event["eventId"]) and row.business_key == f"hubspot:company:{primary}"
    assert row.run_id is None and f"re-pointed to {customers[primary]}" in row.note

    after = _xrefs(engine)
    assert after[("hubspot", "company", primary)] == (customers[primary], None, None, None, False)
    canonical, merged_into, previous, reason, archived = after[("hubspot", "company", other)]
    assert (canonical, merged_into, previous, archived) == (customers[primary], primary, customers[other], True)
    assert reason.startswith(f"merged into company {primary} in HubSpot (event {event['eventId']}, ")
    # the ERP side is untouched: both contacts still stand for their own customers, nothing was written
    assert {k: v for k, v in after.items() if k[0] == "xero"} == {k: v for k, v in before.items() if k[0] == "xero"}
    assert len(sandboxes.xero_writes()) == xero_writes and sandboxes.xero_state()["counts"] == xero_counts
    assert {c["ContactStatus"] for c in sandboxes.xero_records("Contacts")} == {"ACTIVE"}
    # two customers became one CRM record: a person decides, with both ids in front of them
    (exc,) = _q(engine, select(exceptions.c.title, exceptions.c.category, exceptions.c.state, exceptions.c.run_id,
                               exceptions.c.business_key, exceptions.c.last_error, exceptions.c.payload))
    assert (exc.title, exc.category, exc.state, exc.run_id) == (CONFLICT_TITLE, "validation", "open", None)
    assert exc.business_key == f"hubspot:company:{primary}"
    assert customers[other] in exc.last_error and "nothing was merged or deleted in the ERP" in exc.last_error
    assert exc.payload["aliases"] == [{"external_id": other, "previous_canonical_id": customers[other]}]
    (entry,) = _q(engine, select(audit.c.actor, audit.c.action, audit.c.subject, audit.c.detail)
                  .where(audit.c.action == "crm.merge"))
    assert (entry.actor, entry.subject) == ("engine", f"hubspot:company:{primary}")
    assert entry.detail["repointed"] == [other] and entry.detail["canonical_id"] == customers[primary]
    with engine.read_engine.connect() as c:
        assert engine.audit.verify(c).ok


async def test_merge_into_a_record_the_engine_never_saw_hands_it_the_customer(engine, sandboxes):
    unseen, known = _companies(sandboxes)[8:10]
    customers = await _sync_companies(engine, sandboxes, [known])
    with _hubspot_api(sandboxes) as api:
        assert api.post("/crm/v3/objects/companies/merge",
                        json={"primaryObjectId": unseen, "objectIdToMerge": known}).status_code == 200
    await wait_for(lambda: _processed(engine, "company.merge"))
    after = _xrefs(engine)
    assert after[("hubspot", "company", unseen)] == (customers[known], None, None, None, False)
    assert after[("hubspot", "company", known)][:3] == (customers[known], unseen, None)
    assert _count(engine, exceptions) == 0  # one customer throughout: nothing for a person


async def test_deletion_archives_the_cross_reference_and_deletes_nothing_elsewhere(engine, sandboxes):
    doomed = _companies(sandboxes)[7]
    customers = await _sync_companies(engine, sandboxes, [doomed])
    before = _xrefs(engine)
    xero_writes, xero_counts = len(sandboxes.xero_writes()), sandboxes.xero_state()["counts"]
    contacts = sandboxes.xero_records("Contacts")

    with _hubspot_api(sandboxes) as api:
        assert api.delete(f"/crm/v3/objects/companies/{doomed}").status_code == 204
    (row,) = await wait_for(lambda: _processed(engine, "company.deletion"))
    assert row.business_key == f"hubspot:company:{doomed}" and "nothing was deleted in another system" in row.note
    after = _xrefs(engine)
    canonical, merged_into, previous, reason, archived = after[("hubspot", "company", doomed)]
    assert (canonical, merged_into, previous, archived) == (customers[doomed], None, None, True)
    assert reason.startswith("deleted in HubSpot (event ") and reason.endswith("nothing deleted in another system")
    assert {k: v for k, v in after.items() if k[0] == "xero"} == {k: v for k, v in before.items() if k[0] == "xero"}
    assert sandboxes.xero_records("Contacts") == contacts  # not deleted, not archived, not even touched
    assert len(sandboxes.xero_writes()) == xero_writes and sandboxes.xero_state()["counts"] == xero_counts
    assert _q(engine, select(audit.c.subject).where(audit.c.action == "crm.deletion")) == [(f"hubspot:company:{doomed}",)]

    # out of the recycle bin: the same cross-reference is live again
    httpx.post(f"{sandboxes.hubspot_url}/_sandbox/objects/companies/{doomed}/restore").raise_for_status()
    await wait_for(lambda: _processed(engine, "company.restore"))
    assert _xrefs(engine)[("hubspot", "company", doomed)] == (customers[doomed], None, None, None, False)


async def test_a_redelivered_merge_is_applied_once_and_a_malformed_one_is_a_validation_exception(engine, sandboxes):
    primary, other = _companies(sandboxes)[10:12]
    customers = await _sync_companies(engine, sandboxes, [other])
    merge = {"eventId": 8801, "subscriptionType": "object.merge", "objectTypeId": "0-2", "objectId": int(primary),
             "primaryObjectId": int(primary), "mergedObjectIds": [int(other)], "newObjectId": int(primary),
             "numberOfPropertiesMoved": 0, "occurredAt": 1_700_000_000_000, "changeSource": "CRM_UI"}
    for _ in range(3):
        assert await _post(engine, [merge]) == 200
    assert _count(engine, inbox, inbox.c.event_type == "object.merge") == 1
    assert _count(engine, audit, audit.c.action == "crm.merge") == 1
    assert _xrefs(engine)[("hubspot", "company", primary)][0] == customers[other]

    broken = {**merge, "eventId": 8802, "mergedObjectIds": []}
    assert await _post(engine, [broken]) == 200
    (row,) = _q(engine, select(inbox.c.event_key, inbox.c.status, inbox.c.note).where(inbox.c.event_key == "8802"))
    assert row.status == "invalid" and "has no mergedObjectIds" in row.note
    (exc,) = _q(engine, select(exceptions.c.category, exceptions.c.system).where(exceptions.c.inbox_id.is_not(None)))
    assert (exc.category, exc.system) == ("validation", "hubspot")
