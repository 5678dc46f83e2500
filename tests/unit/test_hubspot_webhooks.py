"""The HubSpot sandbox's signed webhook deliveries and retries, over real HTTP."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.hubspot.sandbox import HubSpotSandbox
from connectors.sandbox import free_port, serve_in_thread
from connectors.webhooks import HUBSPOT_SIGNATURE_HEADER, HUBSPOT_TIMESTAMP_HEADER, SignatureError, verify_hubspot_v3
from tests.sandbox_contract import served

SECRET = "sandbox-hubspot-secret"


class Receiver:
    """A tiny ingress: verifies the signature, records events, fails the first ``fail_first`` posts."""

    def __init__(self) -> None:
        self.fail_first = 0
        self.posts: list[dict] = []
        self.app = Starlette(routes=[Route("/hooks/hubspot", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_hubspot_v3([SECRET], request.method, str(request.url), body,
                              request.headers.get(HUBSPOT_SIGNATURE_HEADER), request.headers.get(HUBSPOT_TIMESTAMP_HEADER))
        except SignatureError as exc:
            self.posts.append({"verified": False, "reason": exc.reason})
            return JSONResponse({"error": exc.reason}, status_code=401)
        self.posts.append({"verified": True, "events": json.loads(body),
                           "content_type": request.headers.get("content-type")})
        if len(self.posts) <= self.fail_first:
            return JSONResponse({"error": "crashed"}, status_code=500)
        return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    server, thread, url = serve_in_thread(r.app)
    r.url = url + "/hooks/hubspot"
    yield r
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def hubspot():
    with served(HubSpotSandbox(), "hubspot") as sb:
        yield sb


@pytest.fixture
def sandbox(hubspot, receiver):
    hubspot.seed(10, scenario=True, seed=7)
    receiver.posts.clear()
    receiver.fail_first = 0
    httpx.post(hubspot.url + "/_sandbox/webhooks", json={"target_url": receiver.url, "retry_delays": [0.05, 0.05, 0.05]})
    return hubspot


async def _wait_for(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def _deliveries(sb) -> dict:
    return httpx.get(sb.url + "/_sandbox/deliveries").json()


async def test_failed_delivery_is_retried_with_same_event_id(sandbox, receiver):
    receiver.fail_first = 1
    qid = sandbox.scenario_ids()["missing_tax"]
    answer = httpx.post(f"{sandbox.url}/_sandbox/quotes/{qid}/approve").json()
    assert answer["quote"]["properties"]["hs_status"] == "APPROVED"
    await _wait_for(lambda: len(receiver.posts) == 2)
    assert all(p["verified"] for p in receiver.posts)
    (first,), (second,) = (p["events"] for p in receiver.posts)
    assert first["eventId"] == second["eventId"] == answer["event_ids"][0]
    assert (first["attemptNumber"], second["attemptNumber"]) == (0, 1)
    assert first["objectId"] == int(qid) and first["objectTypeId"] == "0-14"
    assert (first["subscriptionType"], first["propertyName"], first["propertyValue"]) == \
        ("object.propertyChange", "hs_status", "APPROVED")
    assert (first["portalId"], first["appId"], first["changeSource"]) == (62515, 1160452, "CRM_UI")
    assert receiver.posts[0]["content_type"] == "application/json"
    await _wait_for(lambda: _deliveries(sandbox)["counts"]["delivered"] == 1)
    log = _deliveries(sandbox)["deliveries"][-1]
    assert log["state"] == "delivered" and [a["status"] for a in log["attempts"]] == [500, 200]
    await asyncio.sleep(0.2)
    assert len(receiver.posts) == 2  # no more attempts after a 2xx


async def test_unreachable_receiver_exhausts_retries_then_fails(sandbox, receiver):
    dead = f"http://127.0.0.1:{free_port()}/hooks/hubspot"
    httpx.post(sandbox.url + "/_sandbox/webhooks", json={"target_url": dead, "retry_delays": [0.01, 0.01]})
    qid = sandbox.scenario_ids()["duplicate_pair"][0]
    httpx.post(f"{sandbox.url}/_sandbox/quotes/{qid}/approve")
    await _wait_for(lambda: _deliveries(sandbox)["counts"]["failed"] == 1)
    log = _deliveries(sandbox)["deliveries"][-1]
    assert [a["attemptNumber"] for a in log["attempts"]] == [0, 1, 2]
    assert all(a["status"] is None and a["error"] for a in log["attempts"])
    state = httpx.get(sandbox.url + "/_sandbox/state").json()["webhooks"]
    assert (state["sent"], state["failed"], state["delivered"], state["pending"]) == (3, 1, 0, 0)


async def test_approve_without_delivery_leaves_it_to_the_poll(sandbox, receiver):
    qid = sandbox.scenario_ids()["duplicate_pair"][1]
    answer = httpx.post(f"{sandbox.url}/_sandbox/quotes/{qid}/approve?deliver=false").json()
    assert len(answer["event_ids"]) == 1  # the change happened; its webhook never comes
    await asyncio.sleep(0.2)
    assert receiver.posts == [] and _deliveries(sandbox)["counts"]["deliveries"] == 0
    state = httpx.get(sandbox.url + "/_sandbox/state").json()
    assert state["quotes"]["APPROVED"] == 1
    # approving again changes nothing and fires nothing
    assert httpx.post(f"{sandbox.url}/_sandbox/quotes/{qid}/approve").json()["event_ids"] == []


async def test_bulk_approve_batches_events_in_one_signed_delivery(sandbox, receiver):
    answer = httpx.post(sandbox.url + "/_sandbox/approve", json={"count": 5}).json()
    assert len(answer["approved"]) == len(set(answer["event_ids"])) == 5
    await _wait_for(lambda: len(receiver.posts) == 1)
    events = receiver.posts[0]["events"]
    assert [e["eventId"] for e in events] == answer["event_ids"]
    assert [str(e["objectId"]) for e in events] == answer["approved"]


async def test_patching_hs_status_fires_an_integration_change(sandbox, receiver):
    qid = sandbox.scenario_ids()["missing_tax"]
    r = httpx.patch(f"{sandbox.url}/crm/v3/objects/quotes/{qid}", json={"properties": {"hs_status": "APPROVED"}},
                    headers={"Authorization": "Bearer sandbox-hubspot-token"})
    assert r.status_code == 200 and r.json()["properties"]["hs_status"] == "APPROVED"
    await _wait_for(lambda: len(receiver.posts) == 1)
    assert receiver.posts[0]["events"][0]["changeSource"] == "INTEGRATION"


async def test_no_target_records_but_does_not_send(sandbox, receiver):
    sandbox.target_url = None
    httpx.post(sandbox.url + "/_sandbox/approve", json={"ids": [sandbox.scenario_ids()["missing_tax"]]})
    counts = _deliveries(sandbox)["counts"]
    assert (counts["no_target"], counts["sent"]) == (1, 0)
    assert receiver.posts == []


async def test_merge_and_deletion_events_are_signed_and_delivered(sandbox, receiver):
    api = httpx.Client(base_url=sandbox.url, headers={"Authorization": "Bearer sandbox-hubspot-token"})
    primary, other, doomed = sorted(sandbox.store.objects["companies"], key=int)[:3]
    assert api.post("/crm/v3/objects/companies/merge",
                    json={"primaryObjectId": primary, "objectIdToMerge": other}).status_code == 200
    assert api.delete(f"/crm/v3/objects/companies/{doomed}").status_code == 204
    await _wait_for(lambda: len(receiver.posts) == 2)
    assert all(p["verified"] for p in receiver.posts)  # X-HubSpot-Signature-v3 checked by the receiver
    (merge,), (deletion,) = (p["events"] for p in receiver.posts)
    assert merge == {
        "eventId": merge["eventId"], "subscriptionId": 2_417_836, "portalId": 62515, "appId": 1160452,
        "occurredAt": merge["occurredAt"], "subscriptionType": "company.merge", "attemptNumber": 0,
        "objectId": int(primary), "changeSource": "INTEGRATION", "primaryObjectId": int(primary),
        "mergedObjectIds": [int(other)], "newObjectId": int(primary),
        "numberOfPropertiesMoved": merge["numberOfPropertiesMoved"],
    }
    assert deletion == {
        "eventId": deletion["eventId"], "subscriptionId": 2_417_836, "portalId": 62515, "appId": 1160452,
        "occurredAt": deletion["occurredAt"], "subscriptionType": "company.deletion", "attemptNumber": 0,
        "objectId": int(doomed), "changeSource": "INTEGRATION",
    }
    assert deletion["eventId"] > merge["eventId"] and deletion["occurredAt"] >= merge["occurredAt"]
    api.close()
