"""The Intercom sandbox's notifications through the real ingress: verified, kept once even when redelivered."""

from __future__ import annotations

import httpx
import orjson
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.intercom import CONNECTOR
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import serve_in_thread
from opsconsole.sandboxes import INTERCOM_TOKEN
from opsconsole.store.tables import inbox
from tests.engine.conftest import INTERCOM_WEBHOOK_KEY, wait_for
from tests.sandbox_contract import checked


class LostAcknowledgement:
    """Passes every notification on to the ingress, but answers the sandbox 500 for the first notification
    on each topic in ``lose`` (the ingress kept it; its 200 never reached Intercom, which sends it again)."""

    def __init__(self, ingress: str) -> None:
        self.ingress = ingress
        self.lose: set[str] = set()
        self.seen: list[tuple[str, int, int]] = []  # (notification id, delivery_attempts, the ingress's status)
        self.app = Starlette(routes=[Route("/webhooks/intercom", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in ("x-hub-signature", "content-type", "user-agent")}
        async with httpx.AsyncClient() as http:
            answer = await http.post(self.ingress, content=body, headers=headers)
        note = orjson.loads(body)
        self.seen.append((note["id"], note["delivery_attempts"], answer.status_code))
        if note["topic"] in self.lose:
            self.lose.discard(note["topic"])
            return Response(status_code=500)
        return Response(content=answer.content, status_code=answer.status_code)


@pytest.fixture
def intercom(engine):
    sandbox = IntercomSandbox(token=INTERCOM_TOKEN, webhook_secret=INTERCOM_WEBHOOK_KEY)
    s1, _, url = serve_in_thread(checked(sandbox.app, "intercom"))
    proxy = LostAcknowledgement(f"{engine.ingress_url}/webhooks/intercom")
    s2, _, proxy_url = serve_in_thread(proxy.app)
    httpx.post(f"{url}/_sandbox/webhooks", json={"target_url": f"{proxy_url}/webhooks/intercom",
                                                 "retry_delays": [0.05]}).raise_for_status()
    yield url, proxy
    s1.should_exit = s2.should_exit = True


def _rows(engine) -> list[tuple]:
    with engine.read_engine.connect() as c:
        return c.execute(select(inbox.c.source, inbox.c.event_key, inbox.c.event_type, inbox.c.status)
                         .where(inbox.c.source == "intercom")).all()


def _deliveries(url: str) -> list[dict]:
    return httpx.get(f"{url}/_sandbox/webhooks/deliveries").json()["deliveries"]


async def test_a_redelivered_notification_is_kept_once(engine, intercom):
    url, proxy = intercom
    proxy.lose = {"company.created"}
    client = CONNECTOR.client(url, token=INTERCOM_TOKEN)
    try:
        await client.upsert_company({"company_id": "ACME-1", "name": "Acme", "custom_attributes": {"health_score": 80}})
        await client.create_contact({"email": "ap@acme.example", "external_id": "u-1"})
    finally:
        await client.aclose()
    await wait_for(lambda: [d["state"] for d in _deliveries(url)] == ["delivered", "delivered"], timeout=10)
    company, contact = _deliveries(url)
    assert [a["status"] for a in company["attempts"]] == [500, 200]  # the lost 200 made Intercom retry
    assert [a["status"] for a in contact["attempts"]] == [200]
    # both attempts of the company's notification reached the ingress, signed and accepted
    assert sorted(s for s in proxy.seen if s[0] == company["notification_id"]) == [
        (company["notification_id"], 1, 200), (company["notification_id"], 2, 200)]
    assert sorted(_rows(engine)) == sorted([
        ("intercom", company["notification_id"], "company.created", "ignored"),
        ("intercom", contact["notification_id"], "contact.user.created", "ignored")])
    async with httpx.AsyncClient() as http:  # the ingress runs in this test's event loop
        health = (await http.get(f"{engine.ingress_url}/healthz")).json()
    assert health["ingress"]["duplicates"] == 1
