"""The exceptions pane's table: one window of the exceptions matching the `/` filter (free text and
``key:value`` facets, default open and acknowledged), in the chosen sort; rows can be marked
(``space``, or ``*`` for every exception the filter matches, counted in the store) so that
acknowledge, assign, resolve and retry act on all of them at once."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from opsconsole.filters import SORTS, check
from opsconsole.tui import exception_actions
from opsconsole.tui.exception_actions import VERB_BINDINGS
from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.filter_bar import FilterBar
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import ExceptionRow, Page

STATE_STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green", "closed": "dim"}
MARK = "●"


class ExceptionsTable(LiveTable):
    PANE = "exceptions"
    COLUMNS = (
        ("mark", " "), ("id", "id"), ("workflow", "workflow"), ("category", "category"), ("system", "system"),
        ("business_key", "business key"), ("age", "age"), ("state", "state"), ("last_error", "last error"),
    )
    BINDINGS = [
        Binding("enter", "select_cursor", "Detail", id="exceptions.open"),
        *VERB_BINDINGS,
        # not in the footer (the pane's hint line says it): at 80 columns "? Help" must stay in sight
        Binding("space", "mark", "Mark", show=False, id="exceptions.mark"),
        Binding("asterisk", "mark_all", "Mark all", key_display="*", show=False, id="exceptions.mark_all"),
        Binding("s", "cycle_sort", "Sort", show=False, id="exceptions.sort"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sort_order = "newest"
        self.filter_error = ""
        self.marked: set[int] = set()
        self.all_filter: str | None = None
        """``*``: every exception matching this filter is marked (less ``excluded``)."""
        self.all_count: int | None = None
        self.excluded: set[int] = set()

    def fetch(self, offset: int, limit: int, text: str) -> Page[ExceptionRow]:
        return self.services.exceptions(offset=offset, limit=limit, text=text, sort=self.sort_order)

    def is_marked(self, exception_id: int) -> bool:
        if self.all_filter is not None:
            return exception_id not in self.excluded
        return exception_id in self.marked

    def cells(self, row: ExceptionRow) -> tuple[Cell, ...]:
        return (
            Text(MARK if self.is_marked(row.id) else " ", style="bold yellow"),
            str(row.id), plain(trunc(clean(row.workflow), 20)), plain(row.category, style="magenta"),
            plain(row.system), plain(trunc(clean(row.business_key), 24)), age(row.age_s),
            plain(row.state, style=STATE_STYLE.get(row.state, "")),
            plain(trunc(clean(row.last_error), 50), style="red"),
        )

    # --- the filter: facets are checked as they are typed ----------------------------------------
    def set_filter(self, text: str) -> None:
        error = check(text) or ""
        for bar in self.screen.query(FilterBar):  # (it clears itself on each change: other panes have no facets)
            bar.show_error(error)
        if error != self.filter_error:
            self.filter_error = error
            self._hint_changed()
        if error:
            return  # keep showing what the last good filter matched
        if text != self.filter_text and self.all_filter is not None:
            self.clear_marks()
        super().set_filter(text)

    # --- sort ---------------------------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        order = list(SORTS)
        self.sort_order = order[(order.index(self.sort_order) + 1) % len(order)]
        self.window_offset = 0
        self.reload()  # the cursor stays on its exception
        self._hint_changed()

    # --- marks ----------------------------------------------------------------------------------------
    @property
    def has_marks(self) -> bool:
        return bool(self.marked) or self.all_filter is not None

    def marked_count(self) -> int | None:
        if self.all_filter is not None:
            return None if self.all_count is None else max(0, self.all_count - len(self.excluded))
        return len(self.marked)

    def selection_args(self) -> dict:
        """What :meth:`Services.bulk_preview` counts: the marked ids, or the filter less the unmarked."""
        if self.all_filter is not None:
            return {"filter_text": self.all_filter, "exclude": sorted(self.excluded)}
        return {"ids": sorted(self.marked)}

    def clear_marks(self) -> None:
        self.marked.clear()
        self.excluded.clear()
        self.all_filter = None
        self.all_count = None
        self._remark()

    def action_mark(self) -> None:
        row = self.row_at_cursor()
        if not isinstance(row, ExceptionRow):
            return
        target = self.excluded if self.all_filter is not None else self.marked
        target.symmetric_difference_update({row.id})
        self._remark()
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1, animate=False)

    def action_mark_all(self) -> None:
        if self.all_filter is not None:
            self.clear_marks()
            return
        self.marked.clear()
        self.excluded.clear()
        self.all_filter = self.filter_text
        self.all_count = None
        self._remark()
        self._count_all(self.filter_text)

    def _count_all(self, text: str) -> None:
        def count() -> None:  # a thread worker: the store counts every match, not just this window
            try:
                total = self.services.bulk_preview(filter_text=text).total
            except Exception as exc:
                self.app.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", severity="error", markup=False)
                return
            self.app.call_from_thread(self._counted, text, total)

        self.run_worker(count, thread=True, group="exceptions-count")

    def _counted(self, text: str, total: int) -> None:
        if self.all_filter == text:
            self.all_count = total
            self._hint_changed()

    def _remark(self) -> None:
        self._apply([(str(row.id), self.cells(row)) for row in self._rows.values()])
        self._hint_changed()

    # --- actions -------------------------------------------------------------------------------------
    def current_exception(self) -> ExceptionRow | None:
        row = self.row_at_cursor()
        return row if isinstance(row, ExceptionRow) else None

    def action_exception(self, verb: str) -> None:
        exception_actions.act(self.app, verb, self.current_exception(), self)

    def open_detail(self) -> None:
        row = self.current_exception()
        if row is None:
            self.notify("nothing selected", severity="warning", markup=False)
            return
        from opsconsole.tui.screens.exception import ExceptionScreen

        self.app.push_screen(ExceptionScreen(self.services, row.id))

    # --- the line under the table -------------------------------------------------------------------
    def _hint_changed(self) -> None:
        update = getattr(self.screen, "_update_hint", None)
        if update is not None:
            update(self.PANE)

    def hint(self) -> Text:
        text = Text(no_wrap=True)
        text.append("sort ", style="dim")
        text.append(SORTS[self.sort_order], style="bold")
        text.append(" (s)", style="dim")
        if self.has_marks:
            n = self.marked_count()
            text.append("  ·  ", style="dim")
            what = (f"all {'…' if n is None else n} matching" if self.all_filter is not None else str(n))
            text.append(f"{MARK} {what} marked", style="bold yellow")
            text.append(" (a/A/R/r/p; * clears)" if self.all_filter is not None else " (a/A/R/r/p)", style="dim")
        else:
            text.append("  ·  space marks, * marks all matching", style="dim")
        progress = exception_actions.progress_text(self.app)
        if progress:
            text.append("  ·  ", style="dim")
            text.append(progress, style="bold cyan")
        return text  # a bad filter token is explained under the filter bar itself
