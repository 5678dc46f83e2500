"""One engine per store: the lease moves to a second worker when the first dies, and a worker
that lost the lease can never commit again."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import httpx
import pytest

from connectors.webhooks import sign_hubspot_v3
from opsconsole.sandboxes import HUBSPOT_SECRET
from tests.e2e.procs import SandboxProcess, WorkerProcess, free_port, wait_until, worker_env

pytestmark = pytest.mark.slow


def _lease(db) -> tuple[str, int, float]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select holder, fencing, expires_at from lease where name='engine'").fetchone()


def _signed_post(url: str, event_id: int, quote_id: str) -> int:
    body = (f'[{{"eventId": {event_id}, "subscriptionType": "object.propertyChange", "objectId": {quote_id}, '
            f'"objectTypeId": "0-14", "propertyName": "hs_status", "propertyValue": "APPROVED", "occurredAt": 1}}]').encode()
    ts = int(time.time() * 1000)
    try:
        return httpx.post(url, content=body, timeout=5, headers={
            "X-HubSpot-Signature-v3": sign_hubspot_v3(HUBSPOT_SECRET, "POST", url, body, ts),
            "X-HubSpot-Request-Timestamp": str(ts), "Content-Type": "application/json"}).status_code
    except httpx.TransportError:
        return 0  # the old worker already shut its ingress


def _freeze_between_transactions(pid: int, db) -> None:
    """SIGSTOP the worker at a moment it holds no write lock. Frozen inside a transaction it would
    keep SQLite's lock and nobody could take over until it thaws (the successor then waits, see
    test_a_store_locked_by_a_frozen_writer_is_not_acquired_yet); this test is about the other case."""
    for _ in range(200):
        os.kill(pid, signal.SIGSTOP)
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.02)
        finally:
            probe.close()
    raise AssertionError("the worker never left its write transaction")


@pytest.fixture
def sandbox(tmp_path):
    sb = SandboxProcess(tmp_path / "sandboxes", companies=6, scenario=False)
    yield sb
    sb.close()


def test_second_worker_takes_over_after_the_first_is_killed(tmp_path, sandbox):
    db = tmp_path / "store.db"
    port_a, port_b = free_port(), free_port()
    common = {"OPSCONSOLE_LEASE_TTL_S": "3"}  # renewed every second: a busy machine must not look like a death
    a = WorkerProcess(tmp_path, worker_env(tmp_path, sandbox.info, ingress_port=port_a, **common), name="a")
    assert a.wait_running(), a.output()[-3000:]
    holder_a, fencing_a, _ = _lease(db)
    b = WorkerProcess(tmp_path, worker_env(tmp_path, sandbox.info, ingress_port=port_b, **common), name="b")
    time.sleep(2.5)
    assert "engine running" not in b.output(), "b must wait while a holds the lease"
    assert _lease(db)[0] == holder_a
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait()
    assert b.wait_running(15), b.output()[-3000:]
    holder_b, fencing_b, _ = _lease(db)
    assert holder_b != holder_a and fencing_b == fencing_a + 1
    # b does the work now
    quote = sandbox.quote_ids()[0]
    sandbox.webhooks(target_url=f"http://127.0.0.1:{port_b}/webhooks/hubspot")
    sandbox.approve([quote])
    wait_until(lambda: sandbox.xero_state()["counts"]["invoices"] == 1, 15, message="b created the invoice")
    assert b.stop() == 0
    assert "engine stopped: signal SIGTERM" in b.output()
    assert "Traceback" not in b.output() and "Task was destroyed" not in b.output()
    # a clean stop releases the lease at once
    assert _lease(db)[2] == 0.0


def test_a_worker_that_lost_the_lease_cannot_commit(tmp_path, sandbox):
    db = tmp_path / "store.db"
    port_a, port_b = free_port(), free_port()
    common = {"OPSCONSOLE_LEASE_TTL_S": "1.0"}
    a = WorkerProcess(tmp_path, worker_env(tmp_path, sandbox.info, ingress_port=port_a, **common), name="a")
    assert a.wait_running(), a.output()[-3000:]
    fencing_a = _lease(db)[1]
    _freeze_between_transactions(a.proc.pid, db)  # a "pause": a GC stall, a frozen VM
    try:
        b = WorkerProcess(tmp_path, worker_env(tmp_path, sandbox.info, ingress_port=port_b, **common), name="b")
        assert b.wait_running(15), b.output()[-3000:]
        assert _lease(db)[1] == fencing_a + 1
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    # a still believes it holds the lease for a moment: whatever it tries to commit is refused
    status = _signed_post(f"http://127.0.0.1:{port_a}/webhooks/hubspot", 990001, sandbox.quote_ids()[1])
    assert status in (0, 503)
    a.proc.wait(15)
    assert "engine stopped" in a.output() and ("fencing" in a.output() or "taken over" in a.output())
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from inbox where event_key='990001'").fetchone()[0] == 0
    # b is unaffected and accepts the same event
    assert _signed_post(f"http://127.0.0.1:{port_b}/webhooks/hubspot", 990001, sandbox.quote_ids()[1]) == 200
    assert b.stop() == 0


def _run_states(db) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select status, current_step from runs where workflow='quote_to_order'").fetchall()


def test_sigterm_drains_the_steps_in_flight_and_releases_the_lease(tmp_path, sandbox):
    """systemd stops the worker with SIGTERM (docs/ops.md): the ingress closes, the runs in flight finish
    their steps (within the drain time), the writer commits them, and the lease is released at once."""
    db = tmp_path / "store.db"
    port = free_port()
    w = WorkerProcess(tmp_path, worker_env(tmp_path, sandbox.info, ingress_port=port, OPSCONSOLE_LEASE_TTL_S="3"),
                      name="w")
    assert w.wait_running(), w.output()[-3000:]
    # every ERP answer late: the run is still in the middle of its steps when SIGTERM comes
    sandbox.http.post(f"{sandbox.info.xero_url}/_sandbox/faults", json={"profile": "slow", "delay": 0.5}).raise_for_status()
    sandbox.webhooks(target_url=f"http://127.0.0.1:{port}/webhooks/hubspot")
    sandbox.approve([sandbox.quote_ids()[0]])
    wait_until(lambda: any(status == "running" for status, _ in _run_states(db)), 15, 0.05, message="a run in flight")
    assert sandbox.xero_state()["counts"]["invoices"] == 0  # not done yet: the invoice is its last ERP write
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(20) == 0, w.output()[-3000:]
    assert "engine stopped: signal SIGTERM" in w.output() and "Traceback" not in w.output()
    # drained: the run in flight went on to the end; nothing was left half done
    assert sandbox.xero_state()["counts"]["invoices"] == 1
    assert [status for status, _ in _run_states(db)] == ["succeeded"], _run_states(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from steps where status not in ('succeeded', 'skipped')").fetchone()[0] == 0
    assert _lease(db)[2] == 0.0  # released: a successor need not wait for the TTL
