"""Snapshots of the panes and screens the other snapshot modules do not cover, so that every pane
is seen at both 100x30 and 80x24 (fixed clock, fixed engine label, no live ticks): the runs pane at
100x30; exceptions, conflicts and approvals at 80x24; the trace and the replay dry run at both.
Each also asserts the seeded ids and counts it expects on screen."""

from __future__ import annotations

import pytest

from .conftest import (
    ENGINE_LABEL, OPEN_CONFLICT_IDS, OPEN_EXCEPTION_IDS, PENDING_CORRECTION_IDS, fixed_plan, screen_text,
)
from .test_snapshots import snapshot_app


def _before(app, seen: list[str], *keys: str):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        seen.append(screen_text(app))
    return run_before


def _first_columns(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines() if line.split()}


def test_runs_pane_at_100x30(seeded_services, snap_compare):
    app, seen = snapshot_app(seeded_services), []
    assert snap_compare(app, terminal_size=(100, 30), run_before=_before(app, seen))
    text = seen[0]
    assert {"1", "2", "3", "4", "5", "6"} <= _first_columns(text)  # the six seeded runs, newest first
    assert "Q-1002" in text and "C-2001" in text and "create_invoice" in text
    assert "runs 3 failed · 1 waiting · 1 running · 1 succeeded" in text
    assert ENGINE_LABEL in text and "4 open exceptions" in text


@pytest.mark.parametrize("pane,key,expect", [
    ("exceptions", "2", ["Exceptions (4)", "4 open exceptions"]),
    ("conflicts", "3", ["Conflicts (3)"]),
    ("approvals", "4", ["Approvals (2)"]),
])
def test_governance_panes_at_80x24(seeded_services, snap_compare, pane, key, expect):
    app, seen = snapshot_app(seeded_services), []
    assert snap_compare(app, terminal_size=(80, 24), run_before=_before(app, seen, key))
    text = seen[0]
    ids = {"exceptions": OPEN_EXCEPTION_IDS, "conflicts": OPEN_CONFLICT_IDS, "approvals": PENDING_CORRECTION_IDS}[pane]
    assert {str(i) for i in ids} <= _first_columns(text), text
    for words in expect:
        assert words in text
    assert "? Help" in text


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
def test_trace_of_an_exception(seeded_services, snap_compare, size):
    app, seen = snapshot_app(seeded_services), []
    # exception 11 (the fourth, newest first) belongs to run 2 (Q-1002): four spans across the CRM and the ERP
    keys = ("2", "down", "down", "down", "enter", "t")  # the exception's detail, then its trace
    assert snap_compare(app, terminal_size=size, run_before=_before(app, seen, *keys))
    text = seen[0]
    assert "run 2  quote_to_order  key Q-1002  failed  step create_invoice" in text
    assert "correlation corr0002" in text and "exception 11  rejected_by_target  xero  open" in text
    for step in ("create_customer", "create_sales_order", "create_invoice"):  # the three steps, in order
        assert step in text, step
    assert text.index("create_customer") < text.index("create_sales_order") < text.index("PUT /Invoices")
    assert "Xero 422: Account code '999'" in text


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
def test_replay_dry_run(seeded_services, snap_compare, size):
    seeded_services.plan_replay = lambda run_id, from_step=None, mapping="original": fixed_plan(run_id)
    app, seen = snapshot_app(seeded_services), []
    keys = ("down", "down", "down", "down", "p")  # run 2 (newest first: 6 5 4 3 2 1)
    assert snap_compare(app, terminal_size=size, run_before=_before(app, seen, *keys))
    text = seen[0]
    assert "replay run 2  quote_to_order  key Q-1002" in text
    assert "from step create_invoice  mapping original (version 1)" in text
    assert "1. create_invoice  xero PUT /Invoices" in text and "→ will be sent" in text
    if size == (100, 30):  # at 80x24 the diff is below the fold (the plan scrolls)
        assert '-  "AccountCode": "999"' in text and '+  "AccountCode": "200"' in text
