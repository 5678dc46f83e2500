"""Routing of contact and customer-success events, and the one-field name transforms."""

from __future__ import annotations

import orjson

from canonical.transforms import build
from opsconsole.engine.events import parse_hubspot, parse_intercom, route_hubspot


def _note(topic: str, item: dict | None) -> bytes:
    body = {"type": "notification_event", "id": "notif_1", "topic": topic, "created_at": 1700000000}
    if item is not None:
        body["data"] = {"type": "notification_event_data", "item": item}
    return orjson.dumps(body)


def test_crm_contact_changes_start_crm_contact_to_cs_erp():
    for sub in ("contact.propertyChange", "contact.creation"):
        ev = {"eventId": 1, "subscriptionType": sub, "objectId": 951, "occurredAt": 1700000000123}
        assert route_hubspot(ev) == ("crm_contact_to_cs_erp", "hubspot:contact:951:1700000000123", False)
    [event] = parse_hubspot(orjson.dumps([{"eventId": 7, "subscriptionType": "contact.merge", "objectId": 1,
                                          "primaryObjectId": 1, "mergedObjectIds": [2]}]), {})
    assert event.route is None and event.identity_change  # a merge stays a lifecycle change


def test_intercom_company_and_contact_changes_are_routed_by_topic():
    [company] = parse_intercom(_note("company.updated", {"type": "company", "id": "c1", "updated_at": 1700000005}), {})
    assert company.route == ("cs_company_to_crm", "intercom:company:c1:1700000005", False) and not company.problem
    for topic in ("contact.user.updated", "contact.lead.updated", "contact.email.updated"):
        [contact] = parse_intercom(_note(topic, {"type": "contact", "id": "p1", "updated_at": 1700000009}), {})
        assert contact.route == ("cs_contact_to_crm", "intercom:contact:p1:1700000009", False)
    [created] = parse_intercom(_note("contact.user.created", {"type": "contact", "id": "p1"}), {})
    assert created.route is None and not created.problem  # kept, ignored
    [broken] = parse_intercom(_note("company.updated", None), {})
    assert broken.route is None and broken.problem == "notification company.updated lacks data.item.id"
    assert broken.event_key == "notif_1"


def test_a_one_field_name_reads_as_given_and_family_names():
    given, family = build("name_given", {}), build("name_family", {})
    assert (given.read("Mary Ann Smith"), family.read("Mary Ann Smith")) == ("Mary Ann", "Smith")
    assert (given.read("Cher"), family.read("Cher")) == ("Cher", "")
    assert (given.read(""), family.read(None)) == ("", None)
    assert given.write("Mary Ann") == "Mary Ann"
