"""The HubSpot sandbox's backdated approval (a sandbox control the demo's lifecycle act uses)."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx

from connectors.hubspot.sandbox import HubSpotSandbox
from connectors.sandbox import serve_in_thread
from connectors.xero.delivery import XeroWebhookDispatcher
from opsconsole.demo import DEMO_WORKFLOWS, demo_settings, load_scenario
from opsconsole.sandboxes import HUBSPOT_TOKEN, INTERCOM_SECRET, XERO_WEBHOOK_KEY, SandboxInfo


def test_a_quote_approved_at_a_given_time_carries_it_in_the_record_and_the_event():
    sb = HubSpotSandbox(token=HUBSPOT_TOKEN)
    sb.seed(3, scenario=False)
    q1, q2, q3 = sorted(sb.store.objects["quotes"], key=int)
    server, thread, url = serve_in_thread(sb.app)
    try:
        with httpx.Client(timeout=10) as http:
            r = http.post(f"{url}/_sandbox/quotes/{q1}/approve", params={"at": "2026-10-21T09:30:00Z", "deliver": "false"})
            assert r.status_code == 200, r.text
            assert r.json()["quote"]["properties"]["hs_lastmodifieddate"].startswith("2026-10-21T09:30:00")
            at_ms = int(datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp() * 1000)
            r = http.post(f"{url}/_sandbox/quotes/{q2}/approve", params={"at": str(at_ms), "deliver": "false"})
            assert r.json()["quote"]["properties"]["hs_lastmodifieddate"].startswith("2026-10-01T00:00:00")
            r = http.post(f"{url}/_sandbox/quotes/{q3}/approve", params={"at": "last tuesday"})
            assert r.status_code == 400 and "ISO 8601" in r.json()["error"]
            assert sb.store.objects["quotes"][q3]["properties"]["hs_status"] != "APPROVED"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
    [event] = sb.set_status(q3, "APPROVED", deliver=False, at=at_ms)
    assert event["occurredAt"] == at_ms


def test_the_demo_connects_all_three_vendors_on_a_short_schedule(tmp_path):
    info = SandboxInfo("http://127.0.0.1:1", "http://127.0.0.1:2", 0, {}, "demo", "http://127.0.0.1:3")
    s = demo_settings(tmp_path, info)
    assert (s.intercom.base_url, s.intercom.webhook_secret) == ("http://127.0.0.1:3", INTERCOM_SECRET)
    assert s.xero.webhook_secret == XERO_WEBHOOK_KEY == XeroWebhookDispatcher(tenant_id="t").key  # the sandbox's key
    assert s.workflows == DEMO_WORKFLOWS and s.schedule.receivables_s == 60
    assert demo_settings(tmp_path, SandboxInfo("", "", 0, {}, "demo")).intercom.base_url == ""  # an older demo
    assert load_scenario()["lifecycle"]["awaiting_approval"] == 2
