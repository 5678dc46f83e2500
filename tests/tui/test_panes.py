"""Pilot tests of the live panes: switching, filtering, paging, live updates, the trace."""

from __future__ import annotations

from sqlalchemy import insert, update

from opsconsole.store import tables as t
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.trace import TraceScreen
from opsconsole.tui.widgets.live_table import LiveTable

from .conftest import ENGINE_LABEL, FIXED_NOW, OPEN_EXCEPTION_IDS, screen_text


def make_app(services, **kwargs) -> OpsConsoleApp:
    kwargs.setdefault("engine_label", ENGINE_LABEL)
    kwargs.setdefault("refresh_s", 3600)
    return OpsConsoleApp(services, **kwargs)


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def row_keys(table: LiveTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


async def test_runs_first_then_switch_panes(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        main = app.screen
        assert main.active_pane == "runs"
        assert row_keys(main.table("runs")) == ["6", "5", "4", "3", "2", "1"]
        text = screen_text(app)
        assert "Exceptions (4)" in text
        assert ENGINE_LABEL in text
        assert "lease console:opsbox:4242" in text
        assert "3 failed" in text and "4 open exceptions" in text and "1 rejected webhook " in text
        assert "bad signature" in text

        await pilot.press("2")
        await settle(app, pilot)
        assert main.active_pane == "exceptions"
        assert row_keys(main.table("exceptions")) == [str(i) for i in OPEN_EXCEPTION_IDS]
        assert app.focused is main.table("exceptions")

        await pilot.press("1")
        await settle(app, pilot)
        assert main.active_pane == "runs"


async def test_filter_narrows_rows_and_escape_clears(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        table = app.screen.table("runs")
        await pilot.press("slash")
        await pilot.press(*"Q-100")
        await settle(app, pilot)
        assert table.filter_text == "Q-100"
        assert row_keys(table) == ["5", "4", "2", "1"]
        await pilot.press("2")  # typed into the filter, not a pane switch
        await settle(app, pilot)
        assert app.screen.active_pane == "runs"
        assert row_keys(table) == ["2"]
        assert "1 matching" in screen_text(app)
        await pilot.press("escape")
        await settle(app, pilot)
        assert table.filter_text == ""
        assert len(row_keys(table)) == 6
        assert app.focused is table


async def test_filter_applies_to_active_pane_and_enter_keeps_it(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "slash", *"rate", "enter")
        await settle(app, pilot)
        exceptions = app.screen.table("exceptions")
        assert row_keys(exceptions) == ["12"]
        assert app.screen.table("runs").filter_text == ""
        assert app.focused is exceptions
        await app.run_action("clear_filter")
        await settle(app, pilot)
        assert len(row_keys(exceptions)) == 4


async def test_enter_on_run_opens_trace_with_steps_and_spans(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        table = app.screen.table("runs")
        table.move_cursor(row=row_keys(table).index("2"))
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        assert [s.name for s in screen.detail.steps] == ["create_customer", "create_sales_order", "create_invoice"]
        text = screen_text(app)
        assert "run 2" in text and "Q-1002" in text and "corr0002" in text and "mapping 1" in text
        assert "PUT /Invoices" in text and "231" in text
        # the failed step is selected: its request and response are shown
        assert '"AccountCode": "999"' in text
        assert "exception 11" in text and "rejected_by_target" in text
        await pilot.press("up")
        await pilot.pause()
        text = screen_text(app)
        assert '"QuoteID": "q-9"' in text or '"Quotes"' in text
        spans = str(screen.query_one("#spans").render())  # the spans of the trace
        assert spans
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.id == "main"


async def test_enter_on_exception_opens_its_run_and_detail(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        table = app.screen.table("exceptions")
        table.move_cursor(row=row_keys(table).index("12"))
        await pilot.press("enter")  # the exception's detail (tests/tui/test_exceptions_pane.py), then its trace
        await settle(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        assert screen.run_id == 4 and screen.exception.exception.id == 12
        text = screen_text(app)
        assert "rate_limit" in text and "retry once its limit window has passed" in text
        assert "exception payload" in text


async def test_malformed_event_exception_shows_without_a_run(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        table = app.screen.table("exceptions")
        table.move_cursor(row=row_keys(table).index("13"))
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        text = screen_text(app)
        assert "a malformed event, no run" in text and "amount is not a decimal" in text


async def test_untrusted_text_is_shown_plain(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "Q-EVIL[bold red]boom[/b" in text  # markup shown literally, escapes stripped
        assert "pwned" not in text and "\x1b" not in text


async def test_live_refresh_diffs_rows_and_keeps_cursor(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        table = app.screen.table("runs")
        table.move_cursor(row=row_keys(table).index("3"))
        with seeded_services._write.begin() as conn:
            conn.execute(insert(t.runs).values(
                id=7, workflow="quote_to_order", business_key="Q-1007", correlation_id="corr0007", status="running",
                current_step="create_customer", created_at=FIXED_NOW - 1, updated_at=FIXED_NOW - 1))
            conn.execute(update(t.runs).where(t.runs.c.id == 3).values(status="succeeded", current_step=""))
        table.reload()
        await settle(app, pilot)
        assert row_keys(table) == ["7", "6", "5", "4", "3", "2", "1"]
        assert table.key_at_cursor() == "3"  # the cursor stayed on its run
        assert str(table.get_cell("3", "status")) == "succeeded"


async def test_live_polls_never_overlap_and_skip_hidden_panes(seeded_services):
    import threading
    import time

    app = make_app(seeded_services, refresh_s=0.02)
    polls: list[dict] = []
    in_flight = [0, 0]  # now, most ever
    lock = threading.Lock()
    original = seeded_services.runs

    def slow_runs(**kwargs):
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        polls.append(kwargs)
        time.sleep(0.05)  # slower than the refresh interval
        try:
            return original(**kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    async def until(predicate, timeout=5.0):
        # a loaded CI machine runs the timer late: wait for the count rather than for a fixed time
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            await pilot.pause(0.05)

    seeded_services.runs = slow_runs
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: len(polls) >= 3)
        assert len(polls) >= 3
        assert in_flight[1] == 1  # the timer is re-armed only after a poll completes
        await pilot.press("2")  # the runs pane is hidden now: it stops polling
        await pilot.pause(0.15)
        hidden_start = len(polls)
        await pilot.pause(0.4)
        assert len(polls) <= hidden_start + 1
        await pilot.press("1")  # shown again: refreshed at once, then live again
        await until(lambda: len(polls) >= hidden_start + 3)
        assert len(polls) >= hidden_start + 3


async def test_paging_keeps_a_window(many_runs_services):
    app = make_app(many_runs_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        table = app.screen.table("runs")
        assert table.row_count == LiveTable.WINDOW and table.row_total == 306
        table.move_cursor(row=table.row_count - 1)
        last = table.key_at_cursor()
        await pilot.press("down")  # reaching the end moves the window
        await settle(app, pilot)
        assert table.window_offset == LiveTable.STEP and table.row_count == LiveTable.WINDOW
        assert table.get_row_index(last) == table.cursor_row - 1
        await pilot.press("pagedown")
        await settle(app, pilot)
        assert table.window_offset == LiveTable.STEP
        table.move_cursor(row=0)
        await pilot.press("pageup")
        await settle(app, pilot)
        assert table.window_offset == 0
