"""Webhook deliveries from the HubSpot sandbox, signed and retried as HubSpot does.

A delivery is a JSON array of webhooks v3 events (HubSpot batches up to 100), POSTed to the target
URL with ``X-HubSpot-Signature-v3`` over ``"POST" + target_url + body + timestamp``. A non-2xx
answer or a connection error is retried after each of ``retry_delays`` with the same eventIds and
``attemptNumber`` incremented (so a receiver that crashed gets the events again); then the delivery
is marked failed. Deliveries run as tasks in the sandbox server's own event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

import httpx
import orjson

from connectors.hubspot.store import iso
from connectors.webhooks import HUBSPOT_SIGNATURE_HEADER, HUBSPOT_TIMESTAMP_HEADER, sign_hubspot_v3

DEFAULT_RETRY_DELAYS = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]
MAX_EVENTS_PER_DELIVERY = 100


@dataclass
class Delivery:
    id: int
    target_url: str | None
    events: list[dict]
    state: str = "pending"
    """pending (being attempted or waiting to retry), delivered, failed (retries exhausted), no_target."""
    attempts: list[dict] = field(default_factory=list)

    def describe(self) -> dict:
        return {"id": self.id, "target_url": self.target_url, "state": self.state,
                "event_ids": [e["eventId"] for e in self.events], "attempts": list(self.attempts)}


class WebhookDispatcher:
    """Holds the target URL, builds events, and runs deliveries with retries."""

    def __init__(self, *, secret: str, portal_id: int, app_id: int, subscription_id: int = 2_417_836,
                 timeout_s: float = 5.0) -> None:
        self.secret = secret
        self.portal_id = portal_id
        self.app_id = app_id
        self.subscription_id = subscription_id
        self.timeout_s = timeout_s
        self.target_url: str | None = None
        self.retry_delays: list[float] = list(DEFAULT_RETRY_DELAYS)
        self.deliveries: list[Delivery] = []
        # eventIds never repeat, even across a reset or a restart (the engine dedupes on them)
        self._event_ids = itertools.count(int(time.time() * 1000) * 1000)
        self._delivery_ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def configure(self, body: dict) -> dict:
        if "target_url" in body:
            self.target_url = body["target_url"] or None
        if "retry_delays" in body:
            self.retry_delays = [float(d) for d in body["retry_delays"]]
        if "secret" in body:
            self.secret = str(body["secret"])
        return self.describe()

    def describe(self) -> dict:
        return {"target_url": self.target_url, "retry_delays": self.retry_delays,
                "portal_id": self.portal_id, "app_id": self.app_id, "subscription_id": self.subscription_id}

    def property_change(self, object_type_id: str, object_id: str, name: str, value: str, *,
                        occurred_ms: int, source: str = "CRM_UI") -> dict:
        """One ``object.propertyChange`` event (webhooks v3 shape)."""
        return {
            "eventId": next(self._event_ids), "subscriptionId": self.subscription_id,
            "portalId": self.portal_id, "appId": self.app_id, "occurredAt": occurred_ms,
            "subscriptionType": "object.propertyChange", "attemptNumber": 0,
            "objectId": int(object_id), "objectTypeId": object_type_id,
            "propertyName": name, "propertyValue": value, "changeSource": source,
        }

    def dispatch(self, events: list[dict]) -> list[Delivery]:
        """Queue ``events`` (batches of up to 100); must be called inside the server's event loop."""
        out = []
        for i in range(0, len(events), MAX_EVENTS_PER_DELIVERY):
            delivery = Delivery(next(self._delivery_ids), self.target_url, events[i:i + MAX_EVENTS_PER_DELIVERY])
            self.deliveries.append(delivery)
            out.append(delivery)
            if delivery.target_url is None:
                delivery.state = "no_target"
                continue
            task = asyncio.get_running_loop().create_task(self._run(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return out

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), trust_env=False,
                                             headers={"User-Agent": "HubSpot Webhooks"})
            self._client_loop = loop
        return self._client

    async def _run(self, delivery: Delivery) -> None:
        delays = list(self.retry_delays)
        attempt = 0
        while True:
            body = orjson.dumps([{**e, "attemptNumber": attempt} for e in delivery.events])
            ts = int(time.time() * 1000)
            headers = {
                "Content-Type": "application/json",
                HUBSPOT_SIGNATURE_HEADER: sign_hubspot_v3(self.secret, "POST", delivery.target_url, body, ts),
                HUBSPOT_TIMESTAMP_HEADER: str(ts),
            }
            status, error = None, None
            try:
                resp = await self._http().post(delivery.target_url, content=body, headers=headers)
                status = resp.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            delivery.attempts.append({"attemptNumber": attempt, "status": status, "error": error, "at": iso(ts)})
            if status is not None and 200 <= status < 300:
                delivery.state = "delivered"
                return
            if attempt >= len(delays):
                delivery.state = "failed"
                return
            await asyncio.sleep(delays[attempt])
            attempt += 1

    def counts(self) -> dict:
        by_state = {"pending": 0, "delivered": 0, "failed": 0, "no_target": 0}
        for d in self.deliveries:
            by_state[d.state] += 1
        return {
            "events": sum(len(d.events) for d in self.deliveries), "deliveries": len(self.deliveries),
            "sent": sum(len(d.attempts) for d in self.deliveries), **by_state,
        }

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until no delivery is in flight (tests, benchmarks)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    def clear(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.deliveries.clear()

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
