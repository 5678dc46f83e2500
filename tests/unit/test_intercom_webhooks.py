"""The Intercom sandbox's signed webhook notifications and Intercom's retry policy, over real HTTP."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.intercom import CONNECTOR
from connectors.intercom.delivery import RETRY_DELAYS, TOPICS, throttle_schedule
from connectors.intercom.sandbox import APP_ID, IntercomSandbox
from connectors.sandbox import free_port, serve_in_thread
from connectors.webhooks import INTERCOM_SIGNATURE_HEADER, SignatureError, verify_intercom
from tests.sandbox_contract import checked

TOKEN = "sandbox-intercom-token"
SECRET = "intercom-client-secret-2"
FIELDS = ["type", "app_id", "data", "links", "id", "topic", "delivery_status", "delivery_attempts", "delivered_at",
          "first_sent_at", "created_at", "self"]


class Receiver:
    """A tiny endpoint: verifies X-Hub-Signature, records every post, answers ``answers`` in turn, then 200."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.posts: list[dict] = []
        self.app = Starlette(routes=[Route("/hooks/intercom", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify_intercom([SECRET], body, request.headers.get(INTERCOM_SIGNATURE_HEADER))
        except SignatureError as exc:
            self.posts.append({"verified": False, "reason": exc.reason})
            return Response(status_code=401)
        self.posts.append({"verified": True, "payload": json.loads(body), "headers": dict(request.headers)})
        return Response(status_code=self.answers.pop(0) if self.answers else 200)

    def payloads(self) -> list[dict]:
        return [p["payload"] for p in self.posts]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    server, thread, url = serve_in_thread(r.app)
    r.url = url + "/hooks/intercom"
    yield r
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def served():
    sandbox = IntercomSandbox(token=TOKEN)
    server, thread, url = serve_in_thread(checked(sandbox.app, "intercom"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def url(served, receiver):
    _, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    receiver.posts.clear()
    receiver.answers = []
    r = httpx.post(f"{url}/_sandbox/webhooks", json={"target_url": receiver.url, "secret": SECRET, "topics": list(TOPICS),
                                                     "retry_delays": [0.05], "throttle_delays": [0.05, 0.05]})
    r.raise_for_status()
    assert SECRET not in r.text  # the client secret is never echoed
    return url


@pytest.fixture
async def client(url):
    c = CONNECTOR.client(url, token=TOKEN)
    yield c
    await c.aclose()


async def _wait_for(predicate, timeout: float = 5.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def _deliveries(url: str) -> dict:
    return httpx.get(f"{url}/_sandbox/webhooks/deliveries").json()


async def _settled(url: str, count: int) -> list[dict]:
    await _wait_for(lambda: (d := _deliveries(url))["counts"]["deliveries"] == count and d["counts"]["pending"] == 0)
    return _deliveries(url)["deliveries"]


def test_a_fresh_subscription_follows_intercoms_documented_policy():
    described = IntercomSandbox().webhooks.describe()
    assert described["retry_delays"] == RETRY_DELAYS == [60.0]  # retried only once, after 1 minute
    throttle = throttle_schedule()
    assert throttle[0] == 60.0 and sum(throttle) == 2 * 3600.0  # 429s: from 1 minute, dropped past 2 hours
    assert described["topics"] == list(TOPICS) and described["disabled"] is None


async def test_company_created_is_one_signed_notification_of_exact_shape(url, receiver, client):
    company = await client.upsert_company({"company_id": "ACME-1", "name": "Acme", "plan": "Growth",
                                           "custom_attributes": {"health_score": 71}})
    await _wait_for(lambda: len(receiver.posts) == 1)
    post = receiver.posts[0]
    assert post["verified"]  # X-Hub-Signature: sha1= HMAC of the raw body under the client secret
    assert post["headers"]["user-agent"] == "intercom-parrot-service-client/1.0"
    assert post["headers"]["content-type"] == "application/json"
    assert post["headers"]["accept"] == "application/json"
    note = post["payload"]
    assert list(note) == FIELDS
    assert note["type"] == "notification_event" and note["app_id"] == APP_ID
    assert note["data"] == {"type": "notification_event_data", "item": company}
    assert note["links"] == {} and note["self"] is None
    assert note["id"].startswith("notif_") and len(note["id"]) == len("notif_") + 36
    assert note["topic"] == "company.created"
    assert (note["delivery_status"], note["delivery_attempts"], note["delivered_at"]) == ("pending", 1, 0)
    assert note["first_sent_at"] >= note["created_at"] > 0
    (log,) = await _settled(url, 1)
    assert log["state"] == "delivered" and log["notification_id"] == note["id"]
    assert [a["status"] for a in log["attempts"]] == [200]


async def test_an_upsert_that_changes_the_company_is_an_update_and_a_replay_is_silent(url, receiver, client):
    await client.upsert_company({"company_id": "ACME-2", "name": "Acme Two"})
    await client.upsert_company({"company_id": "ACME-2", "name": "Acme Two"})  # nothing changed: no notification
    updated = await client.upsert_company({"company_id": "ACME-2", "custom_attributes": {"financial_risk": True}})
    logs = await _settled(url, 2)
    assert [d["topic"] for d in logs] == ["company.created", "company.updated"]
    await _wait_for(lambda: len(receiver.posts) == 2)
    (update,) = [n for n in receiver.payloads() if n["topic"] == "company.updated"]
    assert update["data"]["item"] == updated


async def test_failed_delivery_is_retried_once_with_the_same_notification_id(url, receiver, client):
    receiver.answers = [500]
    await client.upsert_company({"company_id": "ACME-3", "name": "Acme Three"})
    await _wait_for(lambda: len(receiver.posts) == 2)
    assert all(p["verified"] for p in receiver.posts)  # each attempt signed afresh
    first, second = receiver.payloads()
    assert first["id"] == second["id"] and first["created_at"] == second["created_at"]
    assert (first["delivery_attempts"], second["delivery_attempts"]) == (1, 2)
    assert first["first_sent_at"] == second["first_sent_at"]
    assert first["data"] == second["data"]
    (log,) = await _settled(url, 1)
    assert log["state"] == "delivered"
    assert [(a["delivery_attempts"], a["status"]) for a in log["attempts"]] == [(1, 500), (2, 200)]


async def test_a_second_failure_marks_the_notification_failed(url, receiver, client):
    receiver.answers = [503, 500, 500]
    await client.upsert_company({"company_id": "ACME-4", "name": "Acme Four"})
    (log,) = await _settled(url, 1)
    assert log["state"] == "failed" and [a["status"] for a in log["attempts"]] == [503, 500]
    await asyncio.sleep(0.2)
    assert len(receiver.posts) == 2  # retried only once


async def test_an_unreachable_endpoint_is_retried_once_then_failed(url, receiver, client):
    dead = f"http://127.0.0.1:{free_port()}/hooks/intercom"
    httpx.post(f"{url}/_sandbox/webhooks", json={"target_url": dead}).raise_for_status()
    await client.create_contact({"email": "nobody@acme.example"})
    (log,) = await _settled(url, 1)
    assert log["state"] == "failed" and log["target_url"] == dead
    assert [a["status"] for a in log["attempts"]] == [None, None] and all(a["error"] for a in log["attempts"])


async def test_410_gone_disables_the_subscription(url, receiver, client):
    receiver.answers = [410]
    await client.upsert_company({"company_id": "ACME-5", "name": "Acme Five"})
    (log,) = await _settled(url, 1)
    assert log["state"] == "failed" and [a["status"] for a in log["attempts"]] == [410]  # not retried
    assert httpx.get(f"{url}/_sandbox/webhooks").json()["disabled"].startswith("410 Gone")
    await client.upsert_company({"company_id": "ACME-6", "name": "Acme Six"})
    assert _deliveries(url)["counts"]["deliveries"] == 1  # no more notifications
    httpx.post(f"{url}/_sandbox/webhooks", json={"target_url": receiver.url}).raise_for_status()  # set up again
    await client.upsert_company({"company_id": "ACME-7", "name": "Acme Seven"})
    logs = await _settled(url, 2)
    assert logs[-1]["state"] == "delivered"


async def test_429_is_throttled_on_its_own_schedule(url, receiver, client):
    receiver.answers = [429, 429, 500]
    await client.upsert_company({"company_id": "ACME-8", "name": "Acme Eight"})
    (log,) = await _settled(url, 1)
    # two throttled attempts do not use up the one retry a 4xx/5xx gets
    assert log["state"] == "delivered" and [a["status"] for a in log["attempts"]] == [429, 429, 500, 200]
    assert len({p["id"] for p in receiver.payloads()}) == 1
    receiver.answers = [429, 429, 429]
    await client.upsert_company({"company_id": "ACME-9", "name": "Acme Nine"})
    logs = await _settled(url, 2)
    assert logs[-1]["state"] == "failed" and len(logs[-1]["attempts"]) == 3  # throttled past the limit: dropped


async def test_contacts_events_and_tickets_are_notified_on_their_topics(url, receiver, client):
    user = await client.create_contact({"email": "ap@acme.example", "external_id": "u-1"})
    lead = await client.create_contact({"email": "lead@acme.example", "role": "lead"})
    await client.create_data_event("invoice-paid", 1_736_154_000, user_id="u-1", metadata={"amount": 12})
    ticket = await client.create_ticket("1", [{"id": user["id"]}], title="Onboard Acme")
    logs = await _settled(url, 4)
    assert [d["topic"] for d in logs] == ["contact.user.created", "contact.lead.created", "event.created",
                                          "ticket.created"]
    await _wait_for(lambda: len(receiver.posts) == 4)
    items = {p["topic"]: p["data"]["item"] for p in receiver.payloads()}  # sent concurrently: any order
    assert items["contact.user.created"] == user and items["contact.lead.created"] == lead
    assert items["ticket.created"] == ticket
    assert items["event.created"] == {"type": "event", "event_name": "invoice-paid", "created_at": 1_736_154_000,
                                      "user_id": "u-1", "metadata": {"amount": 12}}
    assert all(p["verified"] for p in receiver.posts)


async def test_only_subscribed_topics_are_notified(url, receiver, client):
    r = httpx.post(f"{url}/_sandbox/webhooks", json={"topics": ["ticket.created", "conversation.user.created"]})
    assert r.status_code == 400 and "conversation.user.created" in r.json()["error"]
    assert httpx.get(f"{url}/_sandbox/webhooks").json()["topics"] == list(TOPICS)  # a refused change changes nothing
    httpx.post(f"{url}/_sandbox/webhooks", json={"topics": ["ticket.created"]}).raise_for_status()
    await client.upsert_company({"company_id": "ACME-10", "name": "Acme Ten"})
    await client.create_ticket("2", [{"email": "new@acme.example"}])  # also creates the contact: not subscribed
    logs = await _settled(url, 1)
    assert [d["topic"] for d in logs] == ["ticket.created"]
    httpx.post(f"{url}/_sandbox/webhooks", json={"topics": list(TOPICS)}).raise_for_status()


async def test_a_pending_notification_survives_a_restart_and_carries_on(url, served, receiver, client):
    httpx.post(f"{url}/_sandbox/webhooks", json={"retry_delays": [30]}).raise_for_status()
    receiver.answers = [500]
    await client.upsert_company({"company_id": "ACME-11", "name": "Acme Eleven"})
    await _wait_for(lambda: len(receiver.posts) == 1)
    await _wait_for(lambda: _deliveries(url)["deliveries"][0]["attempts"])  # first attempt recorded, retry waiting
    saved = json.loads(json.dumps(served[0].export_state()))
    assert saved["webhooks"]["deliveries"][0]["state"] == "pending"
    saved["webhooks"]["retry_delays"] = [0.05]
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()  # the old process is gone
    restarted = IntercomSandbox(token=TOKEN)
    restarted.import_state(saved)
    assert restarted.webhooks.resume_pending() == 1  # as opsconsole.sandboxes.serve does after a restart
    await restarted.webhooks.wait_idle(5)
    await restarted.webhooks.aclose()
    first, second = receiver.payloads()
    assert second["id"] == first["id"] and second["delivery_attempts"] == 2
    assert second["first_sent_at"] == first["first_sent_at"]
    assert restarted.webhooks.deliveries[0].state == "delivered"
