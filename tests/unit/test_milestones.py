"""Business milestones (opsconsole/milestones.py) and `opsconsole milestones` against a real migrated
store: exact counts with the aging-bucket boundaries, amounts per currency summed as decimals, the
rows behind each milestone, index use, and the verb's JSON and exit codes."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from opsconsole.cli import main
from opsconsole.milestones import BUCKETS, NAMES, Milestones, business_milestones, milestone_rows
from opsconsole.settings import load_settings
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import onboardings, payment_positions, renewals

AS_OF = date(2026, 11, 30)


def ago(days: int) -> str:
    return (AS_OF - timedelta(days=days)).isoformat()


# (invoice_id, status, amount_due, currency, days past due as of AS_OF)
INVOICES = [
    ("inv-a", "unpaid", "100.10", "EUR", 1),
    ("inv-b", "partially_paid", "50.05", "EUR", 30),  # the 1-30 boundary
    ("inv-c", "overdue", "200", "GBP", 31),  # 31-60
    ("inv-d", "unpaid", "0.1", "EUR", 90),  # 61-90 boundary
    ("inv-e", "overdue", "0.2", "EUR", 91),  # 90+
    ("inv-today", "unpaid", "999", "EUR", 0),  # due today: not overdue
    ("inv-future", "unpaid", "999", "EUR", -5),
    ("inv-paid", "paid", "0", "EUR", 40),
    ("inv-void", "voided", "999", "EUR", 40),
    ("inv-approval", "awaiting_approval", "999", "USD", 40),
]

PLAN = [{"name": "Kickoff call", "stage": "kickoff", "due_on": ago(20), "done_on": ago(21)},
        {"name": "Implementation complete", "stage": "implementation", "due_on": ago(5), "done_on": None},
        {"name": "Users trained", "stage": "training", "due_on": ago(-10), "done_on": None}]

# (order_key, state, next_due_on, ordered_on)
ORDERS = [
    ("o-wait-1", "awaiting_approval", ago(-7), ago(7)),
    ("o-wait-2", "awaiting_approval", ago(-3), ago(11)),
    ("o-wait-3", "awaiting_approval", None, ago(2)),
    ("o-approved", "approved", ago(10), ago(30)),  # approved, not started: neither count
    ("o-late-1", "started", ago(5), ago(40)),
    ("o-late-2", "started", ago(1), ago(30)),
    ("o-due-today", "started", ago(0), ago(30)),  # due today: not delayed
    ("o-on-track", "started", ago(-4), ago(10)),
    ("o-no-next", "started", None, ago(60)),
    ("o-live", "live", ago(50), ago(90)),  # live: never delayed
]

RENEWALS = [("cus-blocked", "blocked_by_payment", ago(-45)), ("cus-risk", "at_risk", ago(-10)),
            ("cus-ready", "ready", ago(-90))]

EXPECTED = {
    "as_of": "2026-11-30",
    "orders_awaiting_billing_approval": 3,
    "invoices_overdue": {"1-30": 2, "31-60": 1, "61-90": 1, "90+": 1},
    "overdue_amounts": {"EUR": "150.45", "GBP": "200.00"},
    "onboardings_delayed": 2,
    "renewals_blocked_by_payment": 1,
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "sqlite:///{tmp_path}/s.db"\nvar_dir = "{tmp_path}"\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")
    settings = load_settings(config)
    upgrade(settings.store_url)
    eng = make_engine(settings.store_url, write=True)
    now = time.time()
    with eng.begin() as c:
        c.execute(insert(payment_positions), [
            {"invoice_id": i, "customer_id": f"cus-{i}", "invoice_number": f"INV-{i}", "invoice_status": "",
             "status": status, "amount_due": amount, "currency": cur, "due_on": ago(days),
             "aging_bucket": "current",  # stale on purpose: buckets are computed from due_on
             "updated_at": now} for i, status, amount, cur, days in INVOICES])
        c.execute(insert(onboardings), [
            {"order_key": key, "customer_id": f"cus-{key}", "order_number": f"SO-{key}", "legal_name": f"{key} Ltd",
             "state": state, "plan": PLAN, "next_due_on": due, "ordered_on": ordered, "updated_at": now}
            for key, state, due, ordered in ORDERS])
        c.execute(insert(renewals), [
            {"customer_id": cid, "legal_name": f"{cid} Ltd", "readiness": r, "score": 20, "reason": f"{r} because",
             "renewal_on": on, "evaluated_at": now} for cid, r, on in RENEWALS])
    yield eng
    eng.dispose()


def test_counts_are_exact(store):
    with store.connect() as c:
        m = business_milestones(c, AS_OF)
    assert isinstance(m, Milestones)
    assert tuple(m.invoices_overdue) == BUCKETS
    assert m.as_dict() == EXPECTED
    assert json.loads(json.dumps(m.as_dict())) == EXPECTED


def test_time_passing_moves_invoices_into_older_buckets(store):
    with store.connect() as c:
        m = business_milestones(c, AS_OF + timedelta(days=1))
    # inv-today is now 1 day late; inv-b (30 -> 31) and inv-d (90 -> 91) move up a bucket
    assert m.invoices_overdue == {"1-30": 2, "31-60": 2, "61-90": 0, "90+": 2}
    assert m.overdue_amounts == {"EUR": "1149.45", "GBP": "200.00"}
    assert m.onboardings_delayed == 3  # o-due-today is late from tomorrow


def test_nothing_overdue_before_anything_is_due():
    eng = make_engine("sqlite://", write=False)
    from opsconsole.store.tables import metadata

    metadata.create_all(eng)
    with eng.connect() as c:
        m = business_milestones(c, AS_OF)
    assert m.as_dict() == {"as_of": "2026-11-30", "orders_awaiting_billing_approval": 0,
                           "invoices_overdue": dict.fromkeys(BUCKETS, 0), "overdue_amounts": {},
                           "onboardings_delayed": 0, "renewals_blocked_by_payment": 0}


def test_rows_behind_each_milestone(store):
    with store.connect() as c:
        invoices = milestone_rows(c, "invoices_overdue", AS_OF)
        orders = milestone_rows(c, "orders_awaiting_billing_approval", AS_OF)
        delayed = milestone_rows(c, "onboardings_delayed", AS_OF)
        blocked = milestone_rows(c, "renewals_blocked_by_payment", AS_OF)
        page = milestone_rows(c, "invoices_overdue", AS_OF, limit=2, offset=1)
    assert [(r["invoice_id"], r["days_overdue"], r["aging_bucket"]) for r in invoices] == [
        ("inv-e", 91, "90+"), ("inv-d", 90, "61-90"), ("inv-c", 31, "31-60"), ("inv-b", 30, "1-30"),
        ("inv-a", 1, "1-30")]
    assert invoices[0] == {"invoice_id": "inv-e", "invoice_number": "INV-inv-e", "customer_id": "cus-inv-e",
                           "status": "overdue", "amount_due": "0.20", "currency": "EUR", "due_on": ago(91),
                           "days_overdue": 91, "aging_bucket": "90+"}
    assert [r["invoice_id"] for r in page] == ["inv-d", "inv-c"]
    assert [(r["order_key"], r["days_waiting"]) for r in orders] == [
        ("o-wait-2", 11), ("o-wait-1", 7), ("o-wait-3", 2)]
    assert [(r["order_key"], r["days_late"], r["next_milestone"]) for r in delayed] == [
        ("o-late-1", 5, "Implementation complete"), ("o-late-2", 1, "Implementation complete")]
    assert delayed[0]["legal_name"] == "o-late-1 Ltd"
    assert blocked == [{"customer_id": "cus-blocked", "legal_name": "cus-blocked Ltd", "renewal_on": ago(-45),
                        "score": 20, "reason": "blocked_by_payment because", "deal_id": "", "deal_stage": "",
                        "days_to_renewal": 45}]


def test_unknown_milestone_names_the_allowed_ones(store):
    with store.connect() as c, pytest.raises(ValueError) as err:
        milestone_rows(c, "invoices", AS_OF)
    assert all(name in str(err.value) for name in NAMES)


def test_queries_use_the_indexes(store):
    statements: list[str] = []

    from sqlalchemy import event

    @event.listens_for(store, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with store.connect() as c:
        business_milestones(c, AS_OF)
        for name in NAMES:
            milestone_rows(c, name, AS_OF)
        plans = [" ".join(r[-1] for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
                 for s, p in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(plans) == 9
    for plan in plans:
        assert "USING" in plan and "INDEX ix_" in plan, plan
        assert "SCAN payment_positions" not in plan and "SCAN onboardings" not in plan \
            and "SCAN renewals" not in plan, plan


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_json(store):
    result = cli("milestones", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED


def test_cli_table(store):
    result = cli("milestones", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "as of 2026-11-30" in result.output
    assert "1-30: 2  31-60: 1  61-90: 1  90+: 1" in result.output
    assert "EUR 150.45, GBP 200.00" in result.output
    lines = {line.split("  ")[0].strip(): line for line in result.output.splitlines()}
    assert " 3 " in lines["orders awaiting billing approval"]
    assert " 5 " in lines["invoices overdue"]


def test_cli_show_json(store):
    result = cli("milestones", "show", "invoices_overdue", "--as-of", AS_OF, "--limit", 3, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    with store.connect() as c:
        rows = milestone_rows(c, "invoices_overdue", AS_OF, limit=3)
    assert doc == {"milestone": "invoices_overdue", "as_of": "2026-11-30", "total": 5, "offset": 0, "limit": 3,
                   "rows": rows}
    assert [r["invoice_id"] for r in doc["rows"]] == ["inv-e", "inv-d", "inv-c"]


def test_cli_show_table(store):
    result = cli("milestones", "show", "onboardings_delayed", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "o-late-1 Ltd" in result.output and "Implementation complete" in result.output
    assert "1-2 of 2" in result.output


def test_cli_unknown_name_is_a_usage_error(store):
    result = cli("milestones", "show", "overdue", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "unknown milestone 'overdue'" in result.output
    assert all(name in result.output for name in NAMES)


def test_cli_bad_date_is_a_usage_error(store):
    result = cli("milestones", "--as-of", "30/11/2026")
    assert result.exit_code == 2
