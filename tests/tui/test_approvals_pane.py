"""The Approvals pane: pending corrections, approve and reject, and why a correction is not yours."""

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


from .test_governance import bob_services, commands, confirm_text, run_engine, show  # noqa: F401 (a fixture)


async def test_approvals_tab_lists_pending_corrections(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "approvals", "31")
        assert row_keys(app.screen.table("approvals")) == [str(i) for i in PENDING_CORRECTION_IDS]  # 30 is approved
        text = screen_text(app)
        for column in ("before → after", "impact", "requester", "age", "yours?"):
            assert column in text
        lines = text.splitlines()
        i = next(i for i, line in enumerate(lines) if line.split()[:1] == ["31"])
        assert "- NET30" in lines[i] and "$ xero" in lines[i] and "bob" in lines[i] and "30m" in lines[i]
        assert "+ NET60" in lines[i + 1]  # the change as two diff-like lines
        assert "31: yours to decide" in text
        assert "a Approve" in text and "r Reject" in text and "r Retry" not in text


async def test_approve_confirms_queues_and_the_engine_opens_the_write(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "approvals", "31")
        await pilot.press("a")
        await settle(app, pilot)
        text = confirm_text(app)
        assert f"Approve correction 31? payment_terms of customer {ACME}" in text
        assert "- NET30" in text and "+ NET60" in text and "requested by bob" in text
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(seeded_services) == [("approve", "correction:31", {}, "alice", "queued")]
        assert "approve of correction 31 queued" in notifications(app)
        run_engine(seeded_services)
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert any(n.startswith("approve correction:31 done: correction 31 approved; run") for n in notifications(app))
        assert row_keys(app.screen.table("approvals")) == ["32"]


async def test_reject_requires_a_reason(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "approvals", "31")
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press("enter")  # empty: refused, still asking
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        assert "a rejection needs a reason" in notifications(app)
        await pilot.press(*"wrong customer", "enter")
        await settle(app, pilot)
        assert "reason: wrong customer" in confirm_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(seeded_services) == [
            ("reject", "correction:31", {"reason": "wrong customer"}, "alice", "queued")]


async def test_the_requester_is_told_why_they_cannot_approve(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(140, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "approvals", "32")
        text = screen_text(app)
        why = "alice requested correction 32; another finance approver must decide it"
        assert f"32: not yours to decide — {why}" in text
        line = next(line for line in text.splitlines() if line.split()[:1] == ["32"])
        assert "✖ your request" in line  # greyed, the reason in full under the table
        assert app.screen.table("approvals")._cells["32"][1].style == "dim"
        for key, verb in (("a", "approve"), ("r", "reject")):
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, MainScreen)
            assert f"not yours to {verb}: {why}" in notifications(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, CorrectionScreen)
        assert f"a approve  not yours to approve: {why}" in screen_text(app).replace("\n ", " ")
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, CorrectionScreen)
        assert commands(seeded_services) == []


async def test_an_operator_without_the_finance_role_is_told_so(bob_services):
    app = make_app(bob_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show(app, pilot, "approvals", "31")
        assert "31: not yours to decide — bob does not hold the finance role" in screen_text(app)
        await pilot.press("a")
        await settle(app, pilot)
        assert "not yours to approve: bob does not hold the finance role" in notifications(app)
        assert commands(bob_services) == []


# --- read-only, untrusted text, small terminals, keys ---------------------------------------------
