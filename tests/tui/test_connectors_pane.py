"""The Connectors pane: exact values from seeded spans, governor records, paused state and rejected
webhooks; pause and resume through P / U (command rows, audit entries, the engine executing them);
refusals without the support role and in a read-only console."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.store import tables as t
from opsconsole.tui.screens.confirm import ConfirmScreen

from .conftest import make_services, screen_text, store_rows
from .connectors_data import seed_connectors
from .test_actions import notifications
from .test_governance import commands, confirm_text, run_engine
from .test_panes import make_app, row_keys, settle


def _services(tmp_path: Path, **kwargs):
    services = make_services(tmp_path, **kwargs)
    seed_connectors(services.settings.store_url)
    return services


@pytest.fixture
def connector_services(tmp_path: Path):
    services = _services(tmp_path)
    yield services
    services.close()


async def show_connectors(app, pilot, key: str | None = None) -> None:
    await pilot.press("5")
    await settle(app, pilot)
    if key is not None:
        table = app.screen.table("connectors")
        table.move_cursor(row=row_keys(table).index(key))
        await pilot.pause()


def row_lines(text: str, system: str) -> tuple[str, str]:
    """A connector's two lines on screen."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.split()[:1] == [system])
    return lines[i], lines[i + 1]


def test_the_services_read_each_connector_from_the_store(connector_services):
    rows = {r.id: r for r in connector_services.connectors().rows}
    assert list(rows) == ["hubspot", "xero", "intercom"]
    hubspot, xero, intercom = rows["hubspot"], rows["xero"], rows["intercom"]
    assert (hubspot.paused, hubspot.calls_hour, hubspot.errors_hour, hubspot.error_rate) == (False, 4, 1, 25.0)
    assert hubspot.last_success_age_s == 30 and (hubspot.budget_left, hubspot.budget_limit) == (95, 100)
    assert (hubspot.rejected_24h, hubspot.last_rejection, hubspot.last_rejection_age_s) == (2, "bad signature", 120)
    assert (xero.paused, xero.changed_by, xero.changed_age_s, xero.reason) == (True, "bob", 300, "Xero maintenance")
    assert (xero.calls_hour, xero.errors_hour, xero.error_rate, xero.waiting_steps) == (2, 2, 100.0, 1)
    assert xero.last_success_age_s == 7198  # conftest's PUT /Quotes, 2 h ago
    assert (xero.budget_left, xero.budget_limit, xero.blocked_for_s, xero.throttled) == (0, 60, 12.0, 2)
    assert (xero.rejected_24h, xero.last_rejection) == (0, "bad x-xero-signature")
    assert (intercom.last_success_at, intercom.error_rate, intercom.budget_age_s, intercom.rejected_24h) == (
        None, None, None, 0)
    assert [r.id for r in connector_services.connectors(text="paused").rows] == ["xero"]


async def test_connectors_tab_shows_each_connector(connector_services):
    app = make_app(connector_services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show_connectors(app, pilot)
        assert row_keys(app.screen.table("connectors")) == ["hubspot", "xero", "intercom"]
        text = screen_text(app)
        assert "5 Connectors" in text
        for column in ("connector", "state", "last ok", "err 1h", "budget", "rejected webhooks"):
            assert column in text
        top, bottom = row_lines(text, "hubspot")
        assert "● active" in top and "30s ago" in top and "25.0%" in top and "95/100" in top and "2 in 24h" in top
        assert "23:59:30" in bottom and "1/4" in bottom and "bad signature, 2m ago" in bottom
        top, bottom = row_lines(text, "xero")
        assert "⏸ paused" in top and "1h ago" in top and "100.0%" in top and "0/60" in top and "0 in 24h" in top
        assert "bob 5m" in bottom and "2/2" in bottom and "429 wait 12s" in bottom
        assert "bad x-xero-signature, 3d ago" in bottom
        top, bottom = row_lines(text, "intercom")
        assert "never" in top and "no calls" in bottom and "no engine" in bottom
        assert "hubspot: active — 0 steps waiting (backoff) · P pause" in text
        assert "P Pause" in text and "U Resume" in text and "r Retry" not in text
        app.screen.table("connectors").move_cursor(row=1)
        await pilot.pause()
        assert ("xero: paused by bob since 2025-12-31 23:55 UTC (Xero maintenance) — 1 step waiting · U resume"
                in screen_text(app))


async def test_pause_and_resume_are_commands_the_engine_executes(connector_services):
    services = connector_services
    app = make_app(services)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(app, pilot)
        await show_connectors(app, pilot, "hubspot")
        await pilot.press("P")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert confirm_text(app).startswith("Pause hubspot?\nNo step is sent to hubspot until you resume it")
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(services) == [("pause_connector", "connector:hubspot", {}, "alice", "queued")]
        assert "pause of hubspot queued" in notifications(app)
        audit = store_rows(services, t.audit)
        assert [(a["actor"], a["action"], a["subject"]) for a in audit] == [
            ("alice", "pause_connector.requested", "connector:hubspot")]
        run_engine(services)
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert ("pause_connector connector:hubspot done: hubspot paused: its steps wait until it is resumed"
                in notifications(app))
        top, bottom = row_lines(screen_text(app), "hubspot")
        assert "⏸ paused" in top and "alice 0s" in bottom

        await show_connectors(app, pilot, "xero")
        await pilot.press("U")
        await settle(app, pilot)
        assert confirm_text(app).startswith("Resume xero? (1 step waiting)\nPaused by bob 5m ago.")
        await pilot.press("y")
        await settle(app, pilot)
        assert commands(services)[-1] == ("resume_connector", "connector:xero", {}, "alice", "queued")
        run_engine(services)
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert ("resume_connector connector:xero done: xero resumed: its waiting runs continue, oldest first"
                in notifications(app))
        assert "● active" in row_lines(screen_text(app), "xero")[0]
        audit = [(a["actor"], a["action"]) for a in store_rows(services, t.audit)]
        assert audit == [("alice", "pause_connector.requested"), ("engine", "command.done"),
                         ("alice", "resume_connector.requested"), ("engine", "command.done")]

        # a connector already in that state is refused before any command is written
        await pilot.press("U")
        await settle(app, pilot)
        assert "xero is not paused" in notifications(app)
        assert len(commands(services)) == 2


async def test_pause_is_refused_without_the_support_role(tmp_path):
    services = _services(tmp_path, operator="carol")  # finance only
    try:
        app = make_app(services)
        async with app.run_test(size=(120, 35)) as pilot:
            await settle(app, pilot)
            await show_connectors(app, pilot, "hubspot")
            await pilot.press("P")
            await settle(app, pilot)
            assert not isinstance(app.screen, ConfirmScreen)
            assert "carol does not hold the support role: only support may pause a connector" in notifications(app)
            await show_connectors(app, pilot, "xero")
            await pilot.press("U")
            await settle(app, pilot)
            assert "carol does not hold the support role: only support may resume a connector" in notifications(app)
            assert commands(services) == [] and store_rows(services, t.audit) == []
    finally:
        services.close()


async def test_pause_is_refused_in_a_read_only_console(tmp_path):
    services = _services(tmp_path, read_only=True)
    try:
        app = make_app(services, read_only=True)
        async with app.run_test(size=(120, 35)) as pilot:
            await settle(app, pilot)
            await show_connectors(app, pilot, "hubspot")
            await pilot.press("P")
            await settle(app, pilot)
            assert not isinstance(app.screen, ConfirmScreen)
            assert "read-only console: pause is disabled" in notifications(app)
            await show_connectors(app, pilot, "xero")
            await pilot.press("U")
            await settle(app, pilot)
            assert "read-only console: resume is disabled" in notifications(app)
            assert commands(services) == []
    finally:
        services.close()
    # the services refuse on their own too (the CLI, a console that skipped its check)
    from opsconsole.services import ActionRefused

    (tmp_path / "again").mkdir()
    services = _services(tmp_path / "again", read_only=True)
    try:
        with pytest.raises(ActionRefused, match=r"read-only \(--read-only\): pause is disabled"):
            services.pause_connector("hubspot")
    finally:
        services.close()


async def test_palette_and_help_name_the_connector_actions(connector_services):
    from opsconsole.tui.commands import COMMANDS

    names = [name for name, _, _ in COMMANDS]
    assert {"connectors: show", "connectors: pause", "connectors: resume"} <= set(names)
    app = make_app(connector_services)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(app, pilot)
        await app.run_action("view('connectors')")
        await settle(app, pilot)
        assert app.screen.active_pane == "connectors"
        await app.run_action("connector_pause(True)")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen) and app.screen.question == "Pause hubspot?"
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        text = screen_text(app)
        assert "connectors.pause" in text and "connectors.resume" in text and "app.view_connectors" in text
