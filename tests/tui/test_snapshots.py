"""Snapshots of the panes at 100x30 (and the runs pane and the dashboard at 80x24): fixed clock, fixed engine
label, no live ticks."""

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
    assert "4 open exceptions" in text and "1 rejected webhook " in text
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


def _dashboard_before(app, seen: list[str]):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("0")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        seen.append(screen_text(app))

    return run_before


def _assert_dashboard_counts(text: str, *, compact: bool) -> None:
    from .dashboard_data import EXPECTED_AGES, EXPECTED_THROUGHPUT

    lines = text.splitlines()
    assert "0 Dashboard  1 Runs  2 Exceptions (11)" in text
    for workflow, (succeeded, failed, rate, retries, _) in EXPECTED_THROUGHPUT.items():
        line = next(line for line in lines if line.split()[:1] == [workflow])
        assert line.split()[-4:] == [str(succeeded), str(failed), rate, str(retries)], workflow
    for category, (sla, within, nearing, breached) in EXPECTED_AGES.items():
        line = next(line for line in lines if line.split()[:1] == [category])
        assert line.split()[1:] == [sla, str(within), str(nearing), str(breached)], category
    assert "open exceptions      SLA within SLA nearing breached" in text if compact else (
        "Exceptions by age against SLA" in text and "Throughput per workflow, last 60 minutes" in text)
    assert "Business milestones (as of 2026-01-01)" in text
    assert any(line.split() == ["orders", "awaiting", "billing", "approval", "2"] for line in lines)
    assert "1-30: 2  31-60: 1  61-90: 1  90+: 2" in text
    assert "EUR 150.45 · GBP 200.00 · USD 1000.00" in text
    assert any(line.split() == ["onboardings", "delayed", "1"] for line in lines)
    assert any(line.split() == ["renewals", "blocked", "by", "payment", "2"] for line in lines)


def test_dashboard_snapshot(dashboard_services, snap_compare):
    app = snapshot_app(dashboard_services)
    seen: list[str] = []
    assert snap_compare(app, terminal_size=(100, 30), run_before=_dashboard_before(app, seen))
    _assert_dashboard_counts(seen[0], compact=False)


def test_dashboard_at_80x24_stacks_and_shrinks(dashboard_services, snap_compare):
    app = snapshot_app(dashboard_services)
    seen: list[str] = []
    assert snap_compare(app, terminal_size=(80, 24), run_before=_dashboard_before(app, seen))
    text = seen[0]
    _assert_dashboard_counts(text, compact=True)
    # everything on one screen: the last milestone is above the status line
    lines = text.splitlines()
    assert [i for i, line in enumerate(lines) if "renewals blocked by payment" in line][0] < len(lines) - 3
