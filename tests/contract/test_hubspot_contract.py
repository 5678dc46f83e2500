"""Contract: the HubSpot sandbox answers with the shapes HubSpot documents (CRM v3 / v4, errors).

Every answer is also checked against connectors/contract/hubspot_shapes.py (HubSpot's developer
documentation written down as an OpenAPI description) by the ContractMiddleware in front of the
served sandbox (tests/sandbox_contract.py); the assertions here pin what the shapes leave open."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from connectors.hubspot.sandbox import HubSpotSandbox
from tests.contract import openapi_support as support
from tests.sandbox_contract import checked

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RATE_HEADERS = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds",
                "X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")


@pytest.fixture(scope="module")
def api():
    sb = HubSpotSandbox()
    sb.seed(15, seed=11)
    sb.app = checked(sb.app, "hubspot")
    with sb.serving() as url:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer sandbox-hubspot-token"}) as http:
            http.sandbox = sb
            yield http


def assert_record(rec: dict, *, archived: bool = False) -> None:
    assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= rec.keys()
    assert isinstance(rec["id"], str) and rec["id"].isdigit()
    assert ISO.match(rec["createdAt"]) and ISO.match(rec["updatedAt"])
    assert rec["archived"] is archived
    assert rec["properties"]["hs_object_id"] == rec["id"]
    assert all(v is None or isinstance(v, str) for v in rec["properties"].values())


def assert_error(resp: httpx.Response, status: int, category: str) -> dict:
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "error" and body["category"] == category and body["message"]
    uuid.UUID(body["correlationId"])
    return body


@pytest.mark.parametrize("object_type", ["companies", "contacts", "deals", "quotes", "line_items", "0-14"])
def test_list_pages_with_after_cursor(api, object_type):
    first = api.get(f"/crm/v3/objects/{object_type}", params={"limit": 4})
    assert first.status_code == 200 and set(first.json()) == {"results", "paging"}
    for rec in first.json()["results"]:
        assert_record(rec)
    nxt = first.json()["paging"]["next"]
    assert set(nxt) == {"after", "link"} and nxt["after"]
    second = api.get(nxt["link"])
    assert second.status_code == 200
    assert {r["id"] for r in second.json()["results"]}.isdisjoint(r["id"] for r in first.json()["results"])
    for name in RATE_HEADERS:
        assert first.headers[name].isdigit()


def test_default_limit_is_ten_and_last_page_has_no_paging(api):
    body = api.get("/crm/v3/objects/companies").json()
    assert len(body["results"]) == 10
    last = api.get("/crm/v3/objects/companies", params={"after": body["paging"]["next"]["after"]}).json()
    assert len(last["results"]) == 5 and "paging" not in last


def test_read_with_properties_and_associations(api):
    qid = api.sandbox.scenario_ids()["missing_tax"]
    rec = api.get(f"/crm/v3/objects/quotes/{qid}",
                  params={"properties": "hs_title,hs_status,no_such_prop", "associations": "companies,line_items"}).json()
    assert_record(rec)
    assert {"hs_title", "hs_status", "hs_createdate", "hs_lastmodifieddate", "hs_object_id"} <= rec["properties"].keys()
    assert rec["properties"]["no_such_prop"] is None
    assert set(rec["associations"]) == {"companies", "line items"}
    for block in rec["associations"].values():
        assert set(block) == {"results"} and all(set(r) == {"id", "type"} for r in block["results"])
    assert rec["associations"]["companies"]["results"][0]["type"] == "quote_to_company"


def test_search_shape_and_offsets(api):
    body = {"filterGroups": [{"filters": [{"propertyName": "hs_status", "operator": "IN", "values": ["DRAFT", "PENDING_APPROVAL"]}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
            "properties": ["hs_status", "hs_quote_amount"], "limit": 5}
    page = api.post("/crm/v3/objects/quotes/search", json=body).json()
    assert set(page) == {"total", "results", "paging"} and page["total"] == 15
    assert page["paging"] == {"next": {"after": "5"}}
    for rec in page["results"]:
        assert_record(rec)
    dates = [r["properties"]["hs_lastmodifieddate"] for r in page["results"]]
    assert dates == sorted(dates, reverse=True)
    last = api.post("/crm/v3/objects/quotes/search", json={**body, "after": "10"}).json()
    assert len(last["results"]) == 5 and "paging" not in last
    too_big = api.post("/crm/v3/objects/quotes/search", json={**body, "limit": 201})
    assert_error(too_big, 400, "VALIDATION_ERROR")


def test_batch_read_shape(api):
    ids = [r["id"] for r in api.get("/crm/v3/objects/line_items", params={"limit": 3}).json()["results"]]
    ok = api.post("/crm/v3/objects/line_items/batch/read", json={"inputs": [{"id": i} for i in ids], "properties": ["name"]})
    assert ok.status_code == 200
    assert {"status", "results", "startedAt", "completedAt"} == set(ok.json()) and ok.json()["status"] == "COMPLETE"
    partial = api.post("/crm/v3/objects/line_items/batch/read", json={"inputs": [{"id": ids[0]}, {"id": "1"}]})
    assert partial.status_code == 207
    err = partial.json()["errors"][0]
    assert partial.json()["numErrors"] == 1 and err["category"] == "OBJECT_NOT_FOUND" and err["context"] == {"ids": ["1"]}


def test_v4_associations_shape(api):
    qid = api.sandbox.scenario_ids()["missing_tax"]
    body = api.get(f"/crm/v4/objects/quotes/{qid}/associations/deals").json()
    (assoc,) = body["results"]
    assert isinstance(assoc["toObjectId"], int)
    assert assoc["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 64, "label": None}]


def test_error_bodies(api):
    body = assert_error(api.get("/crm/v3/objects/companies/123"), 404, "OBJECT_NOT_FOUND")
    assert body["message"] == "resource not found"
    body = assert_error(api.get("/crm/v3/objects/companies/abc"), 404, "OBJECT_NOT_FOUND")
    assert body["message"] == "Object not found.  objectId are usually numeric."
    unauth = httpx.get(str(api.base_url) + "/crm/v3/objects/companies")
    assert assert_error(unauth, 401, "INVALID_AUTHENTICATION")["message"].startswith("Authentication credentials not found.")
    assert_error(api.get("/crm/v3/objects/companies", params={"limit": 101}), 400, "VALIDATION_ERROR")
    assert_error(api.post("/crm/v3/objects/quotes/search", content=b"{not json"), 400, "VALIDATION_ERROR")
    assert_error(api.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")


def test_archived_records_are_listed_only_when_asked(api):
    store = api.sandbox.store
    rid = sorted(store.objects["deals"], key=int)[0]
    store.objects["deals"][rid]["archived"] = True
    try:
        live = api.get("/crm/v3/objects/deals", params={"limit": 100}).json()["results"]
        archived = api.get("/crm/v3/objects/deals", params={"archived": "true"}).json()["results"]
        assert rid not in {r["id"] for r in live} and [r["id"] for r in archived] == [rid]
        assert_record(archived[0], archived=True)
        assert "archivedAt" in archived[0]
        assert api.get(f"/crm/v3/objects/deals/{rid}").status_code == 404
        assert api.get(f"/crm/v3/objects/deals/{rid}", params={"archived": "true"}).status_code == 200
    finally:
        store.objects["deals"][rid]["archived"] = False


def test_429_body_is_hubspots(api):
    sb_url = str(api.base_url)
    httpx.post(sb_url + "/_sandbox/faults", json={"profile": "storm429", "storm": 1, "retry_after": 2})
    resp = api.get("/crm/v3/objects/companies")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    body = resp.json()
    assert set(body) == {"status", "message", "errorType", "correlationId", "policyName"}
    assert (body["status"], body["errorType"], body["policyName"]) == ("error", "RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert api.get("/crm/v3/objects/companies").status_code == 200
    httpx.post(sb_url + "/_sandbox/faults", json={"profile": "demo"})


# --- merges and deletions (a fresh portal per test: these change what the module's portal lists) -------
EVENT_FIELDS = {"eventId", "subscriptionId", "portalId", "appId", "occurredAt", "subscriptionType", "attemptNumber",
                "objectId", "changeSource"}
MERGE_FIELDS = EVENT_FIELDS | {"primaryObjectId", "mergedObjectIds", "newObjectId", "numberOfPropertiesMoved"}


@pytest.fixture
def fresh():
    sb = HubSpotSandbox()
    sb.seed(6, seed=11)
    sb.app = checked(sb.app, "hubspot")
    with sb.serving() as url:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer sandbox-hubspot-token"}) as http:
            http.sandbox = sb
            yield http


def _events(sb) -> list[dict]:
    return [e for d in sb.webhooks.deliveries for e in d.events]


def test_merge_shape_alias_and_errors(fresh):
    sb = fresh.sandbox
    primary, other = sorted(sb.store.objects["companies"], key=int)[:2]
    other_deals = sb.store.associated("companies", other, "deals")
    assert other_deals  # the seed associates every company with its deal
    r = fresh.post("/crm/v3/objects/companies/merge", json={"primaryObjectId": primary, "objectIdToMerge": other})
    assert r.status_code == 200
    merged = r.json()
    assert_record(merged)
    assert merged["id"] == primary and set(merged) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    # the merged id is an alias: reading it answers the primary; the record itself is archived
    assert fresh.get(f"/crm/v3/objects/companies/{other}").json()["id"] == primary
    archived = fresh.get(f"/crm/v3/objects/companies/{other}", params={"archived": "true"}).json()
    assert_record(archived, archived=True)
    assert archived["id"] == other and "archivedAt" in archived
    live = {r["id"] for r in fresh.get("/crm/v3/objects/companies", params={"limit": 100}).json()["results"]}
    assert primary in live and other not in live
    props = fresh.get(f"/crm/v3/objects/companies/{primary}", params={"properties": "hs_merged_object_ids"}).json()
    assert props["properties"]["hs_merged_object_ids"] == other
    # the primary took over the merged record's associations
    deals = {str(a["toObjectId"]) for a in fresh.get(f"/crm/v4/objects/companies/{primary}/associations/deals").json()["results"]}
    assert set(other_deals) <= deals
    assert fresh.get(f"/crm/v4/objects/companies/{other}/associations/deals").json()["results"] == []
    (event,) = _events(sb)
    assert set(event) == MERGE_FIELDS
    assert (event["subscriptionType"], event["objectId"], event["primaryObjectId"], event["mergedObjectIds"],
            event["newObjectId"]) == ("company.merge", int(primary), int(primary), [int(other)], int(primary))
    assert isinstance(event["numberOfPropertiesMoved"], int) and event["changeSource"] == "INTEGRATION"
    # HubSpot's refusals
    body = assert_error(fresh.post("/crm/v3/objects/companies/merge",
                                   json={"primaryObjectId": primary, "objectIdToMerge": primary}), 400, "VALIDATION_ERROR")
    assert body["message"] == f"Cannot merge object {primary} into itself"
    assert_error(fresh.post("/crm/v3/objects/companies/merge",  # already merged: the alias is the primary
                            json={"primaryObjectId": primary, "objectIdToMerge": other}), 400, "VALIDATION_ERROR")
    body = assert_error(fresh.post("/crm/v3/objects/companies/merge",
                                   json={"primaryObjectId": primary, "objectIdToMerge": "123"}), 404, "OBJECT_NOT_FOUND")
    assert body["message"] == "resource not found"
    assert_error(fresh.post("/crm/v3/objects/companies/merge", json={"primaryObjectId": primary}), 400, "VALIDATION_ERROR")
    quotes = sorted(sb.store.objects["quotes"], key=int)[:2]
    assert_error(fresh.post("/crm/v3/objects/quotes/merge",
                            json={"primaryObjectId": quotes[0], "objectIdToMerge": quotes[1]}), 400, "VALIDATION_ERROR")
    assert len(_events(sb)) == 1  # a refused merge fires nothing


def test_contact_merge_moves_empty_properties(fresh):
    sb = fresh.sandbox
    a = sb.store.create("contacts", {"email": "a@merge.example", "firstname": "Ada"}, at_ms=1_700_000_000_000)
    b = sb.store.create("contacts", {"email": "b@merge.example", "lastname": "Lovelace", "jobtitle": "CTO"},
                        at_ms=1_700_000_000_000)
    r = fresh.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": a["id"], "objectIdToMerge": b["id"]})
    assert r.status_code == 200
    props = r.json()["properties"]
    assert (props["email"], props["firstname"], props["lastname"]) == ("a@merge.example", "Ada", "Lovelace")
    (event,) = _events(sb)
    assert (event["subscriptionType"], event["numberOfPropertiesMoved"]) == ("contact.merge", 2)


def test_archive_is_204_and_idempotent(fresh):
    sb = fresh.sandbox
    cid = sorted(sb.store.objects["companies"], key=int)[2]
    r = fresh.delete(f"/crm/v3/objects/companies/{cid}")
    assert r.status_code == 204 and r.content == b""
    for name in RATE_HEADERS:
        assert r.headers[name].isdigit()
    assert_error(fresh.get(f"/crm/v3/objects/companies/{cid}"), 404, "OBJECT_NOT_FOUND")
    archived = fresh.get(f"/crm/v3/objects/companies/{cid}", params={"archived": "true"}).json()
    assert_record(archived, archived=True)
    assert fresh.delete(f"/crm/v3/objects/companies/{cid}").status_code == 204  # again: no change, no event
    (event,) = _events(sb)
    assert set(event) == EVENT_FIELDS
    assert (event["subscriptionType"], event["objectId"]) == ("company.deletion", int(cid))
    assert_error(fresh.delete("/crm/v3/objects/companies/123"), 404, "OBJECT_NOT_FOUND")
    # quotes have no own subscription type: the generic object.deletion names the type
    qid = sorted(sb.store.objects["quotes"], key=int)[0]
    assert fresh.delete(f"/crm/v3/objects/quotes/{qid}").status_code == 204
    quote_event = _events(sb)[-1]
    assert set(quote_event) == EVENT_FIELDS | {"objectTypeId"}
    assert (quote_event["subscriptionType"], quote_event["objectTypeId"]) == ("object.deletion", "0-14")
    # the recycle bin (a control route): restore fires company.restore
    restored = httpx.post(f"{fresh.base_url}/_sandbox/objects/companies/{cid}/restore").json()
    assert restored["record"]["archived"] is False
    assert fresh.get(f"/crm/v3/objects/companies/{cid}").status_code == 200
    restore_event = _events(sb)[-1]
    assert set(restore_event) == EVENT_FIELDS and restore_event["subscriptionType"] == "company.restore"
    assert restore_event["eventId"] == restored["event_ids"][0]


def test_the_shapes_have_teeth():
    """HubSpot's description (written from its docs) rejects what HubSpot would never send."""
    request = httpx.Request("GET", "http://sandbox/crm/v3/objects/companies/12", headers={"Authorization": "Bearer t"})
    bad = httpx.Response(200, json={"id": 12, "properties": {"name": 3}, "createdAt": "yesterday"}, request=request)
    with pytest.raises(support.ContractViolation) as caught:
        support.validate_exchange("hubspot", bad)
    found = {(v.operation, v.pointer) for v in caught.value.violations}
    assert {("basic-getById", "/id"), ("basic-getById", "/properties/name"), ("basic-getById", "")} <= found
    no_category = httpx.Response(404, json={"status": "error", "message": "gone"}, request=request)
    with pytest.raises(support.ContractViolation):
        support.validate_exchange("hubspot", no_category)
    text_429 = httpx.Response(429, text="slow down", request=request)
    with pytest.raises(support.ContractViolation):
        support.validate_exchange("hubspot", text_429)
