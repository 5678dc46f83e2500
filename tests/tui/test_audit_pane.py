"""Pilot tests of the audit pane (6): exact rows of a seeded chain, the `/` search, the chain's
verification (intact, tampered, no key), paging."""

from __future__ import annotations

import pytest

from opsconsole.engine.audit import AuditLog
from opsconsole.tui.widgets.filter_bar import FilterBar
from opsconsole.tui.widgets.audit_table import AuditChain, AuditTable
from opsconsole.tui.widgets.live_table import LiveTable

from .audit_data import AUDIT, AUDIT_IDS, seed_audit, tamper
from .conftest import make_services, screen_text
from .test_panes import make_app, row_keys, settle


@pytest.fixture
def audit_services(tmp_path):
    services = make_services(tmp_path)
    seed_audit(services)
    yield services
    services.close()


async def open_audit(app, pilot) -> AuditTable:
    await settle(app, pilot)
    await pilot.press("6")
    await settle(app, pilot)
    assert app.screen.active_pane == "audit"
    return app.screen.query_one(AuditTable)


def chain_line(app) -> str:
    return app.screen.query_one(AuditChain).render().plain


async def test_audit_pane_lists_the_chain_newest_first_and_verifies_it(audit_services):
    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_audit(app, pilot)
        assert row_keys(table) == [str(i) for i in AUDIT_IDS]
        assert table.row_total == len(AUDIT)
        row = table.row_at_cursor()
        assert (row.id, row.actor, row.action, row.subject) == (12, "alice", "retry.requested", "exception:12")
        assert row.at.strftime("%Y-%m-%d %H:%M:%S") == "2026-01-01 00:00:00"
        text = screen_text(app)
        assert "6 Audit" in text
        line = chain_line(app)
        assert line.startswith("✔ chain verified: 12 entries, head matches (took ")
        assert "BROKEN" not in text
        # every entry's cells: id, time, actor, action, subject, detail
        cells = [str(c) for c in table.get_row("8")]
        assert cells[:5] == ["8", "12-31 23:56:00", "carol", "approve.requested",
                             "correction:31"]
        assert cells[5].startswith("command=4")


@pytest.mark.parametrize("query,ids", [
    ("actor:alice", [12, 10, 1]),
    ("actor:engine", [11, 9, 6, 4, 2]),
    ("action:retry", [12, 2, 1]),
    ("action:correction.", [11, 9, 7]),
    ("subject:correction:", [11, 10, 9, 8, 7]),
    ("subject:correction:31", [9, 8, 7]),
    ("actor:engine subject:correction:31", [9]),
    ("NET60", [7]),
    ("actor:bob replay", [3]),
    ("actor:nobody", []),
])
async def test_search_narrows_to_exact_rows(audit_services, query, ids):
    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_audit(app, pilot)
        await pilot.press("slash")
        app.screen.query_one(FilterBar).value = query  # as typed, in one change (key by key: test_panes.py)
        await settle(app, pilot)
        assert table.filter_text == query
        assert row_keys(table) == [str(i) for i in ids]
        assert table.row_total == len(ids)
        from textual.widgets import TabbedContent

        # while typing, the bar says how many match; Enter keeps the filter and the tab says it
        assert str(app.screen.query_one("#filter-matches").text) == f"{len(ids)} matching"
        await pilot.press("enter")
        await settle(app, pilot)
        label = app.screen.query_one(TabbedContent).get_tab("audit").label_text
        assert label.startswith("6 Audit /") and label.endswith(f"[{len(ids)}]")
        await pilot.press("slash", "escape")
        await settle(app, pilot)
        assert len(row_keys(table)) == len(AUDIT)


async def test_the_filter_bar_says_which_tokens_the_audit_pane_takes(audit_services):
    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_audit(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        assert "actor:NAME action:PREFIX subject:PREFIX" in app.screen.query_one("#filter").placeholder
        await pilot.press("escape", "1", "slash")
        await pilot.pause()
        assert "actor:" not in app.screen.query_one("#filter").placeholder


async def test_a_tampered_entry_shows_the_chain_broken_at_that_entry(audit_services):
    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_audit(app, pilot)
        assert "chain verified: 12 entries" in chain_line(app)
        tamper(audit_services, 5, actor="mallory")
        await pilot.press("v")
        await settle(app, pilot)
        line = chain_line(app)
        assert line.startswith("✖ chain BROKEN at entry 5: entry 5 does not match the chain")
        chain = app.screen.query_one(AuditChain)
        assert chain.has_class("broken")
        # in the error colour
        assert any("$error" in str(span.style) for span in chain.render().spans)
        assert "chain BROKEN at entry 5" in screen_text(app)


async def test_a_cut_off_chain_is_broken_at_the_first_missing_entry(audit_services):
    from sqlalchemy import create_engine, delete

    from opsconsole.store.tables import audit

    engine = create_engine(audit_services.settings.store_url)
    with engine.begin() as conn:
        conn.execute(delete(audit).where(audit.c.id >= 11))
    engine.dispose()
    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_audit(app, pilot)
        assert row_keys(table)[0] == "10"
        assert chain_line(app).startswith(
            "✖ chain BROKEN at entry 11: the chain ends at entry 10, the head file says 12")


async def test_without_the_key_the_pane_says_it_cannot_verify(tmp_path):
    services = make_services(tmp_path)
    seed_audit(services)
    key = services.audit.key
    services.close()
    # an operator whose settings name a key they do not have (not the demo: no key is made up)
    from opsconsole.services import Services
    from opsconsole.settings import load_settings

    from .conftest import FIXED_NOW, ROLES

    settings = load_settings(None, store_url=services.settings.store_url, var_dir=tmp_path, demo=False, roles=ROLES,
                             audit_key="env:OPSCONSOLE_TEST_NO_SUCH_KEY")
    services = Services(settings, operator="alice", audit=AuditLog(key), clock=lambda: FIXED_NOW)
    try:
        app = make_app(services)
        async with app.run_test(size=(120, 30)) as pilot:
            table = await open_audit(app, pilot)
            assert len(row_keys(table)) == len(AUDIT)  # the entries still show
            line = chain_line(app)
            assert line.startswith("cannot verify: credential 'env:OPSCONSOLE_TEST_NO_SUCH_KEY'")
            assert "OPSCONSOLE_TEST_NO_SUCH_KEY is not set" in line
    finally:
        services.close()


async def test_paging_keeps_a_window_of_the_audit_log(tmp_path):
    services = make_services(tmp_path)
    seed_audit(services, extra=288)  # 300 entries
    try:
        app = make_app(services)
        async with app.run_test(size=(120, 30)) as pilot:
            table = await open_audit(app, pilot)
            assert table.row_count == LiveTable.WINDOW and table.row_total == 300
            assert row_keys(table)[0] == "300" and row_keys(table)[-1] == "201"
            table.move_cursor(row=table.row_count - 1)
            await pilot.press("down")  # reaching the end moves the window
            await settle(app, pilot)
            assert table.window_offset == LiveTable.STEP
            assert row_keys(table)[0] == "250" and row_keys(table)[-1] == "151"
            assert table.key_at_cursor() == "200"
            assert "chain verified: 300 entries" in chain_line(app)
            table.move_cursor(row=0)
            await pilot.press("up")
            await settle(app, pilot)
            assert table.window_offset == 0 and row_keys(table)[0] == "300"
    finally:
        services.close()


async def test_enter_on_a_run_entry_opens_its_trace(audit_services):
    from opsconsole.tui.screens.trace import TraceScreen

    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await open_audit(app, pilot)
        table.move_cursor(row=row_keys(table).index("3"))  # bob replay.requested run:2
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 2


async def test_palette_verifies_the_audit_chain(audit_services):
    from opsconsole.tui.commands import OpsCommands

    app = make_app(audit_services)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        hits = [hit async for hit in OpsCommands(app.screen).search("audit: verify")]
        assert hits and hits[0].text == "audit: verify"
        await hits[0].command()
        await settle(app, pilot)
        assert app.screen.active_pane == "audit"
        assert "chain verified: 12 entries" in chain_line(app)
