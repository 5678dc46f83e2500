"""Webhook deliveries from the Xero sandbox, signed and retried (the HubSpot sandbox's approach).

A delivery is Xero's ``WebhookEvent`` payload::

    {"events": [{"resourceUrl", "resourceId", "eventDateUtc", "eventType": "CREATE"|"UPDATE",
                 "eventCategory": "INVOICE"|"CONTACT", "tenantId", "tenantType": "ORGANISATION"}],
     "firstEventSequence": n, "lastEventSequence": m, "entropy": "20 UPPERCASE LETTERS"}

POSTed to the target URL with ``x-xero-signature`` (base64 HMAC-SHA256 of the raw body under the
webhook key). A non-2xx answer or a connection error is retried after each of ``retry_delays`` with
the very same bytes; then the delivery is marked failed. Deliveries run as tasks in the sandbox
server's own event loop. ``intent_probe`` sends Xero's intent-to-receive check (empty events, once
correctly signed and once not) and reports both status codes.
"""

from __future__ import annotations

import itertools
import random
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from connectors.delivery import DEFAULT_RETRY_DELAYS, RetryingDispatcher
from connectors.webhooks import XERO_SIGNATURE_HEADER, sign_xero, xero_intent_payload
API_ROOT = "https://api.xero.com/api.xro/2.0"
CATEGORY_PATHS = {"CONTACT": "Contacts", "INVOICE": "Invoices"}


def event_time(ts: float | None = None) -> str:
    """Xero's ``eventDateUtc``: ISO 8601 UTC with milliseconds, no zone suffix."""
    when = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def entropy() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=20))


@dataclass
class XeroDelivery:
    id: int
    target_url: str | None
    body: bytes
    """The exact bytes signed and sent on every attempt."""
    state: str = "pending"
    """pending, delivered, failed (retries exhausted), no_target."""
    attempts: list[dict] = field(default_factory=list)

    def describe(self) -> dict:
        return {"id": self.id, "target_url": self.target_url, "state": self.state,
                "payload": orjson.loads(self.body), "attempts": list(self.attempts)}


class XeroWebhookDispatcher(RetryingDispatcher):
    """Holds the target URL and webhook key; builds, signs and delivers events with retries."""

    def __init__(self, *, tenant_id: str, key: str = "sandbox-xero-webhook-key", timeout_s: float = 5.0) -> None:
        super().__init__(timeout_s=timeout_s)
        self.tenant_id = tenant_id
        self.key = key
        self._sequence = itertools.count(1)

    def configure(self, body: dict) -> dict:
        if "target_url" in body:
            self.target_url = body["target_url"] or None
        if "key" in body:
            self.key = str(body["key"])
        if "retry_delays" in body:
            self.retry_delays = [float(d) for d in body["retry_delays"]]
        return self.describe()

    def describe(self) -> dict:
        # the key is a secret: never echoed back
        return {"target_url": self.target_url, "retry_delays": self.retry_delays,
                "key_configured": bool(self.key), "deliveries": self.counts()}

    def event(self, category: str, resource_id: str, event_type: str) -> dict:
        return {
            "resourceUrl": f"{API_ROOT}/{CATEGORY_PATHS[category]}/{resource_id}",
            "resourceId": resource_id, "eventDateUtc": event_time(), "eventType": event_type,
            "eventCategory": category, "tenantId": self.tenant_id, "tenantType": "ORGANISATION",
        }

    def dispatch(self, events: list[dict]) -> XeroDelivery | None:
        """Queue one delivery of ``events``; must be called inside the server's event loop."""
        if not events:
            return None
        first = next(self._sequence)
        last = first
        for _ in events[1:]:
            last = next(self._sequence)
        body = orjson.dumps({"events": events, "firstEventSequence": first, "lastEventSequence": last,
                             "entropy": entropy()})
        delivery = XeroDelivery(next(self._delivery_ids), self.target_url, body)
        self._start(delivery)
        return delivery

    def attempt(self, delivery: XeroDelivery, number: int) -> tuple[bytes, dict[str, str]]:
        # the very same bytes on every attempt
        return delivery.body, self._headers(delivery.body, self.key)

    def record(self, number: int, status: int | None, error: str | None, at: float) -> dict:
        return {"attempt": number, "status": status, "error": error, "at": event_time(at)}

    @staticmethod
    def _headers(body: bytes, key: str) -> dict[str, str]:
        return {"Content-Type": "application/json", XERO_SIGNATURE_HEADER: sign_xero(key, body)}

    async def intent_probe(self, target_url: str | None = None) -> dict:
        """Xero's intent-to-receive check: an empty-events payload sent once correctly signed and once
        wrongly signed. The endpoint passes when it answers 200 and 401 respectively."""
        url = target_url or self.target_url
        if not url:
            return {"error": "no target_url configured"}
        body = orjson.dumps(xero_intent_payload(entropy()))
        valid_status, valid_error = await self._post(url, body, self._headers(body, self.key))
        invalid_status, invalid_error = await self._post(url, body, self._headers(body, self.key + "-wrong"))
        return {"target_url": url, "valid_signature_status": valid_status, "invalid_signature_status": invalid_status,
                "errors": [e for e in (valid_error, invalid_error) if e],
                "passed": valid_status == 200 and invalid_status == 401}

    def counts(self) -> dict:
        return self.state_counts()

    # --- kept across a restart (connectors.sandbox_state) ----------------------------------------
    def export_state(self) -> dict:
        next_sequence = next(self._sequence)
        self._sequence = itertools.count(next_sequence)
        return {**self.base_state(), "key": self.key, "next_sequence": next_sequence,
                "deliveries": [{"id": d.id, "target_url": d.target_url, "body": d.body.decode("utf-8"),
                                "state": d.state, "attempts": d.attempts} for d in self.deliveries]}

    def import_state(self, state: dict) -> None:
        self.key = str(state["key"])
        self._sequence = itertools.count(int(state["next_sequence"]))
        self.import_base_state(state, [XeroDelivery(int(d["id"]), d["target_url"], d["body"].encode("utf-8"),
                                                    str(d["state"]), list(d["attempts"])) for d in state["deliveries"]])


__all__ = ["DEFAULT_RETRY_DELAYS", "XeroDelivery", "XeroWebhookDispatcher", "entropy", "event_time"]
