"""The main screen: the live panes as tabs (0 Dashboard, 1 Runs, 2 Exceptions, 3 Conflicts, 4 Approvals,
5 Connectors, 6 Audit), the filter and the status lines."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from opsconsole.tui.messages import TableTotals
from opsconsole.tui.safe import clean
from opsconsole.tui.screens.target import Target
from opsconsole.tui.widgets.approvals_table import ApprovalsTable
from opsconsole.tui.widgets.audit_table import AuditChain, AuditTable
from opsconsole.tui.widgets.conflicts_table import ConflictsTable
from opsconsole.tui.widgets.connectors_table import ConnectorsTable
from opsconsole.tui.widgets.dashboard import DashboardView
from opsconsole.tui.widgets.engine_bar import EngineBar
from opsconsole.tui.widgets.exceptions_table import ExceptionsTable
from opsconsole.tui.widgets.filter_bar import FilterBar, FilterMatches
from opsconsole.tui.widgets.keys_footer import KeysFooter
from opsconsole.tui.widgets.live_table import LiveTable
from opsconsole.tui.widgets.runs_table import RunsTable
from opsconsole.tui.widgets.status_line import StatusLine
from opsconsole.viewmodels import ConflictRow, CorrectionRow, Counts, ExceptionRow, RunRow

# each tab is labelled with the key that shows it (the footer has no room for five pane keys at 80 columns)
PANES = {"dashboard": "0 Dashboard", "runs": "1 Runs", "exceptions": "2 Exceptions", "conflicts": "3 Conflicts", "approvals": "4 Approvals",
         "connectors": "5 Connectors", "audit": "6 Audit"}
HINTED = ("exceptions", "conflicts", "approvals")
"""Panes with a line under the table about the row under the cursor."""
DASHBOARD = "dashboard"
"""The one pane that is not a table (no filter, no row under a cursor)."""


class MainScreen(Screen):
    BINDINGS = [
        Binding("0", "view('dashboard')", "Dashboard", show=False, id="app.view_dashboard"),
        Binding("1", "view('runs')", "Runs", show=False, id="app.view_runs"),
        Binding("2", "view('exceptions')", "Exceptions", show=False, id="app.view_exceptions"),
        Binding("3", "view('conflicts')", "Conflicts", show=False, id="app.view_conflicts"),
        Binding("4", "view('approvals')", "Approvals", show=False, id="app.view_approvals"),
        Binding("5", "view('connectors')", "Connectors", show=False, id="app.view_connectors"),
        Binding("6", "view('audit')", "Audit", show=False, id="app.view_audit"),
        Binding("slash", "filter", "Filter", key_display="/", id="app.filter"),
    ]

    def __init__(self, services: Any, *, refresh_s: float = 1.0) -> None:
        super().__init__(id="main")
        self.services = services
        self.refresh_s = refresh_s
        self._exceptions_open: int | None = None
        self._totals: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield EngineBar(id="engine-bar")
        with TabbedContent(initial="runs", id="panes"):
            with TabPane(PANES[DASHBOARD], id=DASHBOARD):
                yield DashboardView(self.services, refresh_s=self.refresh_s, id="dashboard-view")
            with TabPane(PANES["runs"], id="runs"):
                # the first pane's query runs while the screen is built
                yield RunsTable(self.services, refresh_s=self.refresh_s, id="runs-table").prefetch_first()
            with TabPane(PANES["exceptions"], id="exceptions"):
                yield ExceptionsTable(self.services, refresh_s=self.refresh_s, id="exceptions-table")
                yield Static(id="exceptions-hint", classes="pane-hint")
            with TabPane(PANES["conflicts"], id="conflicts"):
                yield ConflictsTable(self.services, refresh_s=self.refresh_s, id="conflicts-table")
                yield Static(id="conflicts-hint", classes="pane-hint")
            with TabPane(PANES["approvals"], id="approvals"):
                yield ApprovalsTable(self.services, refresh_s=self.refresh_s, id="approvals-table")
                yield Static(id="approvals-hint", classes="pane-hint")
            with TabPane(PANES["connectors"], id="connectors"):
                yield ConnectorsTable(self.services, refresh_s=self.refresh_s, id="connectors-table")
                yield Static(id="connectors-hint", classes="pane-hint")
            with TabPane(PANES["audit"], id="audit"):
                yield AuditChain(self.services, id="audit-chain")
                yield AuditTable(self.services, refresh_s=self.refresh_s, id="audit-table")
        with Horizontal(id="filter-row"):
            yield FilterBar(id="filter")
            yield FilterMatches(id="filter-matches")
        yield StatusLine(id="status-line")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#filter-row").display = False
        self.watch(self.app, "counts", self._counts_changed, init=True)
        self.query_one("#runs-table").focus()
        self.pane_widget().shown()  # now, not at the first resume: the fetch overlaps the first layout
        self._resumed = False

    # --- panes -------------------------------------------------------------------------------
    @property
    def active_pane(self) -> str:
        return self.query_one(TabbedContent).active or "runs"

    def table(self, pane: str | None = None) -> LiveTable:
        return self.query_one(f"#{pane or self.active_pane}-table", LiveTable)

    def pane_widget(self, pane: str | None = None) -> LiveTable | DashboardView:
        """The pane's live widget: its table, or the dashboard."""
        pane = pane or self.active_pane
        return self.query_one(DashboardView) if pane == DASHBOARD else self.table(pane)

    @property
    def dashboard(self) -> DashboardView:
        return self.query_one(DashboardView)

    def action_view(self, pane: str) -> None:
        if pane != self.active_pane:
            self.pane_widget(pane).shown()  # fetch while the tab switches (its activation skips a 2nd fetch)
        self.query_one(TabbedContent).active = pane
        self._close_filter()
        self.pane_widget(pane).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and self.is_mounted:
            return self.active_pane != DASHBOARD  # the dashboard has nothing to filter
        return True

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        widget = self.pane_widget()
        widget.shown()  # it skipped its polls while hidden
        if hasattr(widget, "pane_opened"):  # the audit pane verifies its chain when shown
            widget.pane_opened()
        filter_bar = self.query_one(FilterBar)
        if isinstance(widget, DashboardView):
            self._close_filter()
            widget.focus()
        elif self.filter_open:
            filter_bar.value = widget.filter_text
        else:
            widget.focus()
        self.refresh_bindings()

    def on_screen_resume(self) -> None:
        if not getattr(self, "_resumed", True):  # the first resume: on_mount fetched already
            self._resumed = True
            return
        if self.is_mounted:
            self.pane_widget().shown()

    def _counts_changed(self, counts: Counts | None) -> None:
        if counts is not None:
            self._exceptions_open = counts.exceptions_open
            # hidden panes do not poll: their tab counts come from the status counts
            for pane, total in (("conflicts", counts.conflicts_open), ("approvals", counts.corrections_pending)):
                if not self.table(pane).filter_text:
                    self._totals[pane] = total
        for pane in ("exceptions", "conflicts", "approvals"):
            self._relabel(pane)

    def on_table_totals(self, message: TableTotals) -> None:
        if message.pane == "exceptions" and not self.table("exceptions").filter_text:
            self._exceptions_open = message.total
        elif message.pane in HINTED and not self.table(message.pane).filter_text:
            self._totals[message.pane] = message.total
        self._relabel(message.pane)
        self._update_hint(message.pane)

    def _relabel(self, pane: str) -> None:
        """The pane's tab label: its count, and its filter with the rows matching. While the filter
        bar is open on that pane, the matches show on the bar instead: a tab label that changes width
        relays the whole screen out, which on every keystroke would cost more than the query."""
        label = PANES[pane]
        if pane == "exceptions" and self._exceptions_open is not None:
            label = f"{label} ({self._exceptions_open})"
        elif pane in self._totals:
            label = f"{label} ({self._totals[pane]})"
        table = self.table(pane)
        matches = f"{table.row_total}{'' if table.row_total_exact else '+'}"
        scope = f" in {table.row_scope}" if table.row_scope else ""
        if self.filter_open and pane == self.active_pane:
            self.query_one(FilterMatches).text = f"{matches} matching{scope}" if table.filter_text else ""
            return
        if table.filter_text:
            label += f" /{clean(table.filter_text)} [{matches}{scope}]"
        tab = self.query_one(TabbedContent).get_tab(pane)
        if tab.label_text != label:
            tab.label = label

    # --- filter --------------------------------------------------------------------------------
    def action_filter(self) -> None:
        if self.active_pane == DASHBOARD:
            self.notify("the dashboard has nothing to filter", severity="warning", markup=False)
            return
        filter_bar = self.query_one(FilterBar)
        if not hasattr(self, "_filter_hint"):
            self._filter_hint = filter_bar.placeholder
        filter_bar.placeholder = getattr(self.table(), "FILTER_HINT", "") or self._filter_hint  # the audit pane's tokens
        filter_bar.value = self.table().filter_text
        self.query_one("#filter-row").display = True
        self._relabel(self.active_pane)
        filter_bar.focus()

    @on(FilterBar.Changed, "#filter")
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.table().set_filter(event.value.strip())
        self._relabel(self.active_pane)

    def on_filter_bar_closed(self, message: FilterBar.Closed) -> None:
        self._close_filter()
        self.table().focus()

    @property
    def filter_open(self) -> bool:
        return self.query_one("#filter-row").display

    def _close_filter(self) -> None:
        if self.filter_open:
            self.query_one("#filter-row").display = False
            self.query_one(FilterMatches).text = ""
            if self.active_pane != DASHBOARD:
                self._relabel(self.active_pane)  # the tab takes the filter and its matches

    def clear_filter(self) -> None:
        """Clear the active pane's filter (the command palette's "filter: clear")."""
        if self.active_pane == DASHBOARD:
            return
        self.query_one(FilterBar).value = ""
        self.table().set_filter("")
        self._relabel(self.active_pane)
        self._close_filter()

    # --- opening a trace -----------------------------------------------------------------------
    def row_at_cursor(self) -> Any | None:
        """The view model under the active table's cursor (None on the dashboard)."""
        return None if self.active_pane == DASHBOARD else self.table().row_at_cursor()

    def current_target(self) -> Target | None:
        row = self.row_at_cursor()
        if isinstance(row, RunRow):
            return Target(row.id, None, row.current_step)
        if isinstance(row, ExceptionRow):
            return Target(row.run_id, row.id)
        return None

    def current_conflict(self) -> ConflictRow | None:
        row = self.row_at_cursor()
        return row if isinstance(row, ConflictRow) else None

    def current_correction(self) -> CorrectionRow | None:
        row = self.row_at_cursor()
        return row if isinstance(row, CorrectionRow) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        open_detail = getattr(event.data_table, "open_detail", None)
        if open_detail is not None:
            open_detail()
        else:
            self.open_trace()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        pane = getattr(event.data_table, "PANE", "")
        if pane in HINTED:
            self._update_hint(pane)

    def _update_hint(self, pane: str) -> None:
        if pane not in HINTED:
            return
        try:
            hint = self.table(pane).hint()  # type: ignore[attr-defined]
            line = self.query_one(f"#{pane}-hint", Static)
        except NoMatches:  # the screen is being taken down: a command's progress can arrive then
            return
        hint.overflow = "ellipsis"
        line.update(hint)

    def reload_after_command(self) -> None:
        """A command finished: show its effect now rather than at the next poll."""
        try:
            widget = self.pane_widget()
        except NoMatches:  # the screen is being taken down
            return
        widget.reload()

    def open_trace(self) -> None:
        target = self.current_target()
        if target is None:
            self.notify("nothing selected", severity="warning", markup=False)
            return
        from opsconsole.tui.screens.trace import TraceScreen

        self.app.push_screen(TraceScreen(self.services, target.run_id, target.exception_id))
