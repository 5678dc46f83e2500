"""Snapshots of the panes at 100x30 (and the runs pane at 80x24): fixed clock, fixed engine label, no live ticks."""

from __future__ import annotations

from opsconsole.tui.app import OpsConsoleApp

from .conftest import ENGINE_LABEL, OPEN_EXCEPTION_IDS, screen_text


def snapshot_app(services) -> OpsConsoleApp:
    # refresh_s: no live poll fires while the snapshot is taken
    return OpsConsoleApp(services, engine_label=ENGINE_LABEL, refresh_s=3600)


def test_exceptions_pane_snapshot(seeded_services, snap_compare):
    app = snapshot_app(seeded_services)
    seen: list[str] = []

    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("2")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        seen.append(screen_text(app))

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    text = seen[0]
    assert "Exceptions (4)" in text
    lines = text.splitlines()
    for exception_id in OPEN_EXCEPTION_IDS:
        assert any(line.split()[:1] == [str(exception_id)] for line in lines), exception_id
    assert "10 " not in [line[:3] for line in lines]  # the closed exception is not listed
    assert ENGINE_LABEL in text and "4 open exceptions" in text


def test_runs_pane_at_80x24_keeps_the_essentials(seeded_services, snap_compare):
    app = snapshot_app(seeded_services)
    seen: list[str] = []

    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        seen.append(screen_text(app))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    text = seen[0]
    assert ENGINE_LABEL in text and "lease console:opsbox:4242" in text
    assert "Runs" in text and "Exceptions (4)" in text
    for column in ("id", "workflow", "business key", "status"):
        assert column in text
    assert "4 open exceptions" in text and "1 rejected webhooks" in text
    assert "r Retry" in text and "? Help" in text


def test_conflicts_pane_snapshot(seeded_services, snap_compare):
    from .conftest import OPEN_CONFLICT_IDS

    app = snapshot_app(seeded_services)
    seen: list[str] = []

    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        seen.append(screen_text(app))

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    text = seen[0]
    assert "3 Conflicts (3)" in text
    lines = text.splitlines()
    for conflict_id in OPEN_CONFLICT_IDS:
        assert any(line.split()[:1] == [str(conflict_id)] for line in lines), conflict_id
    assert "★xero NET30 │ hubspot NET45" in text and "23 proposed:" in text


def test_approvals_pane_snapshot(seeded_services, snap_compare):
    from .conftest import PENDING_CORRECTION_IDS

    app = snapshot_app(seeded_services)
    seen: list[str] = []

    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("4")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        seen.append(screen_text(app))

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    text = seen[0]
    assert "4 Approvals (2)" in text
    lines = text.splitlines()
    for correction_id in PENDING_CORRECTION_IDS:
        assert any(line.split()[:1] == [str(correction_id)] for line in lines), correction_id
    assert "- NET30" in text and "+ NET60" in text and "32: not yours to decide" in text
