"""Keys: remappable bindings (every one has an id), the help screen, the command palette."""

from __future__ import annotations

from textual.binding import Binding

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.commands import COMMANDS, OpsCommands
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.conflict import ConflictScreen
from opsconsole.tui.screens.correction import CorrectionScreen
from opsconsole.tui.screens.exception import ExceptionScreen
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.screens.main import MainScreen
from opsconsole.tui.screens.note import NoteScreen
from opsconsole.tui.screens.replay import ReplayScreen
from opsconsole.tui.screens.trace import TraceScreen
from opsconsole.tui.widgets.approvals_table import ApprovalsTable
from opsconsole.tui.widgets.conflicts_table import ConflictsTable
from opsconsole.tui.widgets.exceptions_table import ExceptionsTable
from opsconsole.tui.widgets.filter_bar import FilterBar
from opsconsole.tui.widgets.live_table import LiveTable

from .conftest import screen_text
from .test_panes import make_app, row_keys, settle

# the detail screens reuse their pane's decision bindings (the same objects, so one keymap entry remaps both)
_CLASSES = (OpsConsoleApp, MainScreen, LiveTable, ConflictsTable, ApprovalsTable, FilterBar, TraceScreen, ReplayScreen,
            ConflictScreen, CorrectionScreen, ConfirmScreen, NoteScreen, HelpScreen, ExceptionsTable, ExceptionScreen)
ALL_BINDINGS = list({id(b): b for cls in _CLASSES for b in cls.BINDINGS}.values())


def test_every_binding_has_a_unique_id():
    assert all(isinstance(b, Binding) and b.id for b in ALL_BINDINGS)
    ids = [b.id for b in ALL_BINDINGS]
    assert len(ids) == len(set(ids))


def test_commands_are_named_area_verb():
    names = [name for name, _, _ in COMMANDS]
    for required in ("exceptions: retry", "runs: open trace", "replay: dry run", "view: runs", "view: exceptions",
                     "filter: clear", "view: conflicts", "view: approvals", "conflicts: keep", "approvals: reject",
                     "exceptions: acknowledge", "exceptions: assign", "exceptions: resolve", "exceptions: mark",
                     "exceptions: mark all", "exceptions: sort", "exceptions: open detail"):
        assert required in names
    assert all(": " in name for name in names)


async def test_keymap_remaps_a_binding(seeded_services):
    app = make_app(seeded_services, keymap={"app.view_exceptions": "e", "exceptions.retry": "ctrl+r"})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        assert app.screen.active_pane == "exceptions"
        table = app.screen.table("exceptions")
        table.move_cursor(row=row_keys(table).index("11"))
        await pilot.press("r")  # no longer bound
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)


async def test_help_lists_every_binding(seeded_services):
    app = make_app(seeded_services, keymap={"exceptions.retry": "ctrl+r"})
    async with app.run_test(size=(120, 80)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for binding in ALL_BINDINGS:
            assert binding.id in text
        assert "ctrl+r" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_command_palette_provider_runs_commands(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        provider = OpsCommands(app.screen)
        hits = [hit async for hit in provider.search("view: exc")]
        assert hits and hits[0].text == "view: exceptions"
        await hits[0].command()
        await settle(app, pilot)
        assert app.screen.active_pane == "exceptions"
        discovered = [hit.text async for hit in provider.discover()]
        assert "replay: dry run" in discovered


async def test_command_palette_opens_from_keyboard(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"view: exceptions")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen.active_pane == "exceptions"


def test_lease_text_says_when_the_engine_stopped_cleanly():
    from opsconsole.tui.widgets.engine_bar import lease_text
    from opsconsole.viewmodels import EngineStatus

    released = EngineStatus("attached", "worker:h:1", 2, False, "", -1e9, released=True)
    assert lease_text(released).plain == "✖ no engine: worker:h:1 stopped and released the lease"
    expired = EngineStatus("attached", "worker:h:1", 2, False, "", -90.0)
    assert lease_text(expired).plain == "✖ lease worker:h:1 expired 1m ago"
