"""The crash test: SIGKILL at named fault points, restart, and nothing is lost or done twice.

Fault points: after the inbox write and before the 200; after the target confirmed a write and
before the step is marked done; inside a group commit. The worker kills itself there (a test-only
setting gives each point a probability); the test restarts it each time, with the HubSpot sandbox
redelivering unacknowledged webhooks as HubSpot does.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter

import pytest

from opsconsole.engine.faultpoints import POINTS
from tests.e2e.procs import SandboxProcess, WorkerProcess, free_port, worker_env

pytestmark = pytest.mark.slow

MIN_KILLS = 20
QUOTES = 24


def _store_counts(db) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        succeeded = conn.execute("select count(*) from runs where status='succeeded'").fetchone()[0]
        total = conn.execute("select count(*) from runs").fetchone()[0]
    return succeeded, total


def test_kill_nine_at_every_fault_point_loses_nothing_and_duplicates_nothing(tmp_path):
    sb = SandboxProcess(tmp_path / "sandboxes", companies=QUOTES, scenario=False)
    crash_log = tmp_path / "crashes.log"
    port = free_port()
    probabilities = {"after_inbox_write": 0.12, "after_target_confirmed": 0.03, "in_group_commit": 0.03}
    env = worker_env(tmp_path, sb.info, ingress_port=port,
                     OPSCONSOLE_CRASH_POINTS=json.dumps(probabilities), OPSCONSOLE_CRASH_LOG=str(crash_log),
                     OPSCONSOLE_LEASE_TTL_S="1.0", OPSCONSOLE_SCHEDULE__HUBSPOT_POLL_S="2",
                     OPSCONSOLE_SCHEDULE__RETRY_SWEEP_S="0.5", OPSCONSOLE_RETRY__BASE_DELAY_S="0.05")
    sb.webhooks(target_url=f"http://127.0.0.1:{port}/webhooks/hubspot", retry_delays=[0.3] * 200)
    approved = sb.quote_ids()
    sb.approve(approved)
    db = tmp_path / "store.db"
    kills = 0
    starts = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            hits = Counter(crash_log.read_text().split()) if crash_log.exists() else Counter()
            enough = kills >= MIN_KILLS and all(hits[p] >= 1 for p in POINTS)
            if enough:
                break
            if starts:  # fresh webhooks for every incarnation, so the inbox fault point keeps being reached
                more = sb.http.post(f"{sb.info.hubspot_url}/_sandbox/bulk-quotes", json={"count": 3}).json()
                sb.approve(more["quote_ids"])
                approved += more["quote_ids"]
            worker = WorkerProcess(tmp_path, env, name=f"worker{starts}")
            starts += 1
            worker.wait_running(30)
            # let it work until it kills itself; if it finishes the work first, bring more quotes
            while worker.proc.poll() is None and time.monotonic() < deadline:
                if db.exists() and _store_counts(db)[0] >= len(approved):
                    more = sb.http.post(f"{sb.info.hubspot_url}/_sandbox/bulk-quotes", json={"count": 8}).json()
                    sb.approve(more["quote_ids"])
                    approved += more["quote_ids"]
                time.sleep(0.1)
            if worker.killed:
                kills += 1
            else:
                pytest.fail(f"worker exited without a kill: {worker.output()[-2000:]}")
            worker.stop()
        hits = Counter(crash_log.read_text().split())
        assert kills >= MIN_KILLS, f"only {kills} kills before the deadline"
        assert all(hits[p] >= 1 for p in POINTS), f"fault points hit: {dict(hits)}"
        assert sum(hits.values()) == kills
        # a final worker without faults finishes whatever is left
        final_env = {k: v for k, v in env.items() if k != "OPSCONSOLE_CRASH_POINTS"}
        final = WorkerProcess(tmp_path, final_env, name="final")
        assert final.wait_running(30)
        end = time.monotonic() + 60
        while _store_counts(db)[0] < len(approved) and time.monotonic() < end:
            time.sleep(0.2)
        # the HubSpot poll may finish a quote's run before its webhook's redelivery gets through: the
        # CRM has sent everything only once no delivery is still pending (retried every 0.3 s)
        while any(d["state"] == "pending" for d in sb.deliveries()) and time.monotonic() < end:
            time.sleep(0.2)
        assert final.stop() == 0
    finally:
        sb_state = sb.xero_state()
        contacts = sb.xero_records("Contacts")
        quotes = sb.xero_records("Quotes")
        invoices = sb.xero_records("Invoices")
        deliveries = sb.deliveries()
        sb.close()
    n = len(approved)
    assert _store_counts(db) == (n, n), "every approved quote has exactly one run, succeeded"
    # exactly one contact, sales order and invoice per approved quote in the ERP
    with sqlite3.connect(db) as conn:
        shared = conn.execute("select canonical_id, group_concat(external_id) from xrefs where system='hubspot' "
                              "group by canonical_id having count(*) > 1").fetchall()
        matched = conn.execute("select json_extract(response, '$.matched_by'), count(*) from steps "
                               "where name='validate' group by 1").fetchall()
    assert (len(contacts), len(quotes), len(invoices)) == (n, n, n), (sb_state, shared, matched)
    assert len({c["Name"] for c in contacts}) == n
    assert len({q["Reference"] for q in quotes}) == n
    assert {q["Status"] for q in quotes} == {"ACCEPTED"}
    assert len({(i["Contact"]["ContactID"], i["Reference"]) for i in invoices}) == n
    # every event the CRM sent is in the inbox exactly once
    sent_ids = {str(e) for d in deliveries for e in d["event_ids"]}
    with sqlite3.connect(db) as conn:
        keys = [r[0] for r in conn.execute("select event_key from inbox where source='hubspot' and event_key not like 'poll:%'")]
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from exceptions where state in ('open','acknowledged')").fetchone()[0] == 0
        customers = conn.execute("select count(*) from customers").fetchone()[0]
        contact_xrefs = conn.execute("select count(*) from xrefs where system='xero' and object_type='contact'").fetchone()[0]
    assert customers == n and contact_xrefs == n
    assert len(keys) == len(set(keys))
    unrecorded = [{**d, "attempts": d["attempts"][-3:]} for d in deliveries
                  if any(str(e) not in set(keys) for e in d["event_ids"])]
    assert set(keys) == sent_ids, unrecorded
