"""Routing for invoice_feedback: Xero INVOICE events start it; the engine's own CRM write-back does not
start a company change."""

from __future__ import annotations

from opsconsole.engine.events import route_hubspot, route_xero


def test_xero_invoice_events_start_invoice_feedback_per_event_time():
    for kind in ("CREATE", "UPDATE"):
        ev = {"resourceId": "inv-9", "eventCategory": "INVOICE", "eventType": kind,
              "eventDateUtc": "2026-11-30T10:00:00.000"}
        assert route_xero(ev) == ("invoice_feedback", "xero:invoice:inv-9:2026-11-30T10:00:00.000", False)
    assert route_xero({"resourceId": "s", "eventCategory": "SUBSCRIPTION", "eventType": "UPDATE",
                       "eventDateUtc": "x"}) is None


def test_a_write_back_property_change_is_not_a_customer_change():
    ev = {"eventId": 1, "subscriptionType": "company.propertyChange", "objectId": 5, "occurredAt": 17}
    assert route_hubspot({**ev, "propertyName": "financial_risk"}) is None
    assert route_hubspot({**ev, "propertyName": "name"}) == ("company_to_contact", "hubspot:company:5:17", False)
