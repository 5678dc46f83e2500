"""Pilot tests of bulk work on exceptions: marks and `*`, the count preview, and ONE command the engine
works through in batches (so a closed console does not abort it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from opsconsole.engine import exception_commands
from opsconsole.store import tables as t
from opsconsole.tui.screens.confirm import ConfirmScreen

from .conftest import FIXED_NOW, make_services, screen_text, store_rows
from .test_actions import notifications
from .test_exceptions_pane import audit_of, exception_row, show_exceptions, type_filter
from .test_governance import commands, run_engine
from .test_panes import make_app, row_keys, settle


BULK_VALIDATION, BULK_RATE_LIMIT = 130, 7


@pytest.fixture
def bulk_services(tmp_path: Path):
    """The fixed seed plus 137 open exceptions of another workflow (more than the table's window)."""
    services = make_services(tmp_path)
    rows = []
    for i in range(BULK_VALIDATION + BULK_RATE_LIMIT):
        category = "validation" if i < BULK_VALIDATION else "rate_limit"
        rows.append(dict(id=100 + i, run_id=None, workflow="company_to_contact", business_key=f"C-{7000 + i}",
                         correlation_id="", category=category, system="hubspot", state="open",
                         title=f"{category} at hubspot", last_error="bad field", payload={}, owner="",
                         created_at=FIXED_NOW - 600 - i, updated_at=FIXED_NOW - 600 - i))
    with services._write.begin() as conn:
        conn.execute(insert(t.exceptions), rows)
    yield services
    services.close()


# --- bulk -----------------------------------------------------------------------------------------
async def test_bulk_resolve_previews_the_exact_count_and_the_engine_works_in_batches(bulk_services, monkeypatch):
    monkeypatch.setattr(exception_commands, "BULK_BATCH", 50)
    app = make_app(bulk_services)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot)
        await type_filter(app, pilot, "workflow:company_to_contact")
        await pilot.press("enter")
        table = app.screen.table("exceptions")
        assert table.row_total == 137 and len(row_keys(table)) == 100  # one window of 100 is loaded
        await pilot.press("asterisk")
        await settle(app, pilot)
        assert table.marked_count() == 137  # counted in the store, not the loaded window
        assert "● all 137 matching marked" in screen_text(app)
        await pilot.press("R")
        await settle(app, pilot)
        await pilot.press(*"fixed in the CRM", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Resolve 137 exceptions (validation: 130, rate_limit: 7)?"
        assert "now: 137 open" in app.screen.detail
        await pilot.press("y")
        await settle(app, pilot)
        [command] = store_rows(bulk_services, t.commands)
        assert (command["kind"], command["target"], command["status"]) == ("bulk_resolve", "exceptions:filter", "queued")
        assert command["params"]["filter"] == "workflow:company_to_contact"
        assert command["params"]["total"] == 137 and command["params"]["reason"] == "fixed in the CRM"
        assert not table.has_marks

        run_engine(bulk_services)  # one batch per pass of the command loop
        assert store_rows(bulk_services, t.commands)[0]["status"] == "running"
        assert store_rows(bulk_services, t.commands)[0]["result"] == "50 of 137"
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert "command 1 resolve: 50 of 137" in screen_text(app)
        run_engine(bulk_services)
        assert store_rows(bulk_services, t.commands)[0]["result"] == "100 of 137"
        run_engine(bulk_services)
        command = store_rows(bulk_services, t.commands)[0]
        assert (command["status"], command["result"]) == ("done", "resolved 137 of 137")
        resolved = [r for r in store_rows(bulk_services, t.exceptions) if r["state"] == "resolved"]
        assert len(resolved) == 137 and {r["resolution"] for r in resolved} == {"fixed in the CRM"}
        assert exception_row(bulk_services, 11)["state"] == "open"  # another workflow: untouched
        entries = [a for a in audit_of(bulk_services) if a[1] == "exception.resolve"]
        assert len(entries) == 137 and entries[0] == ("alice", "exception.resolve", "exception:100")
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert "resolve of the filtered exceptions done: resolved 137 of 137" in notifications(app)
        assert row_keys(table) == []


async def test_space_marks_rows_and_bulk_acknowledge_skips_what_is_acknowledged(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "14")
        await pilot.press("space", "space", "space")  # 14, 13, 12 (the cursor moves down)
        await pilot.press("up", "space")  # unmark 12
        table = app.screen.table("exceptions")
        assert table.marked == {14, 13}
        assert "● 2 marked" in screen_text(app)
        await pilot.press("a")
        await settle(app, pilot)
        assert app.screen.question == "Acknowledge 2 exceptions (downstream_5xx: 1, validation: 1)?"
        assert "1 will be skipped (not in a state to acknowledge)" in app.screen.detail
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(seeded_services) == [("bulk_acknowledge", "exceptions:marked", {"ids": [13, 14], "total": 2},
                                              "alice", "queued")]
        run_engine(seeded_services)
        command = store_rows(seeded_services, t.commands)[0]
        assert command["result"] == "acknowledged 1 of 2; 1 skipped (no longer in a state to acknowledge)"
        assert (exception_row(seeded_services, 13)["owner"], exception_row(seeded_services, 14)["owner"]) == (
            "alice", "bob")


async def test_bulk_retry_of_marked_exceptions_starts_their_runs(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "12")
        await pilot.press("space", "space")  # 12, 11
        await pilot.press("r")
        await settle(app, pilot)
        assert app.screen.question == "Retry 2 exceptions (rate_limit: 1, rejected_by_target: 1)?"
        await pilot.press("y")
        await settle(app, pilot)
        with seeded_services._write.begin() as conn:
            to_start = exception_commands.execute(
                conn, seeded_services.audit, store_rows(seeded_services, t.commands)[0],
                seeded_services.settings.has_role)
        assert sorted(to_start) == [2, 4]


async def test_star_again_clears_and_space_excludes_from_all(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "14")
        await pilot.press("asterisk")
        await settle(app, pilot)
        await pilot.press("space")  # all but 14
        table = app.screen.table("exceptions")
        assert table.marked_count() == 3
        assert table.selection_args() == {"filter_text": "", "exclude": [14]}
        await pilot.press("asterisk")
        assert not table.has_marks


async def test_bulk_replay_runs_in_the_engine_and_every_console_sees_its_progress(seeded_services, monkeypatch):
    """After an outage: marked exceptions' runs replayed by one command; a second console (another
    operator's) shows "replay by alice: 1 of 2" while the engine works and says when it is done."""
    from opsconsole.services import Services

    monkeypatch.setattr(exception_commands, "BULK_BATCH", 1)
    watcher = Services(seeded_services.settings, operator="bob", clock=seeded_services.clock)
    app, other = make_app(seeded_services), make_app(watcher)
    async with app.run_test(size=(100, 30)) as pilot, other.run_test(size=(120, 30)) as other_pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "12")
        await pilot.press("space", "space")  # 12, 11
        await pilot.press("p")
        await settle(app, pilot)
        assert app.screen.question == "Replay the runs of 2 exceptions (rate_limit: 1, rejected_by_target: 1)?"
        assert "each run from its failed step, with the mapping it ran with" in app.screen.detail
        await pilot.press("y")
        await settle(app, pilot)
        (cmd,) = store_rows(seeded_services, t.commands)
        assert (cmd["kind"], cmd["actor"], cmd["params"]["mapping"]) == ("bulk_replay", "alice", "original")

        def engine_pass() -> list[int]:
            with seeded_services._write.begin() as conn:
                row = store_rows(seeded_services, t.commands)[0]
                return exception_commands.execute(conn, seeded_services.audit, row,
                                                  seeded_services.settings.has_role)

        first = engine_pass()
        other._poll_status()
        await settle(other, other_pilot)
        assert "replay by alice: 1 of 2 (command 1)" in screen_text(other)
        second = engine_pass() + engine_pass()  # the last pass finds the selection done
        assert store_rows(seeded_services, t.commands)[0]["status"] == "done"
        assert sorted(first + second) == [2, 4]
        runs = {r["id"]: r for r in store_rows(seeded_services, t.runs)}
        assert [runs[i]["status"] for i in (2, 4)] == ["pending", "pending"]
        other._poll_status()
        await settle(other, other_pilot)
        await settle(other, other_pilot)
        assert "replay by alice" not in screen_text(other)
        assert "replay of the marked exceptions done: replayed 2 of 2" in notifications(other)
    watcher.close()
