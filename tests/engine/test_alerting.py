"""Alerting: incidents from the store posted once (and resolved once) to a real HTTP receiver.

The receiver is a Starlette app served by uvicorn on a loopback port in a thread; every check runs
many times, and the tests count the exact messages it received.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from sqlalchemy import insert, select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.sandbox import free_port, serve_in_thread
from opsconsole.engine.alerting import LEASE_KEY, Alerter, alert_if_lease_lost, digest
from opsconsole.engine.lease import Lease
from opsconsole.settings import AlertSettings, load_settings
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import exceptions, incidents, lease as lease_table, spans

CID = "4bf92f3577b34da6a3ce929d0e0e4736"
URLISH = re.compile(r"(://|\bhttps?:|\bwww\.|\.example\b|\.com\b)")


class Receiver:
    """A Slack-like incoming webhook: records each JSON body; answers ``statuses`` in turn, then 200."""

    def __init__(self, port: int = 0, statuses: list[int] | None = None) -> None:
        self.messages: list[dict] = []
        self.requests = 0
        self.statuses = list(statuses or [])

        async def hook(request: Request):
            self.requests += 1
            body = await request.json()
            if self.statuses:
                return JSONResponse({"ok": False}, status_code=self.statuses.pop(0))
            self.messages.append(body)
            return JSONResponse({"ok": True})

        self.server, _, base = serve_in_thread(Starlette(routes=[Route("/services/T0/B0/secret", hook, methods=["POST"])]),
                                               port=port)
        self.url = f"{base}/services/T0/B0/secret"

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages]

    def close(self) -> None:
        self.server.should_exit = True


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    eng = make_engine(url, write=True)
    yield url, eng
    eng.dispose()


def _settings(url: str, webhooks: list[str], **alerts):
    return load_settings(None, store_url=url, audit_key="k", alerts=AlertSettings(
        webhooks=webhooks, attempts=alerts.pop("attempts", 3), backoff_s=alerts.pop("backoff_s", 0.01),
        timeout_s=2.0, **alerts))


def _alerter(settings, eng, *, holder: str = "", clock=time.time) -> Alerter:
    def read(fn):
        def go():
            with eng.connect() as c:
                return fn(c)
        return asyncio.to_thread(go)

    def write(fn):
        def go():
            with eng.begin() as c:
                return fn(c)
        return asyncio.to_thread(go)

    return Alerter(settings, read, write, holder=holder, clock=clock, systems=("hubspot", "xero", "intercom"))


def _exception(eng, *, age_s: float, category: str, state: str = "open", cid: str = CID, key: str = "Q-1") -> int:
    now = time.time()
    with eng.begin() as c:
        return c.execute(insert(exceptions).values(
            workflow="quote_to_order", business_key=key, correlation_id=cid, category=category, system="xero",
            state=state, title="Invoice rejected", last_error="500 from https://api.xero.com/api.xro/2.0/Invoices",
            created_at=now - age_s, updated_at=now - age_s)).inserted_primary_key[0]


def _span(eng, system: str, status: str, age_s: float, *, http_status: int = 503, cid: str = CID) -> None:
    with eng.begin() as c:
        c.execute(insert(spans).values(correlation_id=cid, span_id="00f067aa0ba902b7", system=system,
                                       operation="POST api.xro/2.0/Invoices", status=status,
                                       http_status=200 if status == "ok" else http_status,
                                       started_at=time.time() - age_s, duration_ms=5.0))


def _incidents(eng) -> list:
    with eng.connect() as c:
        return c.execute(select(incidents).order_by(incidents.c.id)).all()


def _no_links(message: dict) -> None:
    assert not URLISH.search(message["text"]), message["text"]
    for block in message["blocks"]:
        assert not URLISH.search(str(block)), block


async def test_an_sla_breach_alerts_once_and_its_resolution_once(store, receiver):
    url, eng = store
    settings = _settings(url, [receiver.url])
    breached = _exception(eng, age_s=2 * 3600, category="downstream_5xx", key="Q-1 see https://crm.example/q/1")
    _exception(eng, age_s=60, category="downstream_5xx", cid="1" * 32)  # within its SLA (1 h)
    _exception(eng, age_s=9 * 3600, category="validation", state="acknowledged", cid="2" * 32)  # someone owns it
    alerter = _alerter(settings, eng)
    for _ in range(5):
        await alerter.run()
    assert len(receiver.messages) == 1
    msg = receiver.messages[0]
    assert msg["text"].startswith("[opsconsole alert] Exception #%d (downstream_5xx in xero, workflow quote_to_order" % breached)
    assert "has been open 2h 00m, past its SLA of 1h 00m" in msg["text"]
    assert f"correlation id {CID}" in msg["text"] and CID in msg["blocks"][1]["elements"][0]["text"]
    _no_links(msg)

    with eng.begin() as c:  # acknowledged: someone owns it now
        c.execute(update(exceptions).where(exceptions.c.id == breached).values(state="acknowledged", owner="alice"))
    for _ in range(5):
        await alerter.run()
    assert len(receiver.messages) == 2
    assert receiver.messages[1]["text"].startswith("[opsconsole resolved] Exception #%d" % breached)
    assert f"Resolved: exception #{breached} is acknowledged." in receiver.messages[1]["text"]
    assert f"correlation id {CID}" in receiver.messages[1]["text"]
    _no_links(receiver.messages[1])

    # a restarted engine (a new alerter on the same store) does not alert again
    for _ in range(3):
        await _alerter(settings, eng).run()
    assert len(receiver.messages) == 2
    (row,) = _incidents(eng)
    assert (row.key, row.state, row.delivery, row.attempts) == (f"sla:exception:{breached}", "resolved", "sent", 0)
    assert row.alerted_at is not None and row.resolution_sent_at is not None


async def test_a_connector_that_stops_succeeding_alerts_once_then_resolves(store, receiver):
    url, eng = store
    settings = _settings(url, [receiver.url], connector_down_s=300)
    for age in (400, 200, 10):
        _span(eng, "xero", "error", age)  # failing for more than 300 s, nothing succeeded
    _span(eng, "hubspot", "ok", 5)
    _span(eng, "intercom", "ok", 400)
    _span(eng, "intercom", "error", 100, cid="3" * 32)  # failing, but for less than 300 s: not yet
    alerter = _alerter(settings, eng)
    for _ in range(4):
        await alerter.run()
    assert receiver.texts() == [
        "[opsconsole alert] Connector xero has stopped succeeding: no call succeeded for at least 5m 00s; the last one "
        f"(POST api.xro/2.0/Invoices) got HTTP 503. (incident connector:xero, correlation id {CID})"]
    _span(eng, "xero", "ok", 0)
    for _ in range(4):
        await alerter.run()
    assert len(receiver.messages) == 2
    assert receiver.messages[1]["text"].startswith("[opsconsole resolved] Connector xero has stopped succeeding")
    assert "Resolved: connector xero succeeds again." in receiver.messages[1]["text"]
    for m in receiver.messages:
        _no_links(m)


async def test_a_receiver_that_is_down_is_retried_and_the_failure_recorded(store):
    url, eng = store
    port = free_port()
    hook = f"http://127.0.0.1:{port}/services/T0/B0/secret"
    settings = _settings(url, [hook], attempts=3, backoff_s=0.01)
    _exception(eng, age_s=2 * 3600, category="timeout")
    offset = [0.0]
    alerter = _alerter(settings, eng, clock=lambda: time.time() + offset[0])
    result = await alerter.run()
    assert result["failed"] == 1 and result["sent"] == 0
    (row,) = _incidents(eng)
    assert (row.delivery, row.attempts, row.alerted_at) == ("failed", 3, None)
    assert row.last_error == f"webhook {digest(hook)}: ConnectError" and "127.0.0.1" not in row.last_error
    assert row.next_attempt_at > time.time()
    await alerter.run()  # its backoff has not elapsed: not tried again yet
    assert _incidents(eng)[0].attempts == 3

    receiver = Receiver(port=port, statuses=[503])  # back, but answers 503 once
    try:
        offset[0] = 60.0
        for _ in range(3):
            await alerter.run()
        assert receiver.requests == 2 and len(receiver.messages) == 1
        assert CID in receiver.messages[0]["text"]
        (row,) = _incidents(eng)
        assert (row.delivery, row.attempts, row.last_error) == ("sent", 0, "")
    finally:
        receiver.close()


async def test_an_incident_resolved_before_its_alert_got_out_posts_the_alert_then_the_resolution(store):
    url, eng = store
    port = free_port()
    settings = _settings(url, [f"http://127.0.0.1:{port}/services/T0/B0/secret"], attempts=2)
    exc_id = _exception(eng, age_s=3 * 3600, category="rate_limit")
    offset = [0.0]
    alerter = _alerter(settings, eng, clock=lambda: time.time() + offset[0])
    await alerter.run()  # the receiver is down: the alert is recorded as failed
    with eng.begin() as c:
        c.execute(update(exceptions).where(exceptions.c.id == exc_id).values(state="resolved", resolution="fixed"))
    receiver = Receiver(port=port)
    try:
        offset[0] = 60.0
        for _ in range(3):
            await alerter.run()
        assert [t.split("]")[0] for t in receiver.texts()] == ["[opsconsole alert", "[opsconsole resolved"]
        assert f"Resolved: exception #{exc_id} is resolved." in receiver.texts()[1]
        (row,) = _incidents(eng)
        assert (row.state, row.delivery) == ("resolved", "sent")
    finally:
        receiver.close()


async def test_two_webhooks_a_retry_posts_only_to_the_one_that_missed_it(store, receiver):
    url, eng = store
    flaky = Receiver(statuses=[500, 500, 500])
    try:
        settings = _settings(url, [receiver.url, flaky.url], attempts=3)
        _exception(eng, age_s=5 * 3600, category="sequencing")
        offset = [0.0]
        alerter = _alerter(settings, eng, clock=lambda: time.time() + offset[0])
        await alerter.run()
        assert (len(receiver.messages), len(flaky.messages), flaky.requests) == (1, 0, 3)
        assert _incidents(eng)[0].delivered == [digest(receiver.url)]
        offset[0] = 60.0
        await alerter.run()
        assert (len(receiver.messages), len(flaky.messages)) == (1, 1)
    finally:
        flaky.close()


async def test_a_lost_lease_is_posted_by_the_loser_once_and_resolved_by_the_next_holder(store, receiver):
    url, eng = store
    settings = _settings(url, [receiver.url])
    lease = Lease(eng, "worker@a:1", ttl_s=10)
    assert lease.try_acquire()
    assert not await alert_if_lease_lost(settings, eng, lease, "stop requested")  # still ours: a plain stop
    with eng.begin() as c:  # another engine took it over
        c.execute(update(lease_table).values(holder="worker@b:2", fencing=2))
    assert await alert_if_lease_lost(settings, eng, lease, "lease 'engine' was taken over (our fencing number 1)")
    assert not await alert_if_lease_lost(settings, eng, lease, "again")  # one incident key: no second alert
    assert len(receiver.messages) == 1
    text = receiver.messages[0]["text"]
    assert text.startswith("[opsconsole alert] Engine worker@a:1 lost its lease (fencing 1; now held by worker@b:2 "
                           "(fencing 2)) and is stopping")
    assert re.search(r"correlation id [0-9a-f]{32}\)$", text)
    for _ in range(3):
        await _alerter(settings, eng, holder="worker@b:2").run()
    assert len(receiver.messages) == 2
    assert "Resolved: engine worker@b:2 holds the lease now." in receiver.messages[1]["text"]
    (row,) = _incidents(eng)
    assert (row.key, row.state, row.delivery) == (LEASE_KEY, "resolved", "sent")


# --- in the engine: the scheduled job, and the lease lost by a running engine ----------------------------
async def test_the_engine_alerts_on_a_breach_and_posts_its_own_lost_lease(tmp_path, sandboxes, receiver):
    from opsconsole.engine.app import Engine
    from tests.engine.conftest import make_settings, wait_for

    settings = make_settings(tmp_path, sandboxes, lease_ttl_s=1.5,
                             alerts=AlertSettings(webhooks=[receiver.url], check_s=0.2, backoff_s=0.01))
    engine = Engine(settings)
    assert await engine.start(wait_for_lease=False)
    try:
        now = time.time()
        await engine.writer.run(lambda c: c.execute(insert(exceptions).values(
            workflow="quote_to_order", business_key="Q-9", correlation_id=CID, category="auth", state="open",
            last_error="401", created_at=now - 3600, updated_at=now - 3600)))
        await wait_for(lambda: len(receiver.messages) >= 1, timeout=10)
        await asyncio.sleep(0.6)  # several more checks: still one message
        assert len(receiver.messages) == 1 and "Exception #1 (auth" in receiver.messages[0]["text"]
        with engine.write_engine.begin() as c:  # another process takes the lease over
            c.execute(update(lease_table).values(holder="worker@elsewhere:7", fencing=lease_table.c.fencing + 1,
                                                 expires_at=time.time() + 60))
        await asyncio.wait_for(engine.wait(), timeout=10)  # it notices and stops
    finally:
        await engine.stop(drain_s=1)
    assert len(receiver.messages) == 2
    assert receiver.messages[1]["text"].startswith(f"[opsconsole alert] Engine {engine.lease.holder or ''}")
    assert "lost its lease" in receiver.messages[1]["text"] and "worker@elsewhere:7" in receiver.messages[1]["text"]
    assert re.search(r"and is stopping: (lease 'engine' was taken over \(our fencing number 1\)|"
                     r"its fencing check failed)\. \(incident lease:engine, correlation id [0-9a-f]{32}\)$",
                     receiver.messages[1]["text"]), receiver.messages[1]["text"]
    for m in receiver.messages:
        _no_links(m)
