"""Webhook deliveries from the HubSpot sandbox, signed and retried as HubSpot does.

A delivery is a JSON array of webhooks v3 events (HubSpot batches up to 100), POSTed to the target
URL with ``X-HubSpot-Signature-v3`` over ``"POST" + target_url + body + timestamp``. A non-2xx
answer or a connection error is retried after each of ``retry_delays`` with the same eventIds and
``attemptNumber`` incremented (so a receiver that crashed gets the events again); then the delivery
is marked failed. Deliveries run as tasks in the sandbox server's own event loop.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import orjson

from connectors.delivery import RetryingDispatcher
from connectors.hubspot.store import iso
from connectors.webhooks import HUBSPOT_SIGNATURE_HEADER, HUBSPOT_TIMESTAMP_HEADER, sign_hubspot_v3

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


class WebhookDispatcher(RetryingDispatcher):
    """Holds the target URL, builds events, and runs deliveries with retries."""

    user_agent = "HubSpot Webhooks"

    def __init__(self, *, secret: str, portal_id: int, app_id: int, subscription_id: int = 2_417_836,
                 timeout_s: float = 5.0) -> None:
        super().__init__(timeout_s=timeout_s)
        self.secret = secret
        self.portal_id = portal_id
        self.app_id = app_id
        self.subscription_id = subscription_id
        # eventIds never repeat, even across a reset or a restart (the engine dedupes on them)
        self._event_ids = itertools.count(int(time.time() * 1000) * 1000)

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
            self._start(delivery)
            out.append(delivery)
        return out

    def attempt(self, delivery: Delivery, number: int) -> tuple[bytes, dict[str, str]]:
        # the same eventIds every time, attemptNumber counting up; signed afresh (the timestamp moves)
        body = orjson.dumps([{**e, "attemptNumber": number} for e in delivery.events])
        ts = int(time.time() * 1000)
        return body, {
            "Content-Type": "application/json",
            HUBSPOT_SIGNATURE_HEADER: sign_hubspot_v3(self.secret, "POST", delivery.target_url, body, ts),
            HUBSPOT_TIMESTAMP_HEADER: str(ts),
        }

    def record(self, number: int, status: int | None, error: str | None, at: float) -> dict:
        return {"attemptNumber": number, "status": status, "error": error, "at": iso(int(at * 1000))}

    def counts(self) -> dict:
        return {"events": sum(len(d.events) for d in self.deliveries), **self.state_counts()}
