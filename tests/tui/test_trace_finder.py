"""Pilot tests of the trace finder (T, the palette's "trace: find") and of `t` from a conflict and a
correction; the trace's spans with their request and response."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, update

from opsconsole.store import tables as t
from opsconsole.tui.screens.conflict import ConflictScreen
from opsconsole.tui.screens.correction import CorrectionScreen
from opsconsole.tui.screens.main import MainScreen
from opsconsole.tui.screens.trace import TraceScreen
from opsconsole.tui.screens.trace_finder import TraceFinderScreen

from .audit_data import INVOICE_ID, XERO_CONTACT, seed_trace_data
from .conftest import ACME, make_services, screen_text
from .test_panes import make_app, settle


@pytest.fixture
def trace_services(tmp_path):
    services = make_services(tmp_path)
    seed_trace_data(services)
    yield services
    services.close()


async def find(app, pilot, query: str) -> None:
    await settle(app, pilot)
    await pilot.press("T")
    await pilot.pause()
    assert isinstance(app.screen, TraceFinderScreen)
    await pilot.press(*query, "enter")
    await settle(app, pilot)


def rendered(renderable) -> str:
    import io

    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def results(app) -> list[str]:
    return [row.key.value for row in app.screen.query_one("#finder-results").ordered_rows]


async def test_a_correlation_id_opens_its_run_trace(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await find(app, pilot, "corr0002")
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 2
        text = screen_text(app)
        assert "run 2" in text and "corr0002" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)  # the finder closed when it opened the one run


async def test_a_business_key_opens_its_run_trace(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await find(app, pilot, "hubspot:quote:777")
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 40


async def test_a_business_key_start_lists_its_runs(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await find(app, pilot, "hubspot:company")  # a key up to a colon: every run whose key continues it
        assert isinstance(app.screen, TraceFinderScreen)
        assert results(app) == ["43", "42"]
        await pilot.press("escape")
        await find(app, pilot, "hubspot:comp")  # not up to a colon: nothing
        assert isinstance(app.screen, TraceFinderScreen) and "no run found" in screen_text(app)
        app.screen.query_one("#finder-input").value = ""
        app.screen.query_one("#finder-input").focus()
        await pilot.press(*"hubspot:company:9001", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 42


async def test_an_invoice_id_finds_the_quote_run_and_the_invoice_run_through_xrefs(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(110, 30)) as pilot:
        await find(app, pilot, INVOICE_ID)
        screen = app.screen
        assert isinstance(screen, TraceFinderScreen)
        assert results(app) == ["41", "40"]
        assert [m.via for m in screen.result.matches] == [f"xero invoice {INVOICE_ID}"] * 2
        text = screen_text(app)
        assert "2 runs found" in text and "hubspot:quote:777" in text
        await pilot.press("down", "enter")  # pick the quote's run
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 40
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TraceFinderScreen)  # back to the list


@pytest.mark.parametrize("query,expected", [
    ("Acme", ["42", "40"]),
    ("acme ltd", ["42", "40"]),
    (ACME, ["42", "40"]),
    (XERO_CONTACT, ["42", "40"]),  # a Xero ContactID: its customer's runs
])
async def test_a_company_finds_its_records_and_orders_runs(trace_services, query, expected):
    app = make_app(trace_services)
    async with app.run_test(size=(110, 30)) as pilot:
        await find(app, pilot, query)
        assert isinstance(app.screen, TraceFinderScreen)
        assert results(app) == expected
        assert all(m.via == "customer Acme Ltd" for m in app.screen.result.matches)


async def test_a_company_with_one_run_opens_it(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(110, 30)) as pilot:
        await find(app, pilot, "Globex")
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 43


async def test_nothing_found_says_so_and_what_was_searched(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(110, 40)) as pilot:
        await find(app, pilot, "INV-0042")
        assert isinstance(app.screen, TraceFinderScreen)
        text = screen_text(app)
        assert "no run found for INV-0042" in text
        assert "searched:" in text and "a correlation id" in text and "company name" in text
        assert not app.screen.query_one("#finder-results").display
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_the_palette_opens_the_finder(trace_services):
    from opsconsole.tui.commands import OpsCommands

    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        hits = [hit async for hit in OpsCommands(app.screen).search("trace: find")]
        assert hits and hits[0].text == "trace: find"
        await hits[0].command()
        await pilot.pause()
        assert isinstance(app.screen, TraceFinderScreen)
        assert "Xero InvoiceID" in screen_text(app)  # the hint says what is searchable


async def test_the_trace_shows_each_span_with_its_request_and_response(trace_services):
    engine = create_engine(trace_services.settings.store_url)
    with engine.begin() as conn:
        conn.execute(update(t.spans).where(t.spans.c.span_id == "s3").values(
            request={"Invoices": [{"Reference": "Q-1002"}]}, response={"Message": "Account code '999' is not valid"}))
    engine.dispose()
    app = make_app(trace_services)
    async with app.run_test(size=(100, 60)) as pilot:
        await find(app, pilot, "corr0002")
        screen = app.screen
        spans = screen.query_one("#spans-table")
        assert spans.row_count == 4
        assert "spans of this trace: 4 (hubspot 1, xero 3)" in screen_text(app)
        spans.focus()
        spans.move_cursor(row=3)
        await pilot.pause()
        detail = rendered(screen.query_one("#span-detail").content)
        assert "span 4 xero PUT /Invoices" in detail and "HTTP 422" in detail
        assert '"Reference": "Q-1002"' in detail and "is not valid" in detail


async def test_t_on_a_duplicate_conflict_opens_its_held_run(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.push_screen(ConflictScreen(trace_services, 23))  # a suspected duplicate holding run 5
        await settle(app, pilot)
        await pilot.press("T")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 5


async def test_t_on_an_ownership_conflict_lists_its_records_runs(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.push_screen(ConflictScreen(trace_services, 21))  # Acme's payment terms: no run of its own
        await settle(app, pilot)
        await pilot.press("T")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceFinderScreen)
        assert app.screen.query_one("#finder-input").value == ACME
        assert results(app) == ["42", "40"]


async def test_t_on_a_correction_opens_its_run(trace_services):
    engine = create_engine(trace_services.settings.store_url)
    with engine.begin() as conn:
        conn.execute(update(t.corrections).where(t.corrections.c.id == 30).values(run_id=4))
    engine.dispose()
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.push_screen(CorrectionScreen(trace_services, 30))
        await settle(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 4
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CorrectionScreen)


async def test_t_on_a_correction_without_a_run_lists_its_records_runs(trace_services):
    app = make_app(trace_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.push_screen(CorrectionScreen(trace_services, 32))  # Globex, pending: no run yet
        await settle(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 43  # Globex's one run
