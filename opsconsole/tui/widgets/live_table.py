"""A live, paged table: fetches one window of rows in a thread worker and diffs it into place.

Only ``WINDOW`` rows are ever loaded; moving past either end of the window (or PgUp/PgDn at an
end) shifts it by ``STEP`` rows. At most one fetch is in flight per table (a request made meanwhile
is fetched when it returns); the refresh timer is re-armed after each fetch completes, so polls
never overlap, and a hidden table skips its poll. Each fetch updates only the cells that changed
and keeps the cursor on the same row.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable

from opsconsole.tui.messages import PageFailed, PageLoaded, TableTotals
from opsconsole.tui.widgets.live_poll import LivePoll
from opsconsole.viewmodels import Page

Cell = str | Text


class LiveTable(LivePoll, DataTable):
    """Base of the live tables (runs, exceptions, conflicts, approvals); subclasses say what to fetch
    and how a row looks."""

    WINDOW: ClassVar[int] = 100
    STEP: ClassVar[int] = 50
    PANE: ClassVar[str] = ""
    ROW_HEIGHT: ClassVar[int] = 1
    FLEX: ClassVar[tuple[int, int, int] | None] = None
    """(min, max, others): one column's text is as wide as the table less ``others`` (what the other
    columns take), kept within [min, max]; ``cells`` reads it from ``flex_width``."""
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(column key, label); the first column must be "id" with the row's id as a plain str."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Trace", id="table.open_trace"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
    ]

    def __init__(self, services: Any, *, refresh_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.services = services
        self._init_poll(refresh_s)
        self.filter_text = ""
        self.window_offset = 0
        self.row_total = 0
        self.row_total_exact = True
        """False: ``row_total`` is a floor (a filter most rows match; the count stopped at a cap)."""
        self.row_scope = ""
        """Not empty: the filter looked in this part of the store only (a term too short to index)."""
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._rows: dict[str, Any] = {}
        self._pending_cursor: tuple[str, int] | None = None
        self.flex_width = self.FLEX[0] if self.FLEX else 0

    # --- what subclasses provide -------------------------------------------------------------
    def fetch(self, offset: int, limit: int, text: str) -> Page[Any]:
        raise NotImplementedError

    def cells(self, row: Any) -> tuple[Cell, ...]:
        raise NotImplementedError

    # --- lifecycle ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)
        # no fetch here: the screen fetches the pane it shows (on_screen_resume, on a tab opened),
        # so at start the first pane's query does not queue behind six hidden ones on a large store

    def on_resize(self, event: events.Resize) -> None:
        if self.FLEX is None or not event.size.width:
            return
        low, high, others = self.FLEX
        width = max(low, min(high, event.size.width - others))
        if width != self.flex_width:
            self.flex_width = width
            self.redraw()

    def redraw(self) -> None:
        """Rebuild the rows (and the columns' widths, which otherwise only grow) from the rows last
        fetched, keeping the cursor on its row: for cells whose width follows the table's. No new
        fetch: a pane shown for the first time resizes while its first fetch is on its way."""
        key = self.key_at_cursor()
        if key is not None:
            self._pending_cursor = (key, 0)
        self.clear(columns=True)
        self._cells.clear()
        for column, label in self.COLUMNS:
            self.add_column(label, key=column)
        if self._rows:
            self._apply([(k, self.cells(row)) for k, row in self._rows.items()])

    def set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self.window_offset = 0
            self.reload()

    def _start(self) -> None:
        offset, text = self.window_offset, self.filter_text
        self._load(self._gen, lambda: self.fetch(offset, self.WINDOW, text), PageLoaded, PageFailed,
                   key=(offset, text))

    def prefetch_first(self) -> "LiveTable":
        """Fetch the first window now (see ``LivePoll.prefetch``)."""
        self.prefetch((0, ""), lambda: self.fetch(0, self.WINDOW, ""))
        return self

    # --- applying a window -------------------------------------------------------------------
    def on_page_failed(self, message: PageFailed) -> None:
        message.stop()
        if not self._returned(message.gen):
            return
        if message.error != self.last_problem:
            self.last_problem = message.error
            self.notify(message.error, title=f"{self.PANE}: cannot load", severity="error", markup=False)
        self._arm()

    def on_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        if not self._returned(message.gen):
            return  # stale (the filter or window changed meanwhile): the newer fetch arms the timer
        self.last_problem = ""
        page = message.page
        self.row_total = page.total
        self.row_total_exact = page.exact
        self.row_scope = page.scope
        if not page.rows and self.window_offset > 0 and page.total > 0:
            self.window_offset = max(0, page.total - self.WINDOW)
            self.reload()
            return
        self._rows = {str(row.id): row for row in page.rows}
        self._apply([(str(row.id), self.cells(row)) for row in page.rows])
        self.post_message(TableTotals(self.PANE, page.total, self.window_offset, len(page.rows)))
        self._arm()

    def _apply(self, rows: list[tuple[str, tuple[Cell, ...]]]) -> None:
        """Diff ``rows`` into the table: remove, add, update changed cells, reorder if needed."""
        cursor_key, cursor_row = self.key_at_cursor(), self.cursor_row
        wanted = {key for key, _ in rows}
        gone = [k for k in self._cells if k not in wanted]
        if len(gone) > len(self._cells) // 2:  # mostly new rows (a filter keystroke): remove_row is linear, clear is not
            self.clear()
            self._cells = {}
        else:
            for key in gone:
                self.remove_row(key)
                del self._cells[key]
        column_keys = [key for key, _ in self.COLUMNS]
        for key, cells in rows:
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key, height=self.ROW_HEIGHT)
            elif old != cells:
                for column, before, after in zip(column_keys, old, cells):
                    if before != after:
                        self.update_cell(key, column, after, update_width=True)
            self._cells[key] = cells
        order = [key for key, _ in rows]
        if [row.key.value for row in self.ordered_rows] != order:
            position = {key: i for i, key in enumerate(order)}
            self.sort("id", key=lambda cell: position[str(cell)])
        self._restore_cursor(cursor_key, cursor_row)

    def _restore_cursor(self, cursor_key: str | None, cursor_row: int) -> None:
        if not self.row_count:
            return
        target, delta = cursor_key, 0
        if self._pending_cursor is not None:
            target, delta = self._pending_cursor
            self._pending_cursor = None
        if target is None or target not in self._cells:
            row = min(cursor_row, self.row_count - 1)
        else:
            row = max(0, min(self.row_count - 1, self.get_row_index(target) + delta))
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False)

    def row_at_cursor(self) -> Any | None:
        """The view model under the cursor (a ``RunRow``, ``ExceptionRow``, ``ConflictRow``, ...)."""
        key = self.key_at_cursor()
        return None if key is None else self._rows.get(key)

    def key_at_cursor(self) -> str | None:
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    # --- moving the window -------------------------------------------------------------------
    def _shift(self, delta: int, cursor_delta: int) -> bool:
        offset = max(0, min(self.window_offset + delta, max(0, self.row_total - self.WINDOW)))
        if offset == self.window_offset:
            return False
        key = self.key_at_cursor()
        if key is not None:
            self._pending_cursor = (key, cursor_delta)
        self.window_offset = offset
        self.reload()
        return True

    def _at_end(self) -> bool:
        return self.cursor_row >= self.row_count - 1 and self.window_offset + self.row_count < self.row_total

    def _at_start(self) -> bool:
        return self.cursor_row <= 0 and self.window_offset > 0

    def action_cursor_down(self) -> None:
        if not (self._at_end() and self._shift(self.STEP, 1)):
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not (self._at_start() and self._shift(-self.STEP, -1)):
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if not (self._at_end() and self._shift(self.STEP, 1)):
            super().action_page_down()

    def action_page_up(self) -> None:
        if not (self._at_start() and self._shift(-self.STEP, -1)):
            super().action_page_up()
