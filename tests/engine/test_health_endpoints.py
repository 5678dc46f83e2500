"""The ingress's GET /healthz and GET /metrics on a running engine (opsconsole/health.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from opsconsole import health
from opsconsole.store.tables import runs
from tests.engine.conftest import q, wait_for


@pytest.fixture(autouse=True)
def _no_lag(monkeypatch):
    monkeypatch.setattr(health, "LAG_S", 0.05)  # count a run the moment it finished


async def test_healthz_reports_the_lease_last_successes_queue_and_exceptions(engine, sandboxes):
    async with httpx.AsyncClient() as http:
        before = (await http.get(f"{engine.ingress_url}/healthz")).json()
        assert before["healthy"] is True and before["status"] == "healthy" and before["problems"] == []
        assert before["lease"]["holder"] == engine.lease.holder and before["lease"]["alive"] is True
        assert before["lease"]["fencing"] == engine.lease.fencing and before["lease"]["kind"] == "worker"
        assert before["last_success"]["quote_to_order"] == {"at": None, "age_s": None}
        assert before["queue"] == {"pending": 0, "waiting": 0, "running": 0, "depth": 0}
        assert before["oldest_open_exception"] is None and before["exceptions_past_sla"] == {}
        assert "ingress" in before and "writer" in before  # what it reported before stays

        sandboxes.approve(sandboxes.quote_ids()[4])
        await wait_for(lambda: q(engine, runs.select().where(runs.c.workflow == "quote_to_order",
                                                             runs.c.status == "succeeded")))
        after = (await http.get(f"{engine.ingress_url}/healthz")).json()
    finished = q(engine, runs.select().where(runs.c.workflow == "quote_to_order"))[0].finished_at
    assert after["last_success"]["quote_to_order"]["at"] == finished


async def test_metrics_is_prometheus_text_read_from_the_store(engine, sandboxes):
    async with httpx.AsyncClient() as http:
        first = await http.get(f"{engine.ingress_url}/metrics")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "opsconsole_lease_alive 1.0" in first.text.splitlines()
        assert "opsconsole_oldest_open_exception_age_seconds 0.0" in first.text.splitlines()
        assert 'opsconsole_runs_finished_total{status="succeeded",workflow="quote_to_order"} 0.0' in first.text

        sandboxes.approve(sandboxes.quote_ids()[4])
        await wait_for(lambda: q(engine, runs.select().where(runs.c.workflow == "quote_to_order",
                                                             runs.c.status == "succeeded")))
        await asyncio.sleep(0.1)  # past the counters' lag
        lines = (await http.get(f"{engine.ingress_url}/metrics")).text.splitlines()
    assert 'opsconsole_runs_finished_total{status="succeeded",workflow="quote_to_order"} 1.0' in lines
    assert 'opsconsole_runs_queued{status="pending"} 0.0' in lines
    assert any(line.startswith('opsconsole_last_success_timestamp_seconds{workflow="quote_to_order"}') for line in lines)
