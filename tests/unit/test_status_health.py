"""`opsconsole status` and the health report behind it (opsconsole/health.py): exact values on a
seeded store, exit codes, index-only query plans, and the Prometheus exposition."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import event, insert, text, update

from opsconsole import health
from opsconsole.cli import main
from opsconsole.settings import load_settings
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import exceptions, lease, runs, steps

NOW = 1_800_000_000.0
WORKFLOWS = ["invoice_feedback", "quote_to_order"]


def _run(c, workflow: str, status: str, *, finished: float | None = None, updated: float = NOW - 10) -> int:
    return c.execute(insert(runs).values(
        workflow=workflow, business_key=f"k{updated}{status}", correlation_id="c" * 32, status=status,
        created_at=updated - 5, updated_at=updated, finished_at=finished, context={})).inserted_primary_key[0]


def _exc(c, category: str, state: str, age_s: float, *, run_id: int | None = None, workflow: str = "quote_to_order") -> int:
    return c.execute(insert(exceptions).values(
        workflow=workflow, category=category, state=state, last_error="boom", run_id=run_id,
        created_at=NOW - age_s, updated_at=NOW - age_s)).inserted_primary_key[0]


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    eng = make_engine(url, write=True)
    with eng.begin() as c:
        c.execute(insert(lease).values(name="engine", holder="worker@host:41", fencing=3, expires_at=NOW + 5,
                                       acquired_at=NOW - 600, info={"kind": "worker"}))
        r1 = _run(c, "quote_to_order", "succeeded", finished=NOW - 100, updated=NOW - 100)
        _run(c, "quote_to_order", "succeeded", finished=NOW - 50, updated=NOW - 50)
        failed = _run(c, "quote_to_order", "failed")
        _run(c, "invoice_feedback", "succeeded", finished=NOW - 3600, updated=NOW - 3600)
        for status in ("pending", "pending", "waiting", "running"):
            _run(c, "quote_to_order", status)
        c.execute(insert(steps).values(run_id=r1, seq=1, name="customer", target_system="xero", operation="PUT",
                                       idempotency_key="i1", status="succeeded", attempts=3, finished_at=NOW - 100))
        _exc(c, "downstream_5xx", "open", 7200, run_id=failed)  # past its SLA (1 h)
        _exc(c, "validation", "open", 600)  # within (4 h)
        _exc(c, "auth", "acknowledged", 9000)  # past, but someone owns it
        _exc(c, "made_up", "open", 5 * 3600, workflow="invoice_feedback")  # past the "*" SLA (4 h)
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "{url}"\naudit_key = "test-key"\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(health, "clock", lambda: NOW)
    monkeypatch.setattr(health, "workflow_names", lambda: WORKFLOWS)
    yield url, eng
    eng.dispose()


def _status(*args):
    return CliRunner().invoke(main, ["status", *args])


def test_status_json_on_a_seeded_store_is_degraded_with_exact_values(store):
    result = _status("--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.output) == {
        "healthy": False, "status": "degraded", "problems": ["2 open exceptions past their SLA"], "as_of": NOW,
        "lease": {"holder": "worker@host:41", "alive": True, "fencing": 3, "expires_in_s": 5.0, "kind": "worker"},
        "last_success": {"invoice_feedback": {"at": NOW - 3600, "age_s": 3600.0},
                         "quote_to_order": {"at": NOW - 50, "age_s": 50.0}},
        "queue": {"pending": 2, "waiting": 1, "running": 1, "depth": 3},
        "oldest_open_exception": {"id": 4, "category": "made_up", "age_s": 18000.0},
        "exceptions_past_sla": {"downstream_5xx": 1, "made_up": 1},
        "bulk_commands": [],
    }


def test_status_is_healthy_once_the_breaches_are_acknowledged_and_degraded_without_a_live_lease(store):
    _url, eng = store
    with eng.begin() as c:
        c.execute(update(exceptions).where(exceptions.c.id.in_([1, 4])).values(state="acknowledged"))
    ok = _status("--json")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert (doc["healthy"], doc["problems"], doc["exceptions_past_sla"]) == (True, [], {})
    assert doc["oldest_open_exception"] == {"id": 2, "category": "validation", "age_s": 600.0}
    table = _status()
    assert table.exit_code == 0 and "HEALTHY" in table.output and "worker@host:41" in table.output
    assert "last success: quote_to_order" in table.output

    with eng.begin() as c:
        c.execute(update(lease).values(expires_at=NOW - 1))
    expired = _status("--json")
    assert expired.exit_code == 1
    assert json.loads(expired.output)["problems"] == ["the lease of worker@host:41 has expired: no engine is running"]
    with eng.begin() as c:
        c.execute(lease.delete())
    none = _status()
    assert none.exit_code == 1 and "DEGRADED" in none.output and "no live lease holder" in none.output


def test_status_on_a_store_it_cannot_read_exits_3(tmp_path, monkeypatch):
    config = tmp_path / "opsconsole.toml"
    (tmp_path / "empty.db").write_bytes(b"")
    config.write_text(f'store_url = "sqlite:///{tmp_path / "empty.db"}"\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    result = _status("--json")
    assert result.exit_code == 3


def test_the_status_help_documents_the_exit_codes():
    out = _status("--help").output
    assert "0 healthy; 1 degraded" in out and "--json prints" in out


def test_the_health_queries_use_indexes_only(store):
    url, eng = store
    settings = load_settings(None, store_url=url)
    seen: list[tuple[str, tuple]] = []
    reader = make_engine(url, write=False)
    event.listen(reader, "before_cursor_execute", lambda conn, cursor, stmt, params, *a: seen.append((stmt, params)))
    with reader.connect() as c:
        health.report(c, settings, NOW, WORKFLOWS)
        collector = health.StoreCollector(reader, settings, clock=lambda: NOW, since=0.0, workflows=WORKFLOWS)
    list(collector.collect())
    plans = []
    with reader.connect() as c:
        for stmt, params in seen:
            if stmt.lstrip().upper().startswith("SELECT"):
                plans += [row[3] for row in c.execute(text("EXPLAIN QUERY PLAN " + stmt).bindparams(), params)] \
                    if isinstance(params, dict) else \
                    [row[3] for row in c.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params)]
    reader.dispose()
    # every table read is an index search (no SCAN), and no ORDER BY sorts rows (the index orders them)
    assert plans and [p for p in plans if p.startswith("SCAN") or "FOR ORDER BY" in p] == []
    assert any("ix_runs_last_finished" in p for p in plans)


def test_metrics_exposition_counts_from_the_store(store):
    url, _eng = store
    settings = load_settings(None, store_url=url)
    reader = make_engine(url, write=False)
    try:
        exporter = health.MetricsExporter(reader, settings, clock=lambda: NOW, since=0.0, workflows=WORKFLOWS)
        body = exporter.render().decode()
        body_again = exporter.render().decode()  # counted incrementally: nothing new, the same totals
    finally:
        reader.dispose()
    lines = set(body.splitlines())
    for line in (
        'opsconsole_runs_finished_total{status="succeeded",workflow="quote_to_order"} 2.0',
        'opsconsole_runs_finished_total{status="succeeded",workflow="invoice_feedback"} 1.0',
        'opsconsole_runs_finished_total{status="failed",workflow="quote_to_order"} 1.0',
        'opsconsole_failures_total{category="downstream_5xx",workflow="quote_to_order"} 1.0',
        'opsconsole_failures_total{category="made_up",workflow="invoice_feedback"} 1.0',
        'opsconsole_step_retries_total{workflow="quote_to_order"} 2.0',
        "opsconsole_oldest_open_exception_age_seconds 18000.0",
        'opsconsole_exceptions{category="auth",state="acknowledged"} 1.0',
        'opsconsole_exceptions_past_sla{category="downstream_5xx"} 1.0',
        'opsconsole_runs_queued{status="pending"} 2.0',
        "opsconsole_lease_alive 1.0",
        "# TYPE opsconsole_runs_finished_total counter",
        "# TYPE opsconsole_exceptions_past_sla gauge",
    ):
        assert line in lines, line
    assert body_again == body
