"""Sandbox state kept in a file (connectors.sandbox_state): exact round trips per vendor after a
realistic workload, behaviour after a restore (ids, Idempotency-Key replays, OAuth tokens), corrupt
files moved aside, and saves coalesced by the debounced saver."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import orjson
import pytest

from connectors.hubspot.sandbox import HubSpotSandbox
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox_state import (
    FORMAT, VERSION, DebouncedSaver, MarkDirty, decode, encode, load_state, restore, save_state, state_path,
)
from connectors.xero.sandbox import XeroSandbox
from connectors.xero.sandbox_identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from opsconsole.sandboxes import restore_states

HS_TOKEN, XERO_TOKEN, TENANT, IC_TOKEN = "hs-token", "xero-token", "tenant-1", "ic-token"
HS = {"Authorization": f"Bearer {HS_TOKEN}"}
XERO = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": TENANT, "Accept": "application/json"}
IC = {"Authorization": f"Bearer {IC_TOKEN}", "Intercom-Version": "2.14"}
LINES = [{"Description": "Platform subscription", "Quantity": 1, "UnitAmount": "12000.00", "TaxType": "OUTPUT"},
         {"Description": "Seats", "Quantity": 7, "UnitAmount": 240.5, "TaxType": "OUTPUT", "DiscountRate": 12.5}]


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


def through_file(vendor: str, state: dict) -> dict:
    """What a restart reads back: the state as written to the file and parsed again."""
    return decode(vendor, encode(vendor, state))


def assert_round_trip(vendor: str, sandbox, fresh) -> dict:
    saved = through_file(vendor, sandbox.export_state())
    assert saved == sandbox.export_state()  # JSON-friendly: nothing changed by the trip through the file
    fresh.import_state(saved)
    assert fresh.export_state() == saved  # exact: export -> import -> export
    assert through_file(vendor, fresh.export_state()) == saved
    return saved


# --- HubSpot ----------------------------------------------------------------------------------------------
async def hubspot_workload(sb: HubSpotSandbox) -> None:
    sb.seed(8, scenario=True)
    async with client(sb.app) as c:
        (await c.post("/_sandbox/webhooks", json={"target_url": "http://127.0.0.1:9/hooks", "retry_delays": []})
         ).raise_for_status()
        quotes = sorted(sb.store.objects["quotes"], key=int)
        (await c.post(f"/_sandbox/quotes/{quotes[0]}/approve")).raise_for_status()
        (await c.post("/_sandbox/approve", json={"ids": quotes[1:3], "deliver": False})).raise_for_status()
        company = sorted(sb.store.objects["companies"], key=int)[0]
        r = await c.patch(f"/crm/v3/objects/companies/{company}", headers=HS,
                          json={"properties": {"vat_number": "GB123456789", "financial_risk": "high"}})
        assert r.status_code == 200, r.text
        r = await c.post("/crm/v3/objects/companies/batch/upsert", headers=HS, json={"inputs": [
            {"idProperty": "external_id", "id": "ERP-1", "properties": {"name": "Upserted Ltd", "domain": "up.example"}}]})
        assert r.status_code == 200, r.text
        (await c.post("/_sandbox/bulk-quotes", json={"count": 3})).raise_for_status()
        await sb.webhooks.wait_idle(5)


async def test_hubspot_round_trip_is_exact_and_the_restored_crm_carries_on():
    sb = HubSpotSandbox(token=HS_TOKEN)
    await hubspot_workload(sb)
    fresh = HubSpotSandbox(token=HS_TOKEN)
    saved = assert_round_trip("hubspot", sb, fresh)
    assert saved["webhooks"]["target_url"] == "http://127.0.0.1:9/hooks"
    # the approval's delivery and the company PATCH's two propertyChange events (one delivery), both failed
    deliveries = saved["webhooks"]["deliveries"]
    assert [len(d["events"]) for d in deliveries] == [1, 2] and {d["state"] for d in deliveries} == {"failed"}
    assert fresh.scenario_ids() == sb.scenario_ids() and fresh.scenario_ids()["missing_tax"]
    async with client(sb.app) as old, client(fresh.app) as new:
        company = sorted(sb.store.objects["companies"], key=int)[0]
        path = f"/crm/v3/objects/companies/{company}?properties=vat_number,financial_risk&associations=quotes"
        assert (await new.get(path, headers=HS)).json() == (await old.get(path, headers=HS)).json()
        # the next ids, the seed's random stream and the event ids carry on where they were
        made_old = (await old.post("/_sandbox/bulk-quotes", json={"count": 2})).json()
        made_new = (await new.post("/_sandbox/bulk-quotes", json={"count": 2})).json()
        assert made_new == made_old
        assert sb.store.objects["companies"][made_old["company_ids"][0]]["properties"] == \
            fresh.store.objects["companies"][made_new["company_ids"][0]]["properties"]
        last_event = max(e["eventId"] for d in sb.webhooks.deliveries for e in d.events)
        quote = sorted(fresh.store.objects["quotes"], key=int)[-1]
        answer = (await new.post(f"/_sandbox/quotes/{quote}/approve", params={"deliver": "false"})).json()
        assert answer["event_ids"][0] > last_event
        await fresh.webhooks.wait_idle(5)


# --- Xero -------------------------------------------------------------------------------------------------
async def xero_oauth(c: httpx.AsyncClient) -> dict:
    r = await c.get("/identity-sandbox/authorize", params={"response_type": "code", "client_id": DEFAULT_CLIENT_ID,
                                                           "redirect_uri": "http://localhost/cb", "state": "s"})
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    r = await c.post("/connect/token", headers={"Authorization": f"Basic {basic}",
                                                "Content-Type": "application/x-www-form-urlencoded"},
                     content=f"grant_type=authorization_code&code={code}&redirect_uri=http://localhost/cb")
    assert r.status_code == 200, r.text
    return r.json()


def refresh_request(refresh_token: str) -> dict:
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    return {"headers": {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
            "content": f"grant_type=refresh_token&refresh_token={refresh_token}"}


async def xero_workload(sb: XeroSandbox) -> dict:
    api = "/api.xro/2.0"
    async with client(sb.app) as c:
        (await c.post("/_sandbox/webhooks", json={"target_url": "http://127.0.0.1:9/xero", "retry_delays": []})
         ).raise_for_status()
        r = await c.put(f"{api}/Contacts", headers={**XERO, "Idempotency-Key": "contact-1"},
                        json={"Contacts": [{"Name": "Ridgeway Outfitters", "ContactNumber": "C-1", "TaxNumber": "GB1"}]})
        assert r.status_code == 200, r.text
        contact = r.json()["Contacts"][0]
        ref = {"ContactID": contact["ContactID"]}
        assert (await c.put(f"{api}/Contacts", headers={**XERO, "Idempotency-Key": "contact-1"},
                            json={"Contacts": [{"Name": "Ridgeway Outfitters"}]})).json() == r.json()  # a replay
        bad = await c.put(f"{api}/Contacts", headers={**XERO, "Idempotency-Key": "contact-bad"},
                          json={"Contacts": [{"Name": ""}]})
        assert bad.status_code == 400
        r = await c.put(f"{api}/Quotes", headers={**XERO, "Idempotency-Key": "quote-1"},
                        json={"Quotes": [{"Contact": ref, "Date": "2025-01-06", "LineItems": LINES}]})
        assert r.status_code == 200, r.text
        r = await c.put(f"{api}/Invoices", headers={**XERO, "Idempotency-Key": "invoice-1"}, json={"Invoices": [
            {"Type": "ACCREC", "Contact": ref, "Date": "2025-01-06", "DueDate": "2025-02-05", "Status": "AUTHORISED",
             "LineItems": LINES}]})
        assert r.status_code == 200, r.text
        invoice = r.json()["Invoices"][0]
        r = await c.put(f"{api}/Payments", headers={**XERO, "Idempotency-Key": "payment-1"}, json={"Payments": [
            {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": "100.10",
             "Date": "2025-01-10"}]})
        assert r.status_code == 200, r.text
        r = await c.put(f"{api}/CreditNotes", headers={**XERO, "Idempotency-Key": "cn-1"}, json={"CreditNotes": [
            {"Type": "ACCRECCREDIT", "Contact": ref, "Status": "AUTHORISED", "LineItems": LINES[:1]}]})
        assert r.status_code == 200, r.text
        r = await c.put(f"{api}/RepeatingInvoices", headers={**XERO, "Idempotency-Key": "ri-1"}, json={
            "RepeatingInvoices": [{"Type": "ACCREC", "Contact": ref, "LineItems": LINES, "Schedule": {
                "Period": 1, "Unit": "MONTHLY", "DueDate": 20, "DueDateType": "OFFOLLOWINGMONTH",
                "StartDate": "2099-01-31"}}]})
        assert r.status_code == 200, r.text
        tokens = await xero_oauth(c)
        await sb.webhooks.wait_idle(5)
    return {"contact": contact, "tokens": tokens}


async def test_xero_round_trip_is_exact_and_replays_survive_it():
    sb = XeroSandbox(token=XERO_TOKEN, tenant_id=TENANT)
    made = await xero_workload(sb)
    fresh = XeroSandbox(token=XERO_TOKEN, tenant_id=TENANT)
    saved = assert_round_trip("xero", sb, fresh)
    assert {len(b["records"]) for b in saved["books"].values()} == {1}
    assert len(saved["idempotency"]) == 7 and saved["writes_received"] == 8 and saved["replays"] == 1
    assert saved["webhooks"]["target_url"] == "http://127.0.0.1:9/xero" and saved["webhooks"]["deliveries"]
    api = "/api.xro/2.0"
    async with client(fresh.app) as c:
        # the same Idempotency-Key replays the original answer: the same contact, not a second one
        again = await c.put(f"{api}/Contacts", headers={**XERO, "Idempotency-Key": "contact-1"},
                            json={"Contacts": [{"Name": "Ridgeway Outfitters"}]})
        assert again.status_code == 200
        assert again.json()["Contacts"][0]["ContactID"] == made["contact"]["ContactID"]
        assert len((await c.get(f"{api}/Contacts", headers=XERO)).json()["Contacts"]) == 1
        assert fresh.replays == 2
        # so does a stored refusal
        assert (await c.put(f"{api}/Contacts", headers={**XERO, "Idempotency-Key": "contact-bad"},
                            json={"Contacts": [{"Name": "now valid"}]})).status_code == 400
        # the write log's seq carries on (a poller's `since` never goes backwards)
        writes = (await c.get("/_sandbox/writes", params={"since": 8})).json()
        assert [w["seq"] for w in writes] == [9, 10] and all(w["replayed"] for w in writes)
        # numbering carries on
        r = await c.put(f"{api}/Invoices", headers=XERO, json={"Invoices": [
            {"Type": "ACCREC", "Contact": {"ContactID": made["contact"]["ContactID"]}, "LineItems": LINES}]})
        assert r.json()["Invoices"][0]["InvoiceNumber"] == "INV-0002"
        # OAuth: the access token still works and the refresh token rotates once, as before the restart
        access = {"Authorization": f"Bearer {made['tokens']['access_token']}"}
        assert (await c.get("/connections", headers=access)).json()[0]["tenantId"] == TENANT
        assert (await c.get(f"{api}/Contacts", headers={**access, "xero-tenant-id": TENANT})).status_code == 200
        first = await c.post("/connect/token", **refresh_request(made["tokens"]["refresh_token"]))
        assert first.status_code == 200 and first.json()["refresh_token"] != made["tokens"]["refresh_token"]
        reused = await c.post("/connect/token", **refresh_request(made["tokens"]["refresh_token"]))
        assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}
        await fresh.webhooks.wait_idle(5)


async def test_xero_state_of_another_tenant_is_refused():
    sb = XeroSandbox(token=XERO_TOKEN, tenant_id=TENANT)
    with pytest.raises(ValueError, match="tenant"):
        XeroSandbox(token=XERO_TOKEN, tenant_id="other").import_state(through_file("xero", sb.export_state()))


# --- Intercom ---------------------------------------------------------------------------------------------
async def intercom_workload(sb: IntercomSandbox) -> None:
    sb.seed()
    async with client(sb.app) as c:
        r = await c.post("/companies", headers=IC, json={"company_id": "ACME-1", "name": "Acme", "plan": "Growth",
                                                         "custom_attributes": {"health_score": 71, "risk": "low"}})
        assert r.status_code == 200, r.text
        company = r.json()
        r = await c.post("/contacts", headers=IC, json={"email": "ap@acme.example", "external_id": "u-1",
                                                        "custom_attributes": {"renewal": "2026-01-01"}})
        assert r.status_code == 200, r.text
        r = await c.post("/events", headers=IC, json={"event_name": "invoice-paid", "created_at": 1_736_154_000,
                                                      "user_id": "u-1", "metadata": {"amount": 12.5, "currency": "EUR"}})
        assert r.status_code == 202
        r = await c.post("/tickets", headers=IC, json={"ticket_type_id": "1", "contacts": [{"email": "new@acme.example"}],
                                                       "company_id": company["id"],
                                                       "ticket_attributes": {"_default_title_": "Onboard Acme"}})
        assert r.status_code == 200, r.text
        r = await c.post("/tags", headers=IC, json={"name": "At risk", "companies": [{"company_id": "ACME-1"}]})
        assert r.status_code == 200, r.text


async def test_intercom_round_trip_is_exact_and_the_workspace_carries_on():
    sb = IntercomSandbox(token=IC_TOKEN)
    await intercom_workload(sb)
    fresh = IntercomSandbox(token=IC_TOKEN)
    saved = assert_round_trip("intercom", sb, fresh)
    assert {k: len(v) for k, v in saved.items() if k not in ("ticket_seq", "webhooks")} == {
        "companies": 3, "company_ids": 3, "contacts": 2, "events": 1, "tickets": 1, "tags": 1}
    # the notifications the API's changes raised (no subscription endpoint: kept, not sent)
    assert [(d["notification"]["topic"], d["state"]) for d in saved["webhooks"]["deliveries"]] == [
        ("company.created", "no_target"), ("contact.user.created", "no_target"), ("event.created", "no_target"),
        ("contact.user.created", "no_target"), ("ticket.created", "no_target")]
    async with client(fresh.app) as c:
        found = (await c.get("/companies", headers=IC, params={"company_id": "ACME-1"})).json()["data"][0]
        assert found["tags"]["tags"][0]["name"] == "At risk" and found["custom_attributes"]["health_score"] == 71
        again = await c.post("/companies", headers=IC, json={"company_id": "ACME-1", "plan": "Growth"})
        assert again.json()["id"] == found["id"] and again.json()["plan"] == found["plan"]  # stable plan id
        assert (await c.post("/contacts", headers=IC, json={"email": "ap@acme.example"})).status_code == 409
        r = await c.post("/tickets", headers=IC, json={"ticket_type_id": "2", "contacts": [{"external_id": "u-1"}]})
        assert r.json()["ticket_id"] == "2"


# --- files: atomic writes, corrupt files ------------------------------------------------------------------
def test_saved_file_names_format_version_and_vendor(tmp_path):
    sb = IntercomSandbox()
    sb.seed()
    path = state_path(tmp_path, "intercom")
    save_state(path, "intercom", sb.export_state())
    doc = orjson.loads(path.read_bytes())
    assert (doc["format"], doc["version"], doc["vendor"]) == (FORMAT, VERSION, "intercom")
    assert load_state(path, "intercom") == sb.export_state()
    assert [p.name for p in tmp_path.iterdir()] == ["intercom.json"]  # no temporary file left behind


def _corrupt(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


@pytest.mark.parametrize("content, reason", [
    (b'{"format": "opsconsole-sandbox-state", "version": 1, "vendor": "xero", "state": {"boo', "not valid JSON"),
    (b"\x00\xff garbage", "not valid JSON"),
    (b'{"hello": "world"}', "not a sandbox state file"),
    (b'{"format": "opsconsole-sandbox-state", "version": 99, "vendor": "xero", "state": {}}', "format version 99"),
    (b'{"format": "opsconsole-sandbox-state", "version": 1, "vendor": "hubspot", "state": {}}', "'hubspot' sandbox"),
    (b'{"format": "opsconsole-sandbox-state", "version": 1, "vendor": "xero", "state": {"books": 5}}',
     "does not fit the xero sandbox"),
])
def test_an_unusable_file_is_moved_aside_and_the_sandbox_starts_fresh(tmp_path, content, reason):
    path = state_path(tmp_path, "xero")
    _corrupt(path, content)
    messages: list[str] = []
    sandbox, restored = restore(path, "xero", lambda: XeroSandbox(tenant_id=TENANT), announce=messages.append)
    assert restored is False
    assert sandbox.export_state()["books"]["Contacts"]["records"] == {} and sandbox.writes_received == 0
    assert not path.exists()
    aside = list(tmp_path.glob("xero.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert len(messages) == 1 and str(path) in messages[0] and str(aside[0]) in messages[0]
    assert reason in messages[0] and "fresh" in messages[0]


def test_a_missing_file_means_a_fresh_sandbox_and_nothing_moved(tmp_path):
    (tmp_path / ".hubspot.json.4242.1.tmp").write_bytes(b'{"format": "opsc')  # a crash in the middle of a save
    messages: list[str] = []
    sandbox, restored = restore(state_path(tmp_path, "hubspot"), "hubspot", HubSpotSandbox, announce=messages.append)
    assert restored is False and messages == [] and list(tmp_path.iterdir()) == []
    assert sandbox.store.objects["companies"] == {}


def test_serve_restores_what_it_can_and_seeds_the_rest(tmp_path, capsys):
    good = HubSpotSandbox()
    good.seed(3, scenario=False)
    save_state(state_path(tmp_path, "hubspot"), "hubspot", good.export_state())
    _corrupt(state_path(tmp_path, "xero"), b"{not json")
    # a file that parses but does not fit: the half-imported sandbox is replaced by a new one
    _corrupt(state_path(tmp_path, "intercom"), encode("intercom", {"companies": [], "ticket_seq": 1}))
    sandboxes = {"hubspot": HubSpotSandbox(), "xero": XeroSandbox(), "intercom": IntercomSandbox()}
    rebuilt = []
    restored = restore_states(sandboxes, tmp_path, lambda name: rebuilt.append(name) or IntercomSandbox())
    assert restored == {"hubspot"} and rebuilt == ["intercom"]
    assert sandboxes["hubspot"].export_state() == good.export_state()
    err = capsys.readouterr().err
    assert "xero.json is unusable: not valid JSON" in err and "intercom.json is unusable" in err
    assert list(tmp_path.glob("intercom.json.corrupt-*")) and list(tmp_path.glob("xero.json.corrupt-*"))
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["hubspot.json"]


# --- the debounced saver ----------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_many_changes_make_one_save_per_delay(tmp_path):
    clock, exports = Clock(), []
    saver = DebouncedSaver(tmp_path / "x.json", "xero", lambda: exports.append(1) or {"n": len(exports)},
                           delay=0.5, clock=clock)
    assert saver.tick() is False and saver.saves == 0  # nothing changed, nothing saved
    for _ in range(5000):
        saver.mark_dirty()
    for t in (0.1, 0.2, 0.49):
        clock.now = 100 + t
        saver.mark_dirty()
        assert saver.tick() is False
    clock.now = 100.5
    assert saver.tick() is True and saver.saves == 1 and len(exports) == 1
    assert saver.tick() is False
    clock.now = 101.0
    saver.mark_dirty()
    clock.now = 101.4
    assert saver.tick() is False
    clock.now = 101.5
    assert saver.tick() is True and saver.saves == 2
    assert load_state(tmp_path / "x.json", "xero") == {"n": 2}


async def test_requests_are_saved_coalesced_off_the_request_path_and_on_close(tmp_path):
    sb = XeroSandbox(token=XERO_TOKEN, tenant_id=TENANT)
    path = state_path(tmp_path, "xero")
    saver = DebouncedSaver(path, "xero", sb.export_state, delay=0.2)
    saver.start()
    async with client(MarkDirty(sb.app, saver.mark_dirty)) as c:
        for i in range(200):
            r = await c.put("/api.xro/2.0/Contacts", headers={**XERO, "Idempotency-Key": f"k-{i}"},
                            json={"Contacts": [{"Name": f"Customer {i}"}]})
            assert r.status_code == 200
        await asyncio.sleep(0.3)
        mid = saver.saves
        assert 1 <= mid <= 10  # 200 writes, a handful of saves
        for _ in range(20):  # reads change nothing: no save for them
            await c.get("/api.xro/2.0/Contacts", headers=XERO)
            await c.post("/_sandbox/webhooks/intent", json={})
        assert saver.dirty is True  # the intent probe is a POST: counted as a change (harmless)
        await saver.close()
    assert saver.saves == mid + 1 and not saver.dirty
    restored, ok = restore(path, "xero", lambda: XeroSandbox(token=XERO_TOKEN, tenant_id=TENANT))
    assert ok and len(restored.contacts.records) == 200 and len(restored._idempotency) == 200


async def test_reads_do_not_mark_dirty():
    marks = []
    sb = HubSpotSandbox(token=HS_TOKEN)
    sb.seed(2, scenario=False)
    async with client(MarkDirty(sb.app, lambda: marks.append(1))) as c:
        await c.get("/crm/v3/objects/companies", headers=HS)
        await c.post("/crm/v3/objects/companies/search", headers=HS, json={"filterGroups": []})
        await c.post("/crm/v3/objects/companies/batch/read", headers=HS, json={"inputs": [{"id": "1"}]})
        assert marks == []
        company = next(iter(sb.store.objects["companies"]))
        await c.patch(f"/crm/v3/objects/companies/{company}", headers=HS, json={"properties": {"name": "X"}})
        assert marks == [1]


async def test_a_failed_write_is_retried_not_lost(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    saver = DebouncedSaver(blocker / "x.json", "xero", lambda: {"n": 1}, delay=0.01)
    saver.mark_dirty()
    assert saver.flush() is False and saver.errors == 1 and saver.dirty


# --- the demo: fresh vs carried on --------------------------------------------------------------------------
def test_a_fresh_demo_forgets_the_sandboxes_state_and_console_resumes_only_a_whole_demo(tmp_path):
    from opsconsole.demo import DEMO_DB, can_resume, fresh_store, sandbox_state_dir

    state = sandbox_state_dir(tmp_path)
    assert state == tmp_path / "sandboxes"
    state.mkdir()
    for name in ("hubspot", "xero"):
        (state / f"{name}.json").write_text("{}")
    assert not can_resume(tmp_path)  # sandboxes' state without its store
    (tmp_path / DEMO_DB).write_text("")
    assert can_resume(tmp_path)
    (state / "xero.json").unlink()
    assert not can_resume(tmp_path)  # a store whose ERP records are gone
    fresh_store(tmp_path)
    assert not state.exists() and not (tmp_path / DEMO_DB).exists()


def test_a_resumed_demo_driver_repoints_webhooks_and_approves_only_what_is_left():
    import time

    from connectors.sandbox import serve_in_thread
    from opsconsole.demo import DemoDriver, load_scenario
    from opsconsole.sandboxes import HUBSPOT_TOKEN as TOKEN, SandboxInfo

    sb = HubSpotSandbox(token=TOKEN)
    sb.seed(6, scenario=True)
    sb.webhooks.retry_delays = []
    quotes = sorted(sb.store.objects["quotes"], key=int)
    for qid in quotes[:4]:
        sb.store.update("quotes", qid, {"hs_status": "APPROVED"}, at_ms=1)
    server, thread, url = serve_in_thread(sb.app)
    try:
        plan = load_scenario()
        plan["steady"].update(every_s=0.01, batch=2)
        driver = DemoDriver(SandboxInfo(url, "", 0, sb.scenario_ids(), "demo"), "http://127.0.0.1:9", plan,
                            resume=True).start()
        deadline = time.monotonic() + 10
        while driver._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        driver.close()
        assert sb.target_url == "http://127.0.0.1:9/webhooks/hubspot"
        assert driver.log[0] == f"resumed: {len(quotes) - 4} quotes still to approve"
        assert all(sb.store.objects["quotes"][q]["properties"]["hs_status"] == "APPROVED" for q in quotes)
        assert sum(len(d.events) for d in sb.webhooks.deliveries) == len(quotes) - 4  # no opening, no storm
    finally:
        server.should_exit = True
        thread.join(timeout=5)
