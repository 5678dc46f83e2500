"""The ingress: nothing lost, nothing stored twice, forged deliveries refused and counted."""

from __future__ import annotations

import time

import httpx
import orjson
from sqlalchemy import func, select

from connectors.webhooks import sign_hubspot_v3
from opsconsole.sandboxes import HUBSPOT_SECRET
from opsconsole.store.tables import exceptions, inbox, rejected_webhooks, runs
from tests.engine.conftest import wait_for


def _count(engine, table, *where):
    with engine.read_engine.connect() as c:
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar()


async def _post(engine, body: bytes, *, secret=HUBSPOT_SECRET, ts_ms=None, signature=None):
    url = f"{engine.ingress_url}/webhooks/hubspot"
    ts = ts_ms or int(time.time() * 1000)
    sig = signature or sign_hubspot_v3(secret, "POST", url, body, ts)
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers={
            "X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": str(ts), "Content-Type": "application/json"})


def _approval(event_id: int, quote_id: str) -> bytes:
    return orjson.dumps([{"eventId": event_id, "subscriptionType": "object.propertyChange", "objectId": int(quote_id),
                          "objectTypeId": "0-14", "propertyName": "hs_status", "propertyValue": "APPROVED",
                          "occurredAt": 1}])


async def test_bad_signature_is_401_counted_and_not_stored(engine):
    r = await _post(engine, _approval(1, "5"), secret="wrong-secret")
    assert r.status_code == 401 and "bad signature" in r.json()["message"]
    old = await _post(engine, _approval(2, "5"), ts_ms=int(time.time() * 1000) - 6 * 60 * 1000)
    assert old.status_code == 401 and "too old" in old.json()["message"]
    assert _count(engine, inbox) == 0
    with engine.read_engine.connect() as c:
        reasons = [r[0] for r in c.execute(select(rejected_webhooks.c.reason).order_by(rejected_webhooks.c.id))]
    assert reasons == ["bad signature", "timestamp too old"]


async def test_signed_but_malformed_body_is_stored_as_a_validation_exception(engine):
    r = await _post(engine, b'[{"subscriptionType": "object.propertyChange"}]')
    assert r.status_code == 200
    with engine.read_engine.connect() as c:
        row = c.execute(select(inbox.c.status, inbox.c.raw_body, inbox.c.note)).one()
        exc = c.execute(select(exceptions.c.category, exceptions.c.state, exceptions.c.inbox_id, exceptions.c.run_id)).one()
    assert row.status == "invalid" and row.raw_body == b'[{"subscriptionType": "object.propertyChange"}]'
    assert "lacks eventId, objectId" in row.note
    assert (exc.category, exc.state, exc.run_id) == ("validation", "open", None)
    assert _count(engine, runs) == 0


async def test_a_repeated_event_is_recorded_once_and_starts_one_run(engine, sandboxes):
    quote = sandboxes.quote_ids()[4]
    sandboxes.approve(quote, deliver=False)
    for _ in range(3):
        assert (await _post(engine, _approval(777, quote))).status_code == 200
    # a different event for the same quote (the poll, say) is recorded, but runs nothing new
    assert (await _post(engine, _approval(778, quote))).status_code == 200
    await wait_for(lambda: _count(engine, runs, runs.c.status == "succeeded") == 1)
    assert _count(engine, inbox) == 2
    assert _count(engine, inbox, inbox.c.status == "duplicate") == 1
    assert sandboxes.xero_state()["counts"]["invoices"] == 1


async def test_a_webhook_for_a_quote_no_longer_approved_is_a_validation_exception(engine, sandboxes):
    quote = sandboxes.quote_ids()[5]  # still DRAFT in the CRM: a stale or forged approval
    assert (await _post(engine, _approval(555, quote))).status_code == 200
    await wait_for(lambda: _count(engine, exceptions) == 1)
    with engine.read_engine.connect() as c:
        err = c.execute(select(exceptions.c.last_error, exceptions.c.category)).one()
    assert err.category == "validation" and f"quote {quote} is not approved (hs_status DRAFT)" in err.last_error
    assert sandboxes.xero_state()["counts"]["contacts"] == 0


async def test_the_scheduled_poll_picks_up_an_approval_whose_webhook_never_came(tmp_path, sandboxes):
    from opsconsole.engine.app import Engine
    from opsconsole.settings import ScheduleSettings
    from tests.engine.conftest import make_settings

    engine = Engine(make_settings(tmp_path, sandboxes, schedule=ScheduleSettings(hubspot_poll_s=0.3, retry_sweep_s=1)))
    assert await engine.start()
    try:
        await _poll_case(engine, sandboxes)
    finally:
        await engine.stop()


async def _poll_case(engine, sandboxes):
    quote = sandboxes.quote_ids()[6]
    sandboxes.approve(quote, deliver=False)
    await wait_for(lambda: _count(engine, runs, runs.c.status == "succeeded") == 1)
    with engine.read_engine.connect() as c:
        key = c.execute(select(inbox.c.event_key)).scalar()
    assert key.startswith(f"poll:quote:{quote}:")
    await engine.poll.run()  # seen again: nothing new
    assert _count(engine, inbox) == 1 and _count(engine, runs) == 1
    assert engine.poll.last_result == "1 approved quotes seen, 0 new runs"


async def test_company_change_is_one_hop_to_the_erp_contact(engine, sandboxes):
    company = sandboxes.hubspot.store.objects["companies"]
    company_id = sorted(company, key=int)[5]
    body = orjson.dumps([{"eventId": 9001, "subscriptionType": "company.propertyChange", "objectId": int(company_id),
                          "propertyName": "name", "propertyValue": "x", "occurredAt": 1700000000000}])
    assert (await _post(engine, body)).status_code == 200
    await wait_for(lambda: _count(engine, runs, runs.c.status == "succeeded") == 1)
    contacts = sandboxes.xero_records("Contacts")
    assert len(contacts) == 1
    assert contacts[0]["Name"] == company[company_id]["properties"]["name"]


async def test_unknown_routes_and_methods_and_health(engine):
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{engine.ingress_url}/webhooks/hubspot")).status_code == 405
        assert (await http.post(f"{engine.ingress_url}/nowhere")).status_code == 404
        health = (await http.get(f"{engine.ingress_url}/healthz")).json()
    assert health["store"] == {"dialect": "sqlite", "journal_mode": "wal", "synchronous": "full"}
    assert health["transport"] == {"hubspot": "lean", "xero": "lean", "intercom": "lean"}
    assert health["lease_holder"] == engine.lease.holder and health["ingress"]["accepted"] == 0


async def _post_xero(engine, body: bytes, key: str | None = None):
    from connectors.webhooks import sign_xero
    from tests.engine.conftest import XERO_WEBHOOK_KEY

    async with httpx.AsyncClient() as http:
        return await http.post(f"{engine.ingress_url}/webhooks/xero", content=body, headers={
            "x-xero-signature": sign_xero(key or XERO_WEBHOOK_KEY, body), "Content-Type": "application/json"})


async def test_xero_intent_to_receive(engine):
    probe = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"ABCDEFGHIJKLMNOPQRST"}'
    assert (await _post_xero(engine, probe)).status_code == 200
    assert (await _post_xero(engine, probe, key="not-the-key")).status_code == 401
    assert _count(engine, inbox) == 0
    with engine.read_engine.connect() as c:
        assert c.execute(select(rejected_webhooks.c.source, rejected_webhooks.c.reason)).all() == [("xero", "bad signature")]


async def test_xero_events_are_kept_once_keyed_by_resource_category_type_and_time(engine):
    # a category no workflow consumes (INVOICE and CONTACT start runs), so the event is kept, ignored
    event = {"resourceUrl": "https://api.xero.com/subscriptions/abc", "resourceId": "abc",
             "eventDateUtc": "2026-11-30T10:00:00.000", "eventType": "UPDATE", "eventCategory": "SUBSCRIPTION",
             "tenantId": "t", "tenantType": "ORGANISATION"}
    body = orjson.dumps({"events": [event], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "X" * 20})
    for _ in range(2):  # Xero redelivers until it sees a 200
        assert (await _post_xero(engine, body)).status_code == 200
    with engine.read_engine.connect() as c:
        rows = c.execute(select(inbox.c.source, inbox.c.event_key, inbox.c.event_type, inbox.c.status)).all()
    assert rows == [("xero", "abc:SUBSCRIPTION:UPDATE:2026-11-30T10:00:00.000", "subscription.update", "ignored")]
    broken = orjson.dumps({"events": [{"resourceId": "abc"}]})
    assert (await _post_xero(engine, broken)).status_code == 200
    with engine.read_engine.connect() as c:
        exc = c.execute(select(exceptions.c.category, exceptions.c.system, exceptions.c.last_error)).one()
    assert exc.category == "validation" and exc.system == "xero" and "lacks eventCategory" in exc.last_error


async def test_intercom_notifications_are_verified_and_kept_once(engine):
    from connectors.webhooks import sign_intercom
    from tests.engine.conftest import INTERCOM_WEBHOOK_KEY

    body = orjson.dumps({"type": "notification_event", "id": "notif_42", "topic": "ticket.created",
                         "data": {"item": {"type": "ticket", "id": "t1"}}, "created_at": 1700000000})

    async def post(b: bytes, key: str):
        async with httpx.AsyncClient() as http:
            return await http.post(f"{engine.ingress_url}/webhooks/intercom", content=b,
                                   headers={"X-Hub-Signature": sign_intercom(key, b)})
    assert (await post(body, "wrong")).status_code == 401
    for _ in range(2):
        assert (await post(body, INTERCOM_WEBHOOK_KEY)).status_code == 200
    with engine.read_engine.connect() as c:
        rows = c.execute(select(inbox.c.source, inbox.c.event_key, inbox.c.event_type, inbox.c.status)).all()
        rejected = c.execute(select(rejected_webhooks.c.source)).scalars().all()
    assert rows == [("intercom", "notif_42", "ticket.created", "ignored")] and rejected == ["intercom"]
