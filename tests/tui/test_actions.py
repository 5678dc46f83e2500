"""Pilot tests of the actions: retry and replay write commands (and audit entries); read-only refuses."""

from __future__ import annotations

import pytest

from sqlalchemy import update

from opsconsole.store import tables as t
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.replay import ReplayScreen

from .conftest import fixed_plan, screen_text, store_rows
from .test_panes import make_app, row_keys, settle


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


async def select(app, pilot, pane: str, key: str) -> None:
    await pilot.press("1" if pane == "runs" else "2")
    await settle(app, pilot)
    table = app.screen.table(pane)
    table.move_cursor(row=row_keys(table).index(key))
    await pilot.pause()


async def test_retry_exception_confirm_writes_command_and_audit(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "exceptions", "11")
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Retry exception 11 (run 2, step create_invoice)?" in screen_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        commands = store_rows(seeded_services, t.commands)
        assert len(commands) == 1
        command = commands[0]
        assert (command["kind"], command["target"], command["status"], command["actor"]) == (
            "retry", "exception:11", "queued", "alice")
        state = seeded_services.command(command["id"])
        assert state.status == "queued"
        audit = store_rows(seeded_services, t.audit)
        assert [(a["actor"], a["action"], a["subject"]) for a in audit] == [("alice", "retry.requested", "exception:11")]
        assert "retry of exception 11 (run 2) queued" in notifications(app)

        # the engine finishes it: the console polls the command and says so
        with seeded_services._write.begin() as conn:
            conn.execute(update(t.commands).values(status="done", result="step create_invoice succeeded"))
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert any("done: step create_invoice succeeded" in n for n in notifications(app))


async def test_retry_on_a_run_targets_its_open_exception(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "runs", "4")
        await pilot.press("r")
        await settle(app, pilot)
        assert "Retry exception 12 (run 4, step create_customer)?" in screen_text(app)
        await pilot.press("n")
        await settle(app, pilot)
        assert store_rows(seeded_services, t.commands) == []


async def test_retry_on_a_run_without_exception_is_refused(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "runs", "5")
        await pilot.press("r")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "run 5 has no open exception to retry" in notifications(app)


async def test_retry_of_a_malformed_event_is_refused_before_asking(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "exceptions", "13")  # a malformed event: no run to retry
        await pilot.press("r")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("malformed event with no run: nothing to retry" in n for n in notifications(app))
        assert store_rows(seeded_services, t.commands) == []


def test_services_refuse_a_malformed_event_retry_too(seeded_services):
    from opsconsole.services import ActionRefused

    with pytest.raises(ActionRefused, match="malformed event with no run"):
        seeded_services.retry(13)
    assert store_rows(seeded_services, t.commands) == []


async def test_read_only_services_make_a_read_only_console(seeded_services):
    seeded_services.read_only = True
    app = make_app(seeded_services)
    assert app.read_only


async def test_read_only_refuses_without_writing(seeded_services):
    app = make_app(seeded_services, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert "READ-ONLY" in screen_text(app)
        await select(app, pilot, "exceptions", "11")
        await pilot.press("r")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "read-only console: retry is disabled" in notifications(app)
        seeded_services.plan_replay = lambda run_id, from_step=None, mapping="original": fixed_plan(run_id)
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, ReplayScreen)  # the dry run is allowed, the replay is not
        await pilot.press("enter")
        await settle(app, pilot)
        assert "read-only console: replay is disabled" in notifications(app)
        assert store_rows(seeded_services, t.commands) == []
        assert store_rows(seeded_services, t.audit) == []


async def test_services_read_only_refusal_is_caught(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        seeded_services.read_only = True  # the services refuse even where the console did not
        await select(app, pilot, "exceptions", "11")
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert any("read-only" in n for n in notifications(app))
        assert store_rows(seeded_services, t.commands) == []


async def test_replay_dry_run_then_confirm_queues_command(seeded_services, monkeypatch):
    calls = []

    def plan_replay(run_id, from_step=None, mapping="original"):
        calls.append((run_id, from_step, mapping))
        return fixed_plan(run_id, from_step or "create_invoice", mapping)

    monkeypatch.setattr(seeded_services, "plan_replay", plan_replay)
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "runs", "2")
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, ReplayScreen)
        assert calls == [(2, None, "original")]
        text = screen_text(app)
        assert "from step create_invoice" in text and "mapping original" in text
        assert "will be sent" in text and '"AccountCode": "200"' in text
        assert '-  "AccountCode": "999"' in text and '+  "AccountCode": "200"' in text
        assert "Q-1002:create_invoice" in text

        await pilot.press("m")  # re-plan with the current mapping
        await settle(app, pilot)
        assert calls[-1] == (2, "create_invoice", "current")
        assert "mapping current (version 2)" in screen_text(app)
        await pilot.press("left_square_bracket", "left_square_bracket")  # from an earlier step
        await settle(app, pilot)
        assert calls[-1][1] == "upsert_contact"
        assert "already in the ERP — will be skipped" in screen_text(app)

        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, ReplayScreen)
        commands = store_rows(seeded_services, t.commands)
        assert [(c["kind"], c["target"], c["params"], c["actor"], c["status"]) for c in commands] == [
            ("replay", "run:2", {"from_step": "upsert_contact", "mapping": "current"}, "alice", "queued")]
        assert [a["action"] for a in store_rows(seeded_services, t.audit)] == ["replay.requested"]
        assert "replay of run 2 from upsert_contact queued" in notifications(app)


async def test_replay_with_problems_cannot_be_confirmed(seeded_services, monkeypatch):
    problem = "quote 1002: line 1 AccountCode '999' is not an account in the ERP"
    monkeypatch.setattr(seeded_services, "plan_replay",
                        lambda run_id, from_step=None, mapping="original": fixed_plan(run_id, problems=[problem]))
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "runs", "2")
        await pilot.press("p")
        await settle(app, pilot)
        text = screen_text(app)
        assert "replay would fail validation" in text and "is not an account in the ERP" in text
        await pilot.press("enter", "y")
        await settle(app, pilot)
        assert isinstance(app.screen, ReplayScreen)
        assert any("replay would fail validation" in n for n in notifications(app))
        assert store_rows(seeded_services, t.commands) == []
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.id == "main"


async def test_replay_from_the_trace_screen(seeded_services, monkeypatch):
    monkeypatch.setattr(seeded_services, "plan_replay",
                        lambda run_id, from_step=None, mapping="original": fixed_plan(run_id))
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "exceptions", "11")
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, ReplayScreen) and app.screen.run_id == 2
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("r")
        await settle(app, pilot)
        assert "Retry exception 11 (run 2, step create_invoice)?" in screen_text(app)


async def test_plan_failure_is_shown(seeded_services, monkeypatch):
    def boom(run_id, from_step=None, mapping="original"):
        raise ConnectionError("xero sandbox unreachable")

    monkeypatch.setattr(seeded_services, "plan_replay", boom)
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "runs", "2")
        await pilot.press("p")
        await settle(app, pilot)
        assert "the dry run failed" in screen_text(app) and "xero sandbox unreachable" in screen_text(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert store_rows(seeded_services, t.commands) == []
