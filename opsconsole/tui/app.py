"""The opsconsole terminal console.

Talks only to :class:`opsconsole.services.Services` (every call in a thread worker that posts a
typed message back) and renders :mod:`opsconsole.viewmodels`. Actions (retry, replay, resolving a
conflict, approving or rejecting a correction) are written by the services as commands the engine
executes; the console then polls the command's state.
"""

from __future__ import annotations

import os
import sys

from functools import partial
from typing import Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.timer import Timer

from opsconsole.services import OPEN_STATES, ActionRefused, Services
from opsconsole.tui import decisions, exception_actions
from opsconsole.tui.commands import OpsCommands
from opsconsole.tui.hangup import HangupWatch
from opsconsole.tui.idle_gc import IdleCollector
from opsconsole.tui.messages import (
    ActionFailed, ActionRefusedNotice, CommandProgress, CommandQueued, RetryPreview, StatusFailed, StatusLoaded,
)
from opsconsole.tui.safe import clean
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.exception import ExceptionScreen
from opsconsole.tui.screens.conflict import ConflictScreen
from opsconsole.tui.screens.correction import CorrectionScreen
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.screens.main import MainScreen
from opsconsole.tui.screens.note import NoteScreen
from opsconsole.tui.screens.replay import ReplayScreen
from opsconsole.tui.screens.target import Target
from opsconsole.tui.screens.trace import TraceScreen
from opsconsole.tui.screens.trace_finder import TraceFinderScreen
from opsconsole.tui.widgets.approvals_table import ApprovalsTable
from opsconsole.tui.widgets.audit_table import AuditTable
from opsconsole.tui.widgets.conflicts_table import ConflictsTable
from opsconsole.tui.widgets.exceptions_table import ExceptionsTable
from opsconsole.tui.widgets.connectors_table import ConnectorsTable
from opsconsole.tui.widgets.filter_bar import FilterBar
from opsconsole.tui.widgets.live_table import LiveTable
from opsconsole.viewmodels import CommandReceipt, Counts, EngineStatus

COMMAND_POLL_S = 0.5
COMMAND_POLL_MAX = 1200  # ten minutes, then the audit pane is where to look


FIRST_STATUS_S = 0.2
"""Seconds after start before the first status poll."""
SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval while the console runs (Python's default is 0.005)."""


class OpsConsoleApp(App):
    TITLE = "opsconsole"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {OpsCommands}
    BINDINGS = [
        Binding("r", "retry", "Retry", id="exceptions.retry"),
        Binding("p", "replay", "Replay", id="replay.dry_run"),
        Binding("T", "find_trace", "Find trace", show=False, id="trace.find"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    counts: reactive[Counts | None] = reactive(None)
    engine: reactive[EngineStatus | None] = reactive(None)

    def __init__(self, services: Services, *, engine_label: str = "", read_only: bool = False,
                 refresh_s: float = 1.0, keymap: dict[str, str] | None = None) -> None:
        """
        Args:
            services: the facade every query and action goes through.
            engine_label: one line from the host saying whose engine this console watches.
            read_only: refuse every action (the services may refuse on their own as well).
            refresh_s: seconds between live polls (re-armed after each poll completes).
            keymap: binding id -> keys, e.g. ``{"exceptions.retry": "ctrl+r"}``.
        """
        super().__init__()
        # no animations unless TEXTUAL_ANIMATIONS asks: a tab's sliding underline or a smooth scroll
        # costs each keystroke a few frames of repaint, which over SSH is bandwidth and latency
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"
        self.services = services
        self.engine_label = engine_label
        self.read_only = read_only or bool(getattr(services, "read_only", False))
        self.refresh_s = refresh_s
        self.keymap = dict(keymap or {})
        self._status_timer: Timer | None = None
        self._tracked: set[int] = set()
        self.collector = IdleCollector()
        self.hangup = HangupWatch()
        """Commands whose end this console reports (those it queued, and bulk work it saw finish)."""

    def on_mount(self) -> None:
        # the panes' fetches run in threads while this loop renders: with Python's default 5 ms
        # switch interval a fetch waited up to 5 ms for the interpreter after each SQLite call and
        # a 30 ms query took 150 ms beside a repaint
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.collector.start(self)
        self.hangup.start(self)
        if self.keymap:
            self.set_keymap(self.keymap)
        self.push_screen(MainScreen(self.services, refresh_s=self.refresh_s))
        # the status counts a moment later: at start they would compete with the first pane's fetch
        self._status_timer = self.set_timer(FIRST_STATUS_S, self._poll_status, name="status-first")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.collector.input()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self.collector.stop()

    # --- live status -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="status")
    def _poll_status(self) -> None:
        try:
            counts, engine = self.services.counts(), self.services.engine_status()
        except Exception as exc:
            self.post_message(StatusFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(StatusLoaded(counts, engine))

    def on_status_loaded(self, message: StatusLoaded) -> None:
        before = {c.id for c in self.counts.background} if self.counts is not None else set()
        self.counts, self.engine = message.counts, message.engine
        # bulk work someone else asked for finished: say how it ended here too (ours are tracked already)
        for command_id in sorted(before - {c.id for c in message.counts.background} - self._tracked):
            self._tracked.add(command_id)
            self._poll_command(command_id, 0)
        self._arm_status()

    def on_status_failed(self, message: StatusFailed) -> None:
        self._arm_status()

    def _arm_status(self) -> None:
        if self._status_timer is not None:
            self._status_timer.stop()
        self._status_timer = self.set_timer(self.refresh_s, self._poll_status, name="status-refresh")

    # --- navigation --------------------------------------------------------------------------
    def _main(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def _to_main(self) -> MainScreen | None:
        main = self._main()
        while main is not None and self.screen is not main and len(self.screen_stack) > 1:
            self.pop_screen()
        return main

    def action_view(self, pane: str) -> None:
        main = self._to_main()
        if main is not None:
            main.action_view(pane)

    def action_filter(self) -> None:
        main = self._to_main()
        if main is not None:
            main.action_filter()

    def action_clear_filter(self) -> None:
        main = self._main()
        if main is not None:
            main.clear_filter()

    def action_open_trace(self) -> None:
        if isinstance(self.screen, MainScreen):
            self.screen.open_trace()

    def action_find_trace(self, query: str = "") -> None:
        """Ask for a correlation id, business key, vendor id or company name and open its trace."""
        if isinstance(self.screen, TraceFinderScreen):
            self.screen.query_one("#finder-input").focus()
            return
        self.push_screen(TraceFinderScreen(self.services, query, search=bool(query)))

    def action_verify_audit(self) -> None:
        main = self._to_main()
        if main is None:
            return
        if main.active_pane != "audit":
            main.action_view("audit")  # showing the audit pane verifies its chain
        else:
            main.table("audit").action_verify()  # type: ignore[attr-defined]

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections = [
            ("console", self.BINDINGS), ("panes", MainScreen.BINDINGS), ("tables", LiveTable.BINDINGS),
            ("exceptions", ExceptionsTable.BINDINGS), ("exception", ExceptionScreen.BINDINGS[:3]),
            ("conflicts", ConflictsTable.BINDINGS), ("approvals", ApprovalsTable.BINDINGS),
            ("connectors", ConnectorsTable.BINDINGS[1:]),
            ("filter", FilterBar.BINDINGS), ("trace", TraceScreen.BINDINGS), ("replay", ReplayScreen.BINDINGS),
            ("audit", AuditTable.BINDINGS), ("find trace", TraceFinderScreen.BINDINGS),
            ("conflict", ConflictScreen.BINDINGS[:3]), ("correction", CorrectionScreen.BINDINGS[:3]),
            ("confirm", ConfirmScreen.BINDINGS), ("note", NoteScreen.BINDINGS), ("help", HelpScreen.BINDINGS),
        ]
        self.push_screen(HelpScreen(sections, self.keymap))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retry", "replay"):
            if isinstance(self.screen, MainScreen) and self.screen.is_mounted:  # not on conflicts, approvals
                return self.screen.active_pane in ("runs", "exceptions")
            return hasattr(self.screen, "current_target")
        return True

    def _target(self) -> Target | None:
        get = getattr(self.screen, "current_target", None)
        target = get() if get is not None else None
        if target is None:
            self.notify("select a run or an exception first", severity="warning", markup=False)
        return target

    # --- retry --------------------------------------------------------------------------------
    def action_retry(self) -> None:
        if self.read_only:
            self.notify("read-only console: retry is disabled", title="refused", severity="warning",
                        markup=False)
            return
        why = exception_actions.refusal(self, "retry", None)  # the support role
        if why:
            self.notify(clean(why), title="refused", severity="warning", markup=False)
            return
        table = self._marked_exceptions()
        if table is not None:  # marked rows: one bulk retry, after a preview of the count
            exception_actions.act(self, "retry", None, table)
            return
        target = self._target()
        if target is not None:
            self._prepare_retry(target)

    @work(thread=True, exclusive=True, group="retry-prepare")
    def _prepare_retry(self, target: Target) -> None:
        try:
            exception_id, run_id, step = target.exception_id, target.run_id, target.step
            if run_id is not None:
                detail = self.services.run_detail(run_id)
                if exception_id is None:
                    open_ = [e for e in detail.exceptions if e.state in OPEN_STATES]
                    if not open_:
                        self.post_message(ActionRefusedNotice(f"run {run_id} has no open exception to retry"))
                        return
                    exception_id = open_[-1].id
                failed = [s.name for s in detail.steps if s.status == "failed"]
                step = failed[-1] if failed else detail.run.current_step
        except Exception as exc:
            self.post_message(ActionFailed("retry", f"{type(exc).__name__}: {exc}"))
            return
        if run_id is None:  # a malformed event: there is no step to run again
            self.post_message(ActionRefusedNotice(
                f"exception {exception_id} is a malformed event with no run: nothing to retry; fix the sender"))
            return
        self.post_message(RetryPreview(exception_id, run_id, step))  # type: ignore[arg-type]

    def on_retry_preview(self, message: RetryPreview) -> None:
        where = f"run {message.run_id}, step {clean(message.step) or '?'}" if message.run_id else "no run"
        question = f"Retry exception {message.exception_id} ({where})?"
        detail = "Runs the failed step again now, with the same inputs and idempotency key (no duplicates)."

        def answered(yes: bool | None) -> None:
            if yes:
                self._retry(message.exception_id)

        self.push_screen(ConfirmScreen(question, detail), answered)

    @work(thread=True, exclusive=True, group="retry")
    def _retry(self, exception_id: int) -> None:
        try:
            receipt = self.services.retry(exception_id)
        except ActionRefused as exc:
            self.post_message(ActionRefusedNotice(str(exc)))
            return
        except Exception as exc:
            self.post_message(ActionFailed("retry failed", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(CommandQueued(receipt))

    # --- replay -------------------------------------------------------------------------------
    def action_replay(self) -> None:
        table = self._marked_exceptions()
        if table is not None:  # marked rows (after an outage): one bulk replay, after a preview of the count
            exception_actions.act(self, "replay", None, table)
            return
        target = self._target()
        if target is None:
            return
        if target.run_id is None:
            self.notify(f"{target.describe()} has no run to replay (a malformed event): fix the sender",
                        severity="warning", markup=False)
            return
        self.push_screen(ReplayScreen(self.services, target.run_id, read_only=self.read_only))

    # --- conflicts and corrections (the palette's; the panes and detail screens bind their own keys) ---
    def action_conflict(self, resolution: str) -> None:
        get = getattr(self.screen, "current_conflict", None)
        row = get() if get is not None else None
        if row is None:
            self.notify("select a conflict first (3 shows the conflicts)", severity="warning", markup=False)
            return
        decisions.resolve(self, row, resolution)

    def action_decide(self, decision: str) -> None:
        get = getattr(self.screen, "current_correction", None)
        row = get() if get is not None else None
        if row is None:
            self.notify("select a correction first (4 shows the approvals)", severity="warning", markup=False)
            return
        decisions.decide(self, row, decision)

    def action_connector_pause(self, pause: bool) -> None:
        main = self._main()
        if main is None or self.screen is not main or main.active_pane != "connectors":
            self.notify("select a connector first (5 shows the connectors)", severity="warning", markup=False)
            return
        main.query_one(ConnectorsTable).action_pause(pause)

    # --- exceptions (the palette's; the pane and the detail screen bind the keys) ---
    def _marked_exceptions(self) -> ExceptionsTable | None:
        """The exceptions table, when it is the pane shown and has marked rows."""
        if isinstance(self.screen, MainScreen) and self.screen.is_mounted and self.screen.active_pane == "exceptions":
            table = self.screen.query_one(ExceptionsTable)
            return table if table.has_marks else None
        return None

    def action_exception(self, verb: str) -> None:
        """acknowledge, assign, resolve; mark, mark_all, sort (the exceptions pane's keys)."""
        if isinstance(self.screen, ExceptionScreen):
            self.screen.action_exception(verb)
            return
        main = self._main()
        if main is None or self.screen is not main or main.active_pane != "exceptions":
            self.notify("select an exception first (2 shows the exceptions)", severity="warning", markup=False)
            return
        table = main.query_one(ExceptionsTable)
        actions = {"mark": table.action_mark, "mark_all": table.action_mark_all, "sort": table.action_cycle_sort}
        if verb in actions:
            actions[verb]()
        else:
            table.action_exception(verb)

    def action_open_detail(self) -> None:
        if isinstance(self.screen, MainScreen):
            if self.screen.active_pane == "dashboard":  # no rows there: says "nothing selected"
                self.screen.open_trace()
                return
            open_detail = getattr(self.screen.table(), "open_detail", None)
            if open_detail is not None:
                open_detail()
            else:
                self.screen.open_trace()

    # --- commands ------------------------------------------------------------------------------
    def on_action_refused_notice(self, message: ActionRefusedNotice) -> None:
        self.notify(clean(message.message), title="refused", severity="warning", markup=False)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(clean(message.error), title=message.title, severity="error", markup=False)

    def on_command_queued(self, message: CommandQueued) -> None:
        self.track_command(message.receipt)

    def track_command(self, receipt: CommandReceipt) -> None:
        """Say the command was queued, then poll its state until the engine finishes it."""
        self.notify(clean(receipt.message), title=f"command {receipt.command_id}", markup=False)
        self._tracked.add(receipt.command_id)
        self._poll_command(receipt.command_id, 0)

    def _poll_command(self, command_id: int, polls: int) -> None:
        # one exclusive group per command: several commands can be tracked at once
        self.run_worker(partial(self._read_command, command_id, polls), thread=True, exclusive=True,
                        group=f"command-{command_id}")

    def _read_command(self, command_id: int, polls: int) -> None:
        try:
            state = self.services.command(command_id)
        except Exception as exc:
            self.post_message(ActionFailed(f"command {command_id}", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(CommandProgress(state, polls))

    def on_command_progress(self, message: CommandProgress) -> None:
        state = message.state
        exception_actions.track_progress(self, state)  # a bulk command's "n of N", under the exceptions
        if state.status in ("done", "failed"):
            what = f"{state.kind} {state.target}"
            if state.kind.startswith("bulk_"):  # "replay of the marked exceptions", not "bulk_replay exceptions:marked"
                which = {"filter": "filtered"}.get(state.target.partition(":")[2], state.target.partition(":")[2])
                what = f"{state.kind.removeprefix('bulk_')} of the {which} exceptions"
            text = f"{what} {state.status}" + (f": {clean(state.result)}" if state.result else "")
            self.notify(text, title=f"command {state.command_id}",
                        severity="error" if state.status == "failed" else "information", markup=False)
            if isinstance(self.screen, TraceScreen):
                self.screen.action_reload()
            elif hasattr(self.screen, "reload_after_command"):  # conflicts, approvals and their details
                self.screen.reload_after_command()
        elif message.polls < COMMAND_POLL_MAX:
            self.set_timer(COMMAND_POLL_S, lambda: self._poll_command(state.command_id, message.polls + 1))


def run_console(services: Services, **kwargs: Any) -> None:
    """Run the console in this terminal until the operator quits."""
    OpsConsoleApp(services, **kwargs).run()
