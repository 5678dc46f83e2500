"""The dashboard pane and ``Services.dashboard``: throughput per workflow over the last hour, open
exceptions by age against their SLA, business milestones; exact numbers from a seeded store."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, text

from opsconsole.services import Services
from opsconsole.settings import load_settings
from opsconsole.store import tables as t
from opsconsole.tui.widgets.dashboard import DashboardView
from opsconsole.viewmodels import Dashboard

from .conftest import FIXED_NOW, screen_text
from .dashboard_data import (
    EXPECTED_AGES, EXPECTED_MILESTONES, EXPECTED_THROUGHPUT, OPEN_EXCEPTIONS, RATE_LIMIT_SLA, VALIDATION_SLA,
)
from .test_panes import make_app, settle


def _series(minutes: dict[int, int]) -> list[int]:
    """Runs finished per minute, oldest first, from {minutes before now: runs}."""
    series = [0] * 60
    for minute, n in minutes.items():
        series[59 - minute] = n
    return series


# --- Services.dashboard -------------------------------------------------------------------------
def test_services_dashboard_exact_values(dashboard_services):
    d = dashboard_services.dashboard()
    assert isinstance(d, Dashboard) and d.window_s == 3600
    assert d.as_of.timestamp() == FIXED_NOW
    got = {tp.workflow: (tp.succeeded, tp.failed, tp.retries, tp.per_minute) for tp in d.throughput}
    assert got == {wf: (s, f, r, _series(m)) for wf, (s, f, _, r, m) in EXPECTED_THROUGHPUT.items()}
    assert [tp.workflow for tp in d.throughput] == sorted(EXPECTED_THROUGHPUT)  # renewal_readiness: only an old run
    rates = {tp.workflow: tp.failure_rate for tp in d.throughput}
    assert rates == {"company_to_contact": None, "invoice_to_crm": 25.0, "quote_to_order": 37.5}

    assert [(e.category, e.sla_s, e.within, e.nearing, e.breached) for e in d.exceptions] == [
        ("validation", VALIDATION_SLA, 2, 1, 1), ("rate_limit", RATE_LIMIT_SLA, 1, 2, 2),
        ("downstream_5xx", 3600, 1, 0, 0), ("rejected_by_target", 4 * 3600, 1, 0, 0)]  # DESIGN's order
    assert sum(e.total for e in d.exceptions) == OPEN_EXCEPTIONS

    m = d.milestones
    assert m.as_of == date(2026, 1, 1)
    assert {k: getattr(m, k) for k in EXPECTED_MILESTONES} == EXPECTED_MILESTONES
    assert m.invoices_overdue_total == 6


def test_dashboard_window_follows_now(dashboard_services):
    # a minute later: everything moves one minute back, and the runs of minute 59 leave the window
    d = dashboard_services.dashboard(now=FIXED_NOW + 60)
    tp = {t.workflow: t for t in d.throughput}
    assert tp["invoice_to_crm"].per_minute == _series({4: 1, 5: 1, 32: 1})
    assert (tp["invoice_to_crm"].succeeded, tp["invoice_to_crm"].failed, tp["invoice_to_crm"].retries) == (3, 0, 0)
    assert tp["quote_to_order"].per_minute == _series({1: 2, 2: 3, 3: 1, 11: 1, 59: 1})
    # and exceptions age: 12 (rate_limit, 2 min) stays within, 46 (2000 s) stays nearing
    ages = {e.category: (e.within, e.nearing, e.breached) for e in d.exceptions}
    assert ages["rate_limit"] == (1, 2, 2)


def test_sla_comes_from_the_settings(dashboard_services, tmp_path):
    settings = load_settings(None, store_url=dashboard_services.settings.store_url, var_dir=tmp_path, demo=True,
                             sla={"validation": 1500, "*": 100})
    assert settings.sla["rate_limit"] == 3600  # categories not named keep their defaults
    services = Services(settings, operator="alice", clock=lambda: FIXED_NOW)
    try:
        ages = {e.category: (e.sla_s, e.within, e.nearing, e.breached) for e in services.dashboard().exceptions}
    finally:
        services.close()
    # validation, 25 min: 30 s within; 1000 s nearing (>= 750 s); 9000 s and 20000 s breached
    assert ages["validation"] == (1500, 1, 1, 2)
    assert ages["rate_limit"] == (3600, 1, 2, 2)


def test_dashboard_queries_use_their_indexes(dashboard_services):
    from opsconsole.dashboard_services import _retries, _runs_by_minute

    def plan(stmt) -> str:
        compiled = stmt.compile(dashboard_services._read, compile_kwargs={"literal_binds": True})
        with dashboard_services._read.connect() as c:
            return " | ".join(str(r[-1]) for r in c.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))

    assert "ix_runs_updated" in plan(_runs_by_minute(FIXED_NOW, FIXED_NOW - 3600))
    assert "ix_steps_finished" in plan(_retries(FIXED_NOW, FIXED_NOW - 3600))
    assert "ix_exc_state" in plan(dashboard_services._exception_ages(FIXED_NOW))


# --- the pane -----------------------------------------------------------------------------------
def _dashboard_lines(app) -> list[str]:
    view = app.screen.query_one(DashboardView)
    exceptions = view.query_one("#dash-exceptions").content.plain
    milestones = view.query_one("#dash-milestones").content.plain
    return exceptions.splitlines() + milestones.splitlines()


async def test_dashboard_pane_shows_the_exact_numbers(dashboard_services):
    app = make_app(dashboard_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        main = app.screen
        assert main.active_pane == "runs"  # the dashboard is the first tab, Runs the first pane shown
        assert main.dashboard.dashboard is None  # hidden: not fetched
        await pilot.press("0")
        await settle(app, pilot)
        await settle(app, pilot)
        assert main.active_pane == "dashboard"
        assert app.focused is main.dashboard

        rows = {row.workflow: row for row in main.dashboard.rows()}
        assert list(rows) == sorted(EXPECTED_THROUGHPUT)
        for workflow, (succeeded, failed, rate, retries, minutes) in EXPECTED_THROUGHPUT.items():
            row = rows[workflow]
            assert row.stats_text.split() == [str(succeeded), str(failed), rate, str(retries)], workflow
            spark = row.query_one("Sparkline")
            assert list(spark.data) == _series(minutes)
            assert row.query_one(".dash-name").content.plain == workflow

        lines = _dashboard_lines(app)
        by_category = {line.split()[0]: line.split()[1:] for line in lines[2:2 + len(EXPECTED_AGES)]}
        assert by_category == {cat: [sla, str(w), str(n), str(b)] for cat, (sla, w, n, b) in EXPECTED_AGES.items()}
        breached = main.dashboard.query_one("#dash-exceptions").content
        # breached counts are in the error colour; a zero is not
        styled = {breached.plain[s.start:s.end].strip() for s in breached.spans if "$error" in str(s.style)}
        assert styled == {"1", "2"}

        milestones = "\n".join(lines)
        assert "Business milestones (as of 2026-01-01)" in milestones
        assert "orders awaiting billing approval" in milestones
        values = {line[:32].strip(): line[32:].strip() for line in lines if line[:32].strip()}
        assert values["orders awaiting billing approval"] == "2"
        assert values["invoices overdue"] == "6"
        assert values["by days past due"] == "1-30: 2  31-60: 1  61-90: 1  90+: 2"
        assert values["amount due"] == "EUR 150.45 · GBP 200.00 · USD 1000.00"
        assert values["onboardings delayed"] == "1"
        assert values["renewals blocked by payment"] == "2"

        text = screen_text(app)
        assert "0 Dashboard  1 Runs  2 Exceptions (11)" in text
        assert "Throughput per workflow" in text and "Exceptions by age against SLA" in text
        assert "/ Filter" not in text  # nothing to filter on the dashboard

        await pilot.press("slash")  # the binding is off here: no filter bar
        await settle(app, pilot)
        assert not main.filter_open
        await pilot.press("1")
        await settle(app, pilot)
        assert main.active_pane == "runs"


async def test_dashboard_refreshes_while_shown(dashboard_services):
    app = make_app(dashboard_services, refresh_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("0")
        await settle(app, pilot)
        view = app.screen.dashboard
        before = {row.workflow: row.throughput for row in view.rows()}
        assert before["invoice_to_crm"].succeeded == 3
        with dashboard_services._write.begin() as conn:
            conn.execute(insert(t.runs), [dict(
                id=300, workflow="invoice_to_crm", business_key="INV-300", account_key="a", correlation_id="c300",
                status="succeeded", current_step="", mapping_version="1", attempt=1, created_at=FIXED_NOW - 20,
                updated_at=FIXED_NOW - 10, finished_at=FIXED_NOW - 10, last_error="", context={})])
        for _ in range(100):
            await pilot.pause(0.05)
            rows = {row.workflow: row for row in view.rows()}
            if rows["invoice_to_crm"].throughput.succeeded == 4:
                break
        row = rows["invoice_to_crm"]
        assert row.stats_text.split() == ["4", "1", "20%", "5"]
        assert row.query_one("Sparkline").data[-1] == 1  # minute 0
        # hidden again: no more polls
        await pilot.press("1")
        await settle(app, pilot)
        shown = view.dashboard
        await pilot.pause(0.3)
        assert view.dashboard is shown


async def test_dashboard_key_in_help_and_palette(dashboard_services):
    from opsconsole.tui.commands import COMMANDS

    assert ("dashboard: show", "view('dashboard')") in [(n, a) for n, _, a in COMMANDS]
    app = make_app(dashboard_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await app.run_action("view('dashboard')")
        await settle(app, pilot)
        assert app.screen.active_pane == "dashboard"
        await pilot.press("1", "question_mark")
        await settle(app, pilot)
        help_lines = screen_text(app).splitlines()
        wanted = ["panes", "0", "Dashboard", "app.view_dashboard"]
        assert any(" ".join(wanted) in " ".join(line.split()) for line in help_lines)
