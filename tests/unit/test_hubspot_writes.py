"""HubSpot writes (batch upsert by a unique property, property write-back) and deal reads, against the
HubSpot sandbox over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from connectors.errors import FatalError, NotFoundError
from connectors.hubspot import CONNECTOR
from connectors.hubspot.client import WRITE_BACK_PROPERTIES, associated_ids
from tests.unit.hubspot_fixtures import TOKEN, hubspot_fixtures

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


sandbox, fresh = hubspot_fixtures(12)


@pytest.fixture
async def client(fresh):
    c = CONNECTOR.client(fresh.url, token=TOKEN, transport="aiohttp")
    yield c
    await c.aclose()


def _count(sb, type_: str) -> int:
    return httpx.get(sb.url + "/_sandbox/state").json()["counts"][type_]


async def test_batch_upsert_creates_then_updates_the_same_record(client, fresh):
    before = _count(fresh, "companies")
    first = await client.batch_upsert("companies", [{"id": "CUST-0042", "properties": {
        "name": "Globex Ltd", "domain": "globex.example", "financial_risk": "low"}}],
        id_property="external_id", traceparent=TRACE)
    assert first["status"] == "COMPLETE" and len(first["results"]) == 1
    created = first["results"][0]
    assert created["new"] is True
    assert created["properties"]["external_id"] == "CUST-0042"
    assert created["properties"]["name"] == "Globex Ltd"
    assert {"startedAt", "completedAt"} <= set(first)
    assert _count(fresh, "companies") == before + 1

    second = await client.batch_upsert("companies", [{"id": "CUST-0042", "properties": {
        "name": "Globex Corporation", "financial_risk": "high"}}], id_property="external_id")
    updated = second["results"][0]
    assert second["status"] == "COMPLETE"
    assert updated["new"] is False and updated["id"] == created["id"]
    assert updated["properties"]["name"] == "Globex Corporation"
    assert _count(fresh, "companies") == before + 1  # one record, updated in place

    record = await client.get_company(created["id"], properties=["name", "domain", "external_id", "financial_risk"])
    assert (record["properties"]["name"], record["properties"]["domain"], record["properties"]["external_id"],
            record["properties"]["financial_risk"]) == ("Globex Corporation", "globex.example", "CUST-0042", "high")


async def test_batch_upsert_mixes_creates_and_updates_and_pages_over_100(client, fresh):
    httpx.post(fresh.url + "/_sandbox/faults", json={"profile": "unthrottled"})
    seeded = (await client.list_companies(limit=1))["results"][0]["id"]
    await client.update_properties("companies", seeded, {"external_id": "CUST-0001"})
    inputs = [{"id": f"CUST-{n:04d}", "properties": {"name": f"Company {n}"}} for n in range(1, 151)]
    out = await client.batch_upsert("companies", inputs, id_property="external_id")
    assert out["status"] == "COMPLETE" and len(out["results"]) == 150
    assert [r["new"] for r in out["results"]].count(False) == 1
    assert out["results"][0]["id"] == seeded and out["results"][0]["properties"]["name"] == "Company 1"
    # upserting the same 150 again creates nothing
    again = await client.batch_upsert("companies", inputs, id_property="external_id")
    assert not any(r["new"] for r in again["results"])
    assert sorted(r["id"] for r in again["results"]) == sorted(r["id"] for r in out["results"])


async def test_upsert_contacts_by_email_updates_the_existing_contact(client, fresh):
    qid = fresh.scenario_ids()["missing_tax"]
    contact_id = str((await client.get_associations("quotes", qid, "contacts"))[0]["toObjectId"])
    email = (await client.get_contact(contact_id))["properties"]["email"]
    out = await client.batch_upsert("contacts", [{"id": email, "properties": {"jobtitle": "Finance Director"}}],
                                    id_property="email")
    assert out["results"][0]["id"] == contact_id and out["results"][0]["new"] is False
    assert (await client.get_contact(contact_id))["properties"]["jobtitle"] == "Finance Director"


@pytest.mark.parametrize("prop", ["domain", "hs_object_id", "financial_risk"])
async def test_upsert_by_a_non_unique_property_is_rejected(client, fresh, prop):
    before = _count(fresh, "companies")
    with pytest.raises(FatalError) as err:
        await client.batch_upsert("companies", [{"id": "acme.example", "properties": {"name": "Acme"}}],
                                  id_property=prop)
    body = err.value.body
    assert err.value.status == 400
    assert set(body) == {"status", "message", "correlationId", "category"}
    assert (body["status"], body["category"]) == ("error", "VALIDATION_ERROR")
    assert body["message"] == f"Unable to perform update/upsert by non-unique 0-2 property {prop} in portal ID 62515"
    assert "VALIDATION_ERROR" in str(err.value)
    assert _count(fresh, "companies") == before


async def test_upsert_refuses_duplicate_ids_and_unknown_properties_without_writing(client, fresh):
    before = _count(fresh, "deals")
    with pytest.raises(FatalError) as err:
        await client.batch_upsert("deals", [{"id": "D-1", "properties": {}}, {"id": "D-1", "properties": {}}],
                                  id_property="external_id")
    assert err.value.status == 400 and "Duplicate IDs" in err.value.body["message"]
    with pytest.raises(FatalError) as err:
        await client.batch_upsert("deals", [{"id": "D-2", "properties": {"dealname": "ok"}},
                                            {"id": "D-3", "properties": {"no_such_property": "x"}}],
                                  id_property="external_id")
    assert "PROPERTY_DOESNT_EXIST" in err.value.body["message"]
    assert _count(fresh, "deals") == before


async def test_write_back_financial_risk_is_read_back(client, fresh):
    quote = await client.get_quote(fresh.scenario_ids()["missing_tax"])
    cid, did = associated_ids(quote, "companies")[0], associated_ids(quote, "deals")[0]
    written = await client.update_properties("companies", cid, {"financial_risk": "high", "renewal_readiness": "at_risk"},
                                             traceparent=TRACE)
    assert written["id"] == cid and written["properties"]["financial_risk"] == "high"
    company = await client.get_company(cid, properties=["name", *WRITE_BACK_PROPERTIES])
    assert company["properties"]["financial_risk"] == "high"
    assert company["properties"]["renewal_readiness"] == "at_risk"
    assert company["properties"]["delivery_risk"] is None
    assert company["properties"]["name"] == "Northwind Traders"

    await client.update_properties("deals", did, {"financial_risk": "medium", "delivery_risk": "low"})
    deal = await client.get_deal(did, properties=["dealname", *WRITE_BACK_PROPERTIES], associations=["companies"])
    assert deal["properties"]["financial_risk"] == "medium" and deal["properties"]["delivery_risk"] == "low"
    assert deal["properties"]["dealname"] == "Northwind Traders subscription"
    assert associated_ids(deal, "companies") == [cid]
    [again] = await client.batch_read("deals", [did], WRITE_BACK_PROPERTIES)
    assert again["properties"]["financial_risk"] == "medium"

    # by a unique property value instead of the record id
    await client.update_properties("deals", did, {"external_id": "DEAL-7"})
    await client.update_properties("deals", "DEAL-7", {"renewal_readiness": "ready"}, id_property="external_id")
    assert (await client.get_deal(did, properties=WRITE_BACK_PROPERTIES))["properties"]["renewal_readiness"] == "ready"

    with pytest.raises(FatalError) as err:
        await client.update_properties("deals", did, {"no_such_property": "x"})
    assert err.value.body["category"] == "VALIDATION_ERROR" and "PROPERTY_DOESNT_EXIST" in err.value.body["message"]


async def test_get_deal_and_generic_batch_read(client, fresh):
    quote = await client.get_quote(fresh.scenario_ids()["missing_tax"])
    did = associated_ids(quote, "deals")[0]
    deal = await client.get_deal(did)
    assert deal["id"] == did and deal["properties"]["dealstage"] == "contractsent"
    assert deal["properties"]["deal_currency_code"] == "GBP"
    with pytest.raises(NotFoundError):
        await client.get_deal("99999999")
    companies = associated_ids(quote, "companies")
    found = await client.batch_read("companies", companies + ["1"], ["name"], missing_ok=True)
    assert [c["id"] for c in found] == companies
    with pytest.raises(NotFoundError):
        await client.batch_read("companies", companies + ["1"], ["name"])


def test_upsert_wire_shape(fresh):
    """The raw answer, as HubSpot documents it."""
    r = httpx.post(fresh.url + "/crm/v3/objects/deals/batch/upsert", headers={"Authorization": f"Bearer {TOKEN}"},
                   json={"inputs": [{"idProperty": "external_id", "id": "DEAL-100",
                                     "properties": {"dealname": "New deal", "delivery_risk": "low"}}]})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETE" and set(body) >= {"results", "startedAt", "completedAt"}
    [rec] = body["results"]
    assert set(rec) >= {"id", "properties", "createdAt", "updatedAt", "archived", "new"}
    assert rec["properties"]["dealname"] == "New deal" and rec["properties"]["external_id"] == "DEAL-100"
    assert "X-HubSpot-RateLimit-Remaining" in r.headers
