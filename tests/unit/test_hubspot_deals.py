"""A company's deals (v4 associations companies -> deals + batch read) and creating a record with
associations (POST /crm/v3/objects/{objectType}), HubSpotClient against the HubSpot sandbox over real HTTP
behind the contract middleware."""

from __future__ import annotations

import httpx
import pytest

from connectors.errors import FatalError
from connectors.hubspot import CONNECTOR
from connectors.hubspot.client import (
    COMPANY_DEAL_PROPERTIES,
    DEAL_TO_COMPANY,
    association_to,
)
from connectors.hubspot.store import ASSOCIATION_TYPE_IDS
from tests.unit.hubspot_fixtures import TOKEN, hubspot_fixtures


sandbox, fresh = hubspot_fixtures(6)


@pytest.fixture
async def client(fresh):
    c = CONNECTOR.client(fresh.url, token=TOKEN, transport="aiohttp")
    yield c
    await c.aclose()


def _seeded_company(sb) -> tuple[str, list[str]]:
    for cid in sb.store.objects["companies"]:
        deals = sb.store.associated("companies", cid, "deals")
        if deals:
            return cid, deals
    raise AssertionError("the seed associates every company with a deal")


async def test_company_deals_of_a_seeded_company(client, fresh):
    cid, deal_ids = _seeded_company(fresh)
    deals = await client.company_deals(cid)
    assert [d["id"] for d in deals] == deal_ids
    assert set(COMPANY_DEAL_PROPERTIES) <= set(deals[0]["properties"])
    assert deals[0]["properties"]["dealstage"] == "contractsent" and deals[0]["properties"]["dealtype"] is None
    only = await client.company_deals(cid, properties=("dealname",))
    assert only[0]["properties"]["dealname"].endswith("subscription")
    lonely = await client.create_object("companies", {"name": "No Deals Ltd"})
    assert await client.company_deals(lonely["id"]) == []
    assert ASSOCIATION_TYPE_IDS[("deals", "companies")] == DEAL_TO_COMPANY  # what the seed's links read back as


async def test_create_renewal_deal_associated_with_its_company(client, fresh):
    cid, before = _seeded_company(fresh)
    contact_id = fresh.store.associated("companies", cid, "contacts")[0]
    deal = await client.create_object("deals", {
        "dealname": "Renewal 2027", "dealtype": "existingbusiness", "pipeline": "default",
        "dealstage": "appointmentscheduled", "amount": 12000, "closedate": "2027-01-31T00:00:00.000Z",
    }, [association_to(cid, DEAL_TO_COMPANY), association_to(contact_id, 3)])
    assert deal["properties"]["dealname"] == "Renewal 2027" and deal["properties"]["amount"] == "12000"
    assert deal["properties"]["dealtype"] == "existingbusiness"
    deals = await client.company_deals(cid)
    assert [d["id"] for d in deals] == before + [deal["id"]]
    links = await client.get_associations("deals", deal["id"], "companies")
    assert links == [{"toObjectId": int(cid), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": DEAL_TO_COMPANY, "label": None}]}]
    assert [link["toObjectId"] for link in await client.get_associations("deals", deal["id"], "contacts")] == \
        [int(contact_id)]
    primary = await client.create_object("deals", {"dealname": "Primary"}, [association_to(cid, 5)])
    assert primary["id"] in [d["id"] for d in await client.company_deals(cid)]
    events = [e for d in fresh.webhooks.deliveries for e in d.events]
    assert [(e["subscriptionType"], str(e["objectId"])) for e in events][-2:] == [
        ("deal.creation", deal["id"]), ("deal.creation", primary["id"])]


async def test_create_errors_are_hubspots_400s(client, fresh):
    cid, _ = _seeded_company(fresh)
    count = len(fresh.store.objects["deals"])
    with pytest.raises(FatalError) as exc:
        await client.create_object("deals", {"dealname": "Bad", "no_such_property": "x"})
    assert exc.value.status == 400 and "PROPERTY_DOESNT_EXIST" in str(exc.value.body)
    with pytest.raises(FatalError) as exc:  # 279 is contact -> company, not a deal's association type
        await client.create_object("deals", {"dealname": "Bad"}, [association_to(cid, 279)])
    assert exc.value.status == 400 and exc.value.body["category"] == "VALIDATION_ERROR"
    with pytest.raises(FatalError):  # the company does not exist
        await client.create_object("deals", {"dealname": "Bad"}, [association_to("999", DEAL_TO_COMPANY)])
    with pytest.raises(FatalError):  # labels are USER_DEFINED: the sandbox defines none
        await client.create_object("deals", {"dealname": "Bad"}, [association_to(cid, 1, "USER_DEFINED")])
    assert len(fresh.store.objects["deals"]) == count  # nothing was created
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        r = await http.post(fresh.url + "/crm/v3/objects/deals", json={"dealname": "no properties object"})
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
