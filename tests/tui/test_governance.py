"""Pilot tests of the conflicts and approvals panes: listing, detail, decisions queued as commands
(and executed by the real engine), maker-checker said in words, read-only, untrusted text, 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.engine.commands import execute_queued
from opsconsole.store import tables as t
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.conflict import ConflictScreen
from opsconsole.tui.screens.correction import CorrectionScreen
from opsconsole.tui.screens.main import MainScreen
from opsconsole.tui.screens.note import NoteScreen

from .conftest import (
    ACME, EVIL_NAME_SHOWN, OPEN_CONFLICT_IDS, PENDING_CORRECTION_IDS, make_services, screen_text, store_rows,
)
from .test_actions import notifications
from .test_panes import make_app, row_keys, settle


@pytest.fixture
def bob_services(tmp_path: Path):
    """Services for bob, who holds the support role but not finance."""
    services = make_services(tmp_path, operator="bob")
    yield services
    services.close()


async def show(app, pilot, pane: str, key: str | None = None) -> None:
    await pilot.press({"conflicts": "3", "approvals": "4"}[pane])
    await settle(app, pilot)
    if key is not None:
        table = app.screen.table(pane)
        table.move_cursor(row=row_keys(table).index(key))
        await pilot.pause()


def commands(services) -> list[tuple]:
    return [(c["kind"], c["target"], c["params"], c["actor"], c["status"]) for c in store_rows(services, t.commands)]


def confirm_text(app) -> str:
    """The confirm screen's question and detail as asked (the box wraps them on screen)."""
    assert isinstance(app.screen, ConfirmScreen)
    return f"{app.screen.question}\n{app.screen.detail}"


def run_engine(services) -> None:
    """What the engine does with queued commands (in this test's process)."""
    with services._write.begin() as conn:
        execute_queued(conn, services.audit, has_role=services.settings.has_role)
    services.audit.flush_head()


# --- listing --------------------------------------------------------------------------------------
async def test_conflicts_tab_lists_the_open_conflicts(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts")
        assert app.screen.active_pane == "conflicts"
        assert row_keys(app.screen.table("conflicts")) == [str(i) for i in OPEN_CONFLICT_IDS]  # 20 is resolved
        text = screen_text(app)
        assert "3 Conflicts (3)" in text and "4 Approvals (2)" in text
        for column in ("id", "kind", "customer", "field", "$", "values (★ owner)", "age", "rule"):
            assert column in text
        line = next(line for line in text.splitlines() if line.split()[:1] == ["21"])
        assert "ownership" in line and "payment_terms" in line and " $ " in line
        assert "★xero NET30 │ hubspot NET45" in line and "1h" in line
        line = next(line for line in text.splitlines() if line.split()[:1] == ["23"])
        assert "duplicate" in line and "match 0.92" in line and "≈ xero Acme Ltd" in line
        assert "23 proposed: link the record to the known customer" in text  # the line under the table
        assert "l Link" in text and "k Keep" not in text  # a duplicate's keys only


async def test_filter_narrows_the_conflicts(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts")
        await pilot.press("slash", *"payment")
        await settle(app, pilot)
        assert row_keys(app.screen.table("conflicts")) == ["21"]
        assert "1 matching" in screen_text(app)  # beside the filter bar while it is open
        await pilot.press("enter")
        await settle(app, pilot)
        assert "3 Conflicts (3) /payment [1]" in screen_text(app)  # the tab keeps it
        await pilot.press("slash", "escape")
        await settle(app, pilot)
        assert row_keys(app.screen.table("conflicts")) == [str(i) for i in OPEN_CONFLICT_IDS]


def test_services_filter_and_provenance(seeded_services):
    assert [r.id for r in seeded_services.conflicts(text="intercom").rows] == [22]
    assert [r.id for r in seeded_services.conflicts(text="Acme Ltd").rows] == [23]  # inside the duplicate's records
    assert [r.id for r in seeded_services.corrections(text="bob").rows] == [31]
    assert seeded_services.conflicts(text="100%_").total == 0
    detail = seeded_services.conflict_detail(21)
    sources = {s.system: s for s in detail.sources}
    assert (sources["xero"].owner, sources["xero"].held, sources["xero"].event_id) == (True, True, "xero:evt-77")
    assert (sources["hubspot"].owner, sources["hubspot"].held, sources["hubspot"].event_id) == (
        False, False, "hubspot:evt-21")


# --- conflict decisions ---------------------------------------------------------------------------
async def test_keep_confirms_queues_and_reports_what_the_engine_did(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "21")
        await pilot.press("k")
        await settle(app, pilot)
        text = confirm_text(app)
        assert f"Keep the xero value of payment_terms for customer {ACME}? (conflict 21)" in text
        assert "xero (owner): NET30 stays." in text and "hubspot: NET45 is not applied." in text
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(seeded_services) == [
            ("resolve_conflict", "conflict:21", {"resolution": "keep", "note": ""}, "alice", "queued")]
        assert [a["action"] for a in store_rows(seeded_services, t.audit)] == ["resolve_conflict.requested"]
        assert "conflict 21: keep queued" in notifications(app)

        run_engine(seeded_services)  # the engine executes it; the console polls and says so
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert "resolve_conflict conflict:21 done: conflict 21 resolved: keep" in notifications(app)
        assert row_keys(app.screen.table("conflicts")) == ["23", "22"]  # reloaded: 21 is resolved


@pytest.mark.parametrize(("operator", "conflict", "why"), [
    ("alice", "21", "payment_terms is billing-impacting: raise a correction (c) for finance to approve instead"),
    ("carol", "22", "not yours to resolve a conflict: carol does not hold the support role"),  # finance only
])
async def test_a_take_that_is_refused_says_why_before_asking_and_queues_nothing(tmp_path, operator, conflict, why):
    services = make_services(tmp_path, operator=operator)
    try:
        app = make_app(services)
        async with app.run_test(size=(120, 35)) as pilot:
            await settle(app, pilot)
            await show(app, pilot, "conflicts", conflict)
            await pilot.press("t")
            await settle(app, pilot)
            assert not isinstance(app.screen, ConfirmScreen)
            assert why in notifications(app)
            assert commands(services) == []
    finally:
        services.close()


async def test_take_of_another_field_queues_it(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "22")
        await pilot.press("t")
        await settle(app, pilot)
        assert "Take the intercom value of domain" in confirm_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(seeded_services) == [
            ("resolve_conflict", "conflict:22", {"resolution": "take", "note": ""}, "alice", "queued")]


async def test_raise_correction_asks_for_a_note_then_previews_it(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "21")
        await pilot.press("c")
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"addendum signed", "enter")
        await settle(app, pilot)
        text = confirm_text(app)
        assert "Raise a correction of payment_terms" in text and "- NET30" in text and "+ NET45" in text
        assert "note: addendum signed" in text and "another finance approver must decide it" in text
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(seeded_services) == [("resolve_conflict", "conflict:21",
                                              {"resolution": "correction", "note": "addendum signed"}, "alice",
                                              "queued")]

        run_engine(seeded_services)  # the engine raises the correction: it shows up for approval
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert any("correction 33 waits for finance approval" in n for n in notifications(app))
        await show(app, pilot, "approvals", "33")
        assert "33: not yours to decide — alice requested correction 33" in screen_text(app)


async def test_cancelling_the_note_or_the_confirmation_writes_nothing(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "21")
        await pilot.press("c")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("k")
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert commands(seeded_services) == []


async def test_duplicate_link_from_the_pane_and_separate_from_the_detail(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "23")
        await pilot.press("k")  # not a duplicate's key: nothing happens
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("l")
        await settle(app, pilot)
        text = confirm_text(app)
        assert f"Link hubspot 9001 {EVIL_NAME_SHOWN} to customer {ACME}? (conflict 23)" in text
        assert "The run it held (run 5) is retried." in text
        await pilot.press("n")
        await settle(app, pilot)

        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConflictScreen)
        await pilot.press("s")
        await settle(app, pilot)
        assert f"Keep hubspot 9001 {EVIL_NAME_SHOWN} as a separate customer? (conflict 23)" in confirm_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert isinstance(app.screen, ConflictScreen)
        assert commands(seeded_services) == [
            ("resolve_conflict", "conflict:23", {"resolution": "separate", "note": ""}, "alice", "queued")]


async def test_conflict_detail_shows_values_with_provenance_rule_and_actions(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "21")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConflictScreen)
        text = screen_text(app)
        assert f"conflict 21  ownership  open  customer {ACME}  field payment_terms  $ billing-impacting" in text
        assert "rule owned by xero, source priority, billing-impacting" in text
        xero = next(line for line in text.splitlines() if "★ xero (owner)" in line)
        assert "NET30" in xero and "the golden record holds it · event xero:evt-77 · 2025-12-30 00:00 UTC" in xero
        hubspot = next(line for line in text.splitlines() if " hubspot " in line and "NET45" in line)
        assert "changed here, not applied · event hubspot:evt-21 · 2025-12-31 23:00 UTC" in hubspot
        assert "k keep" in text and "c correction" in text
        assert "t take        payment_terms is billing-impacting" in text
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen) and app.screen.active_pane == "conflicts"


# --- approvals ----------------------------------------------------------------------------------
async def test_read_only_refuses_conflict_and_approval_actions(seeded_services):
    app = make_app(seeded_services, read_only=True)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "22")
        for key, verb in (("k", "keep"), ("t", "take")):
            await pilot.press(key)
            await settle(app, pilot)
            assert not isinstance(app.screen, ConfirmScreen)
            assert f"read-only console: {verb} is disabled" in notifications(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert "k keep        read-only console: keep is disabled" in screen_text(app)
        await pilot.press("escape")
        await settle(app, pilot)
        await show(app, pilot, "approvals", "31")
        await pilot.press("a")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "read-only console: approve is disabled" in notifications(app)
        assert commands(seeded_services) == [] and store_rows(seeded_services, t.audit) == []


async def test_services_read_only_refusal_of_a_decision_is_shown(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        seeded_services.read_only = True  # the services refuse even where the console did not
        await show(app, pilot, "approvals", "31")
        await pilot.press("a")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert any("read-only" in n for n in notifications(app))
        assert commands(seeded_services) == []


async def test_company_names_with_markup_render_literally(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(140, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "23")
        assert "hubspot [bold magenta]Evil[/bol" in screen_text(app)
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert EVIL_NAME_SHOWN in text and "\x1b" not in text
        await pilot.press("escape")
        await settle(app, pilot)
        await show(app, pilot, "approvals", "32")
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert f"+ {EVIL_NAME_SHOWN}" in text and "\x1b" not in text


async def test_panes_at_80x24_keep_the_essentials(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "21")
        text = screen_text(app)
        assert "1 Runs  2 Exceptions (4)  3 Conflicts (3)  4 Approvals (2)" in text
        header = next(line for line in text.splitlines() if line.split()[:2] == ["id", "kind"])
        for column in ("customer", "field", "$", "values (★ owner)", "age"):
            assert column in header
        line = next(line for line in text.splitlines() if line.split()[:1] == ["21"])
        assert "ownership" in line and "payment_terms" in line and "★xero NET30 │ hubspot NET45" in line
        assert "1h" in line
        assert "21 proposed: keep the xero value, or raise a correction" in text
        for key in ("⏎ Detail", "k Keep", "t Take", "c Correction", "? Help", "q Quit"):
            assert key in text

        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "★ xero (owner)" in text and "NET45" in text and "c correction" in text and "esc Back" in text

        await pilot.press("escape")
        await settle(app, pilot)
        await show(app, pilot, "approvals", "32")
        text = screen_text(app)
        header = next(line for line in text.splitlines() if line.split()[:2] == ["id", "customer"])
        for column in ("field", "before → after", "impact", "requester", "age"):
            assert column in header
        assert "- Globex Ltd" in text and "- NET30" in text and "+ NET60" in text
        hint = " ".join(line.strip() for line in text.splitlines())
        assert "32: not yours to decide — alice requested correction 32; another finance approver must decide it" in hint
        for key in ("a Approve", "r Reject", "? Help", "q Quit"):
            assert key in text

        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "+ [bold magenta]Evil[/bold magenta] Corp Ltd" in text and "requested by alice" in text
        assert "r reject" in text


async def test_conflict_values_follow_the_terminal_width(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "conflicts", "22")
        assert "★hubspot globex.example │ intercom globex-suppo…" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await settle(app, pilot)
        text = screen_text(app)
        line = next(line for line in text.splitlines() if line.split()[:1] == ["22"])
        assert "★hubspot glo… │ intercom gl…" in line and line.rstrip().endswith("10m")  # narrower, age still shown
        assert app.screen.current_conflict().id == 22  # the cursor stayed on its row


async def test_keymap_remaps_a_conflict_key_and_the_palette_runs_decisions(seeded_services):
    from opsconsole.tui.commands import OpsCommands

    app = make_app(seeded_services, keymap={"conflicts.keep": "K", "app.view_conflicts": "o"})
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await settle(app, pilot)
        assert app.screen.active_pane == "conflicts"
        table = app.screen.table("conflicts")
        table.move_cursor(row=row_keys(table).index("22"))
        await pilot.pause()
        await pilot.press("k")  # no longer bound
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert "K Keep" in screen_text(app)
        await pilot.press("K")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(app, pilot)

        provider = OpsCommands(app.screen)
        hits = [hit async for hit in provider.search("conflicts: take")]
        assert hits and hits[0].text == "conflicts: take"
        await hits[0].command()
        await settle(app, pilot)
        assert "Take the intercom value of domain" in confirm_text(app)
        await pilot.press("n")
        await settle(app, pilot)
        hits = [hit async for hit in provider.search("approvals: approve")]
        await hits[0].command()  # the conflicts pane is shown: nothing to approve there
        await settle(app, pilot)
        assert "select a correction first (4 shows the approvals)" in notifications(app)
        discovered = [hit.text async for hit in provider.discover()]
        for name in ("view: conflicts", "view: approvals", "conflicts: keep", "conflicts: raise correction",
                     "conflicts: link", "conflicts: separate", "approvals: approve", "approvals: reject"):
            assert name in discovered
