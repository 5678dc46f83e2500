"""From a vendor's webhook delivery to inbox events, and from an event to the workflow it starts."""

from __future__ import annotations

import hashlib

import orjson

from opsconsole.engine.records import IncomingEvent

QUOTE_TYPE_ID = "0-14"
REQUIRED = ("eventId", "subscriptionType", "objectId")


def route_hubspot(ev: dict) -> tuple[str, str, bool] | None:
    """(workflow, business key, one-run-per-key) for a HubSpot event, or None if nothing handles it."""
    sub = ev.get("subscriptionType", "")
    obj = ev.get("objectId")
    if sub == "object.propertyChange" and str(ev.get("objectTypeId")) == QUOTE_TYPE_ID:
        if ev.get("propertyName") == "hs_status" and ev.get("propertyValue") == "APPROVED":
            return ("quote_to_order", f"hubspot:quote:{obj}", True)
        return None
    if sub == "poll.quote.approved":
        return ("quote_to_order", f"hubspot:quote:{obj}", True)
    if sub in ("company.propertyChange", "company.creation"):
        return ("company_to_contact", f"hubspot:company:{obj}:{ev.get('occurredAt', '')}", False)
    return None


def _malformed(source: str, raw: bytes, problem: str, headers: dict) -> IncomingEvent:
    digest = hashlib.sha256(raw).hexdigest()[:32]
    return IncomingEvent(source, f"malformed:{digest}", "malformed", raw, headers, None, problem)


def parse_hubspot(raw: bytes, headers: dict[str, str]) -> list[IncomingEvent]:
    """Split a HubSpot delivery (a JSON array of events) into inbox events; malformed parts become
    events carrying a ``problem`` (stored, then shown as validation exceptions)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [_malformed("hubspot", raw, f"body is not JSON: {exc}", headers)]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        return [_malformed("hubspot", raw, "body is not a non-empty JSON array of events", headers)]
    out: list[IncomingEvent] = []
    single = len(data) == 1
    for index, ev in enumerate(data):
        ev_raw = raw if single else orjson.dumps(ev)
        if not isinstance(ev, dict):
            out.append(_malformed("hubspot", ev_raw, f"event {index} is not a JSON object", headers))
            continue
        missing = [k for k in REQUIRED if ev.get(k) in (None, "")]
        if missing:
            out.append(_malformed("hubspot", ev_raw, f"event {index} lacks {', '.join(missing)}", headers))
            continue
        route = route_hubspot(ev)
        out.append(IncomingEvent("hubspot", str(ev["eventId"]), str(ev["subscriptionType"]), ev_raw, headers, route))
    return out
