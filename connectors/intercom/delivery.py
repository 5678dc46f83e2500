"""Webhook notifications from the Intercom sandbox, signed and retried as Intercom documents them.

Facts followed (Intercom developer docs, "Webhook models" reference for 2.x: "Webhook notification
object", "Handling Webhook notifications", "Signed notifications"; a notification Intercom really
sent, kept as a fixture by an open-source Intercom connector, for the field order and the
``delivery_status``/``delivered_at``/``links``/``self`` values):

- One notification per POST::

      {"type": "notification_event", "app_id": "<workspace id>",
       "data": {"type": "notification_event_data", "item": {...the object, with its "type"...}},
       "links": {}, "id": "notif_<uuid>", "topic": "company.created",
       "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0,
       "first_sent_at": <unix s>, "created_at": <unix s>, "self": null}

  ``delivery_attempts`` is "the number of times this notification has been attempted" (1 on the
  first POST), ``first_sent_at`` "the first time the delivery was attempted"; the ``id`` is the same
  on every attempt, so a receiver dedupes on it.
- Headers: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body under the app's client secret>``,
  ``User-Agent: intercom-parrot-service-client/1.0``, ``Accept`` and ``Content-Type: application/json``.
  Each attempt's body differs (``delivery_attempts``), so each is signed afresh.
- "You have 5 seconds to respond to a notification. If you don't send a response within that time,
  the notification is treated as failed and will be retried only once after 1 minute." A 4xx (but
  429) or 5xx answer: "We will retry after 1 minute ... If the 2nd retry fails then we mark the
  notification delivery as failed." Here: ``retry_delays`` (default ``[60]``: one retry a minute
  later; tests set it short), then ``failed``.
- 410 Gone: "We will disable the subscription and no more notifications will be sent." Here the
  delivery fails at once and the subscription is disabled until it is configured again.
- 429: notifications are throttled, "this delay can be between 1 minute to 2 hours", and one delayed
  more than 2 hours is dropped. Here a 429 answer is retried after ``throttle_delays`` (default:
  doubling from 1 minute, the last one cut so the total is 2 hours — the doubling is the sandbox's
  choice, Intercom does not say how the delay grows), then the delivery fails. The sandbox throttles
  the notification that got the 429, not every notification of the subscription.
- Only the subscribed topics are notified. Not emulated: pausing after 1,000 consecutive errors in 15
  minutes, suspending after 7 days of errors, the ``ping`` topic.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import orjson

from connectors.delivery import RetryingDispatcher
from connectors.webhooks import INTERCOM_SIGNATURE_HEADER, sign_intercom

USER_AGENT = "intercom-parrot-service-client/1.0"
RETRY_DELAYS = [60.0]
"""Intercom retries a failed notification once, after 1 minute."""
THROTTLE_FIRST_S = 60.0
THROTTLE_LIMIT_S = 2 * 3600.0
TOPICS = ("company.created", "company.updated", "contact.user.created", "contact.lead.created",
          "contact.user.updated", "contact.lead.updated", "ticket.created", "event.created")
"""The documented topics this sandbox fires (for the objects its API creates and updates)."""
DEFAULT_SECRET = "sandbox-intercom-client-secret"


def throttle_schedule(first_s: float = THROTTLE_FIRST_S, limit_s: float = THROTTLE_LIMIT_S) -> list[float]:
    """Delays after successive 429s: doubling from ``first_s``, the last cut so they add up to ``limit_s``."""
    delays: list[float] = []
    total, delay = 0.0, first_s
    while total + delay < limit_s:
        delays.append(delay)
        total += delay
        delay *= 2
    delays.append(limit_s - total)
    return delays


@dataclass
class IntercomDelivery:
    id: int
    target_url: str | None
    notification: dict
    """The notification as created; each attempt sends it with its own ``delivery_attempts``."""
    state: str = "pending"
    """pending (being attempted or waiting to retry), delivered, failed, no_target."""
    attempts: list[dict] = field(default_factory=list)
    first_sent_at: int = 0

    def payload(self, attempts: int) -> dict:
        return {**self.notification, "delivery_attempts": attempts, "first_sent_at": self.first_sent_at}

    def describe(self) -> dict:
        return {"id": self.id, "notification_id": self.notification["id"], "topic": self.notification["topic"],
                "target_url": self.target_url, "state": self.state,
                "payload": self.payload(max(1, len(self.attempts))), "attempts": list(self.attempts)}


class IntercomWebhookDispatcher(RetryingDispatcher):
    """The app's webhook subscription: endpoint URL, client secret, topics; sends with Intercom's retries."""

    user_agent = USER_AGENT

    def __init__(self, *, app_id: str, secret: str = DEFAULT_SECRET, timeout_s: float = 5.0) -> None:
        super().__init__(timeout_s=timeout_s)
        self.app_id = app_id
        self.secret = secret
        self.retry_delays = list(RETRY_DELAYS)
        self.throttle_delays = throttle_schedule()
        self.topics: list[str] = list(TOPICS)
        self.disabled: str | None = None
        """Why the subscription is off (a 410 answer); configuring it again turns it back on."""

    def configure(self, body: dict) -> dict:
        """Change the subscription; ValueError or TypeError (and nothing changed) for a bad value,
        such as a topic the sandbox cannot fire."""
        topics = [str(t) for t in body.get("topics") or []] if "topics" in body else self.topics
        unknown = sorted(set(topics) - set(TOPICS))
        if unknown:
            raise ValueError(f"unknown topics {unknown}; this sandbox fires {', '.join(TOPICS)}")
        retry = [float(d) for d in body["retry_delays"]] if "retry_delays" in body else self.retry_delays
        throttle = [float(d) for d in body["throttle_delays"]] if "throttle_delays" in body else self.throttle_delays
        self.topics, self.retry_delays, self.throttle_delays = topics, retry, throttle
        if "target_url" in body:
            self.target_url = body["target_url"] or None
            self.disabled = None
        if "secret" in body:
            self.secret = str(body["secret"])
        return self.describe()

    def describe(self) -> dict:
        # the client secret is never echoed back
        return {"target_url": self.target_url, "topics": list(self.topics), "retry_delays": self.retry_delays,
                "throttle_delays": self.throttle_delays, "secret_configured": bool(self.secret),
                "disabled": self.disabled, "app_id": self.app_id, "deliveries": self.state_counts()}

    def notify(self, topic: str, item: dict) -> IntercomDelivery | None:
        """Queue a notification of ``item`` on ``topic`` if subscribed; call inside the server's event loop."""
        if topic not in self.topics or self.disabled:
            return None
        notification = {
            "type": "notification_event", "app_id": self.app_id,
            "data": {"type": "notification_event_data", "item": orjson.loads(orjson.dumps(item))},  # as it is now
            "links": {}, "id": f"notif_{uuid.uuid4()}", "topic": topic, "delivery_status": "pending",
            "delivery_attempts": 0, "delivered_at": 0, "first_sent_at": 0, "created_at": int(time.time()),
            "self": None,
        }
        delivery = IntercomDelivery(next(self._delivery_ids), self.target_url, notification)
        self._start(delivery)
        return delivery

    def attempt(self, delivery: IntercomDelivery, number: int) -> tuple[bytes, dict[str, str]]:
        if not delivery.first_sent_at:
            delivery.first_sent_at = int(time.time())
        body = orjson.dumps(delivery.payload(number + 1))
        return body, {"Content-Type": "application/json", "Accept": "application/json",
                      INTERCOM_SIGNATURE_HEADER: sign_intercom(self.secret, body)}

    def record(self, number: int, status: int | None, error: str | None, at: float) -> dict:
        return {"delivery_attempts": number + 1, "status": status, "error": error, "at": int(at)}

    def retry_delay(self, delivery: IntercomDelivery, delays: list[float], number: int,
                    status: int | None) -> float | None:
        if status == 410:
            self.disabled = f"410 Gone from {delivery.target_url}"
            return None
        throttled = status == 429
        schedule = self.throttle_delays if throttled else delays
        # every attempt so far failed: this is the nth failure of its kind (429s and others counted apart)
        nth = sum(1 for a in delivery.attempts if (a["status"] == 429) == throttled) - 1
        return schedule[nth] if nth < len(schedule) else None

    # --- kept across a restart (connectors.sandbox_state) ----------------------------------------
    def export_state(self) -> dict:
        return {**self.base_state(), "secret": self.secret, "topics": list(self.topics),
                "throttle_delays": list(self.throttle_delays), "disabled": self.disabled,
                "deliveries": [{"id": d.id, "target_url": d.target_url, "notification": d.notification,
                                "state": d.state, "attempts": d.attempts, "first_sent_at": d.first_sent_at}
                               for d in self.deliveries]}

    def import_state(self, state: dict) -> None:
        self.secret = str(state["secret"])
        self.topics = [str(t) for t in state["topics"]]
        self.throttle_delays = [float(d) for d in state["throttle_delays"]]
        self.disabled = state["disabled"]
        self.import_base_state(state, [
            IntercomDelivery(int(d["id"]), d["target_url"], dict(d["notification"]), str(d["state"]),
                             list(d["attempts"]), int(d["first_sent_at"])) for d in state["deliveries"]])


__all__ = ["IntercomDelivery", "IntercomWebhookDispatcher", "RETRY_DELAYS", "TOPICS", "USER_AGENT",
           "throttle_schedule"]
