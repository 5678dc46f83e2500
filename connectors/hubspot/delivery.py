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
# objectTypeId -> the object's own (pre-generic) subscription prefix: ``company.merge``, ``contact.deletion``
LEGACY_SUBSCRIPTION_OBJECTS = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-8": "line_item"}


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

    def _next_event_id(self) -> int:
        event_id = next(self._event_ids)
        floor = time.time_ns() // 1000  # epoch ms * 1000: ahead of a stale snapshot's counter
        if event_id < floor:
            event_id, self._event_ids = floor, itertools.count(floor + 1)
        return event_id

    def property_change(self, object_type_id: str, object_id: str, name: str, value: str, *,
                        occurred_ms: int, source: str = "CRM_UI") -> dict:
        """One property change event (webhooks v3 shape): ``company.propertyChange`` and the like for
        the objects with their own subscription types, ``object.propertyChange`` for the others."""
        legacy = LEGACY_SUBSCRIPTION_OBJECTS.get(object_type_id)
        event = {
            "eventId": self._next_event_id(), "subscriptionId": self.subscription_id,
            "portalId": self.portal_id, "appId": self.app_id, "occurredAt": occurred_ms,
            "subscriptionType": f"{legacy or 'object'}.propertyChange", "attemptNumber": 0,
            "objectId": int(object_id), "objectTypeId": object_type_id,
            "propertyName": name, "propertyValue": value, "changeSource": source,
        }
        if legacy is not None:
            del event["objectTypeId"]
        return event

    def object_event(self, action: str, object_type_id: str, object_id: str, *, occurred_ms: int,
                     source: str = "CRM_UI", **fields) -> dict:
        """One ``creation``/``deletion``/``merge``/``restore`` event (webhooks v3 shape). Contacts,
        companies, deals and line items use their own subscription types (``company.deletion``, which
        carry no ``objectTypeId``); other objects the generic ``object.*`` ones with ``objectTypeId``."""
        legacy = LEGACY_SUBSCRIPTION_OBJECTS.get(object_type_id)
        event = {
            "eventId": self._next_event_id(), "subscriptionId": self.subscription_id,
            "portalId": self.portal_id, "appId": self.app_id, "occurredAt": occurred_ms,
            "subscriptionType": f"{legacy or 'object'}.{action}", "attemptNumber": 0, "objectId": int(object_id),
        }
        if legacy is None:
            event["objectTypeId"] = object_type_id
        event["changeSource"] = source
        event.update(fields)
        return event

    def merge(self, object_type_id: str, primary_id: str, merged_ids: list[str], *, moved: int, occurred_ms: int,
              source: str = "CRM_UI", new_id: str | None = None) -> dict:
        """A ``*.merge`` event: ``objectId`` and ``primaryObjectId`` name the record that was kept,
        ``mergedObjectIds`` the records merged into it, ``newObjectId`` the record the merge resulted in
        (the primary here: the sandbox keeps the primary's id), ``numberOfPropertiesMoved`` how many
        property values moved onto it."""
        return self.object_event("merge", object_type_id, primary_id, occurred_ms=occurred_ms, source=source,
                                 primaryObjectId=int(primary_id), mergedObjectIds=[int(i) for i in merged_ids],
                                 newObjectId=int(new_id or primary_id), numberOfPropertiesMoved=int(moved))

    def deletion(self, object_type_id: str, object_id: str, *, occurred_ms: int, source: str = "CRM_UI") -> dict:
        """A ``*.deletion`` event (the record was archived)."""
        return self.object_event("deletion", object_type_id, object_id, occurred_ms=occurred_ms, source=source)

    def restore(self, object_type_id: str, object_id: str, *, occurred_ms: int, source: str = "CRM_UI") -> dict:
        """A ``*.restore`` event (an archived record is back; HubSpot adds no fields for it)."""
        return self.object_event("restore", object_type_id, object_id, occurred_ms=occurred_ms, source=source)

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

    # --- kept across a restart (connectors.sandbox_state) ----------------------------------------
    def export_state(self) -> dict:
        next_event_id = next(self._event_ids)
        self._event_ids = itertools.count(next_event_id)
        return {**self.base_state(), "secret": self.secret, "next_event_id": next_event_id,
                "deliveries": [{"id": d.id, "target_url": d.target_url, "events": d.events, "state": d.state,
                                "attempts": d.attempts} for d in self.deliveries]}

    def import_state(self, state: dict) -> None:
        self.secret = str(state["secret"])
        self._event_ids = itertools.count(int(state["next_event_id"]))
        self.import_base_state(state, [Delivery(int(d["id"]), d["target_url"], list(d["events"]), str(d["state"]),
                                                list(d["attempts"])) for d in state["deliveries"]])
