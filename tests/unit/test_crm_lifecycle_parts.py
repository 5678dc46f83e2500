"""HubSpot merge, deletion and restore events: how they are recognised and parsed, and the store
migration that keeps archived and merged cross-references (0002)."""

from __future__ import annotations

import time

import orjson
from alembic import command
from sqlalchemy import inspect, insert, select

from opsconsole.engine.crm_lifecycle import change_problem, lifecycle_of
from opsconsole.engine.events import parse_hubspot
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import alembic_config, current_revision, upgrade
from opsconsole.store.tables import xrefs


def test_lifecycle_events_are_recognised_in_both_subscription_formats():
    assert lifecycle_of({"subscriptionType": "company.merge"}) == ("merge", "company")
    assert lifecycle_of({"subscriptionType": "contact.deletion"}) == ("deletion", "contact")
    assert lifecycle_of({"subscriptionType": "contact.privacyDeletion"}) == ("privacyDeletion", "contact")
    assert lifecycle_of({"subscriptionType": "object.restore", "objectTypeId": "0-2"}) == ("restore", "company")
    assert lifecycle_of({"subscriptionType": "object.deletion", "objectTypeId": "0-14"}) == ("deletion", "quote")
    assert lifecycle_of({"subscriptionType": "object.deletion", "objectTypeId": "2-999"}) is None  # custom object
    assert lifecycle_of({"subscriptionType": "company.propertyChange"}) is None
    assert lifecycle_of({"subscriptionType": "merge"}) is None


def test_merge_events_need_their_ids():
    ok = {"subscriptionType": "company.merge", "primaryObjectId": 1, "mergedObjectIds": [2]}
    assert change_problem(ok) == ""
    assert change_problem({**ok, "primaryObjectId": None}) == "lacks primaryObjectId"
    assert change_problem({**ok, "mergedObjectIds": []}) == "has no mergedObjectIds list of ids"
    assert change_problem({**ok, "mergedObjectIds": "2"}) == "has no mergedObjectIds list of ids"
    assert change_problem({"subscriptionType": "company.deletion"}) == ""


def test_a_delivery_mixing_lifecycle_and_other_events_parses_each():
    body = orjson.dumps([
        {"eventId": 1, "subscriptionType": "company.merge", "objectId": 10, "primaryObjectId": 10,
         "mergedObjectIds": [11], "newObjectId": 10, "numberOfPropertiesMoved": 3},
        {"eventId": 2, "subscriptionType": "company.deletion", "objectId": 12},
        {"eventId": 3, "subscriptionType": "contact.merge", "objectId": 13, "primaryObjectId": 13},
        {"eventId": 4, "subscriptionType": "company.propertyChange", "objectId": 14, "occurredAt": 5},
    ])
    merge, deletion, broken, change = parse_hubspot(body, {})
    assert (merge.event_key, merge.event_type, merge.route, merge.problem) == ("1", "company.merge", None, "")
    assert merge.identity_change["mergedObjectIds"] == [11]
    assert deletion.identity_change["objectId"] == 12 and deletion.route is None
    assert (broken.event_key, broken.identity_change) == ("3", None)  # keyed by its eventId all the same
    assert broken.problem == "event 2 (contact.merge) has no mergedObjectIds list of ids"
    assert change.identity_change is None and change.route[0] == "company_to_contact"


def test_migration_0002_adds_the_archive_columns_to_a_store_with_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    eng = make_engine(url, write=True)
    with eng.begin() as c:  # a row written by 0001 (no archive columns yet)
        c.exec_driver_sql("INSERT INTO xrefs (system, object_type, external_id, canonical_id, created_at) "
                          f"VALUES ('hubspot', 'company', '42', 'cus_1', {time.time()})")
    eng.dispose()
    upgrade(url, "0002")
    eng = make_engine(url, write=True)
    try:
        assert current_revision(eng) == "0002"
        columns = {c["name"] for c in inspect(eng).get_columns("xrefs")}
        assert {"archived_at", "archived_reason", "merged_into", "previous_canonical_id"} <= columns
        with eng.begin() as c:
            row = c.execute(select(xrefs).where(xrefs.c.external_id == "42")).mappings().one()
            assert (row["canonical_id"], row["archived_at"], row["merged_into"]) == ("cus_1", None, None)
            c.execute(insert(xrefs).values(system="hubspot", object_type="company", external_id="43",
                                           canonical_id="cus_1", created_at=time.time(), merged_into="42"))
    finally:
        eng.dispose()
    command.downgrade(alembic_config(url), "0001")
    eng = make_engine(url, write=False)
    try:
        assert "merged_into" not in {c["name"] for c in inspect(eng).get_columns("xrefs")}
    finally:
        eng.dispose()
