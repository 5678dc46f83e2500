"""From a vendor's webhook delivery to inbox events, and from an event to the workflow it starts."""

from __future__ import annotations

import hashlib

import orjson

from opsconsole.engine.crm_lifecycle import change_problem, lifecycle_of
from opsconsole.engine.records import IncomingEvent

QUOTE_TYPE_ID = "0-14"
REQUIRED = ("eventId", "subscriptionType", "objectId")
# CRM properties only the engine writes (derived from the ERP and customer success), never customer data
ENGINE_WRITE_BACK = frozenset({"financial_risk", "renewal_readiness", "delivery_risk"})


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
    if sub == "company.propertyChange" and ev.get("propertyName") in ENGINE_WRITE_BACK:
        return None  # the engine's own write-back (e.g. invoice_feedback's financial_risk): no customer change
    if sub in ("company.propertyChange", "company.creation"):
        return ("company_to_contact", f"hubspot:company:{obj}:{ev.get('occurredAt', '')}", False)
    if sub in ("contact.propertyChange", "contact.creation"):
        return ("crm_contact_to_cs_erp", f"hubspot:contact:{obj}:{ev.get('occurredAt', '')}", False)
    return None


def route_xero(ev: dict) -> tuple[str, str, bool] | None:
    """(workflow, business key, one-run-per-key) for a Xero event, or None if nothing handles it."""
    if ev.get("eventCategory") == "CONTACT" and ev.get("eventType") in ("CREATE", "UPDATE"):
        return ("contact_to_company", f"xero:contact:{ev['resourceId']}:{ev['eventDateUtc']}", False)
    if ev.get("eventCategory") == "INVOICE" and ev.get("eventType") in ("CREATE", "UPDATE"):
        return ("invoice_feedback", f"xero:invoice:{ev['resourceId']}:{ev['eventDateUtc']}", False)
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
        if lifecycle_of(ev) is not None:  # merge, deletion, restore: no run, applied in the inbox commit
            problem = change_problem(ev)
            if problem:
                problem = f"event {index} ({ev['subscriptionType']}) {problem}"
            out.append(IncomingEvent("hubspot", str(ev["eventId"]), str(ev["subscriptionType"]), ev_raw, headers,
                                     None, problem, None if problem else ev))
            continue
        route = route_hubspot(ev)
        out.append(IncomingEvent("hubspot", str(ev["eventId"]), str(ev["subscriptionType"]), ev_raw, headers, route))
    return out


XERO_REQUIRED = ("resourceId", "eventCategory", "eventType", "eventDateUtc")


def parse_xero(raw: bytes, headers: dict[str, str]) -> list[IncomingEvent] | None:
    """Split a Xero delivery into inbox events, or None for an intent-to-receive probe (no events).

    Xero events carry no event id: the key is resource id + category + type + event time (DESIGN,
    Vocabulary). A contact's change starts contact_to_company (ERP -> CRM), an invoice's change
    invoice_feedback (payment status -> CRM and customer success); the others are kept
    (status ``ignored``) for the workflows that will consume them.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [_malformed("xero", raw, f"body is not JSON: {exc}", headers)]
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return [_malformed("xero", raw, "body is not an object with an events list", headers)]
    if not data["events"]:
        return None
    out: list[IncomingEvent] = []
    for index, ev in enumerate(data["events"]):
        ev_raw = raw if len(data["events"]) == 1 else orjson.dumps(ev)
        if not isinstance(ev, dict):
            out.append(_malformed("xero", ev_raw, f"event {index} is not a JSON object", headers))
            continue
        missing = [k for k in XERO_REQUIRED if ev.get(k) in (None, "")]
        if missing:
            out.append(_malformed("xero", ev_raw, f"event {index} lacks {', '.join(missing)}", headers))
            continue
        key = f"{ev['resourceId']}:{ev['eventCategory']}:{ev['eventType']}:{ev['eventDateUtc']}"
        out.append(IncomingEvent("xero", key, f"{ev['eventCategory'].lower()}.{ev['eventType'].lower()}",
                                 ev_raw, headers, route_xero(ev)))
    return out


# Intercom's documented webhook topics for a changed company and a changed contact (user or lead)
INTERCOM_ROUTES = {
    "company.updated": ("cs_company_to_crm", "company"),
    "contact.user.updated": ("cs_contact_to_crm", "contact"),
    "contact.lead.updated": ("cs_contact_to_crm", "contact"),
    "contact.email.updated": ("cs_contact_to_crm", "contact"),
}


def route_intercom(data: dict) -> tuple[str, str, bool] | None | str:
    """(workflow, business key, one-run-per-key) for an Intercom notification, None if nothing
    handles its topic, or a problem (str) when a handled notification lacks its item's id. The key
    carries the item's ``updated_at``, so every change is its own run (as HubSpot's occurredAt)."""
    route = INTERCOM_ROUTES.get(str(data.get("topic")))
    if route is None:
        return None
    item = (data.get("data") or {}).get("item") if isinstance(data.get("data"), dict) else None
    if not isinstance(item, dict) or item.get("id") in (None, ""):
        return f"notification {data.get('topic')} lacks data.item.id"
    workflow, kind = route
    return (workflow, f"intercom:{kind}:{item['id']}:{item.get('updated_at') or data.get('created_at') or ''}", False)


def parse_intercom(raw: bytes, headers: dict[str, str]) -> list[IncomingEvent]:
    """An Intercom notification (one per delivery), keyed by its ``id``. A changed company or contact
    starts cs_company_to_crm / cs_contact_to_crm (:data:`INTERCOM_ROUTES`); the others are kept
    (status ``ignored``) for the workflows that will consume them."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [_malformed("intercom", raw, f"body is not JSON: {exc}", headers)]
    if not isinstance(data, dict):
        return [_malformed("intercom", raw, "body is not a JSON object", headers)]
    missing = [k for k in ("id", "topic") if data.get(k) in (None, "")]
    if missing or data.get("type") != "notification_event":
        problem = f"lacks {', '.join(missing)}" if missing else "type is not notification_event"
        return [_malformed("intercom", raw, f"notification {problem}", headers)]
    route = route_intercom(data)
    if isinstance(route, str):
        return [IncomingEvent("intercom", str(data["id"]), str(data["topic"]), raw, headers, None, route)]
    return [IncomingEvent("intercom", str(data["id"]), str(data["topic"]), raw, headers, route)]
