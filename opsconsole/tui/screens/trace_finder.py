"""Find a trace (``T`` anywhere, the palette's "trace: find"): a correlation id, a business key, a
vendor id or a company name; one run found opens its trace, several are listed to pick from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from opsconsole.audit_services import TRACE_HINT
from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.runs_table import status_text
from opsconsole.viewmodels import TraceSearch

RESULT_COLUMNS = (("id", "run"), ("workflow", "workflow"), ("key", "business key"), ("status", "status"),
                  ("age", "age"), ("via", "found by"))


@dataclass
class TracesFound(Message):
    search: TraceSearch


@dataclass
class TraceSearchFailed(Message):
    query: str
    error: str


class TraceFinderScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", id="trace_finder.close")]

    def __init__(self, services: Any, query: str = "", *, search: bool = False) -> None:
        """
        Args:
            services: the facade (``find_traces``).
            query: the prompt's text to start with.
            search: search for ``query`` at once (from a conflict or a correction).
        """
        super().__init__()
        self.services = services
        self.query_text = query
        self.search_now = search and bool(query.strip())
        self.result: TraceSearch | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="finder-box"):
            yield Static(Text("Find a trace", style="bold"), id="finder-title")
            yield Input(value=self.query_text, placeholder="correlation id, business key, vendor id or company name",
                        id="finder-input")
            yield Static(Text.assemble(("searches ", "bold"), (TRACE_HINT, "dim")), id="finder-hint")
            yield Static(id="finder-message")
            yield DataTable(id="finder-results", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one("#finder-results", DataTable)
        for key, label in RESULT_COLUMNS:
            table.add_column(label, key=key)
        table.display = False
        self.query_one("#finder-message").display = False
        self.query_one(Input).focus()
        if self.search_now:
            self._search(self.query_text.strip())

    def action_close(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        if not query:
            self._say(Text("type a correlation id, a business key, a vendor id or a company name", style="yellow"))
            return
        self._search(query)

    def _say(self, text: Text) -> None:
        message = self.query_one("#finder-message", Static)
        message.display = True
        message.update(text)

    def _search(self, query: str) -> None:
        self._say(Text(f"searching for {clean(query)}…", style="dim"))
        self._find(query)

    @work(thread=True, exclusive=True, group="trace-find")
    def _find(self, query: str) -> None:
        worker = get_current_worker()
        try:
            result = self.services.find_traces(query)
        except Exception as exc:
            if not worker.is_cancelled:
                self.post_message(TraceSearchFailed(query, f"{type(exc).__name__}: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(TracesFound(result))

    def on_trace_search_failed(self, message: TraceSearchFailed) -> None:
        self._say(plain(f"cannot search for {message.query}: {message.error}", style="bold red"))

    def on_traces_found(self, message: TracesFound) -> None:
        self.result = found = message.search
        self.query_one("#finder-hint").display = False  # the answer says what was searched: room for the runs
        table = self.query_one("#finder-results", DataTable)
        table.clear()
        if not found.matches:
            table.display = False
            self._say(Text.assemble(("no run found for ", "bold yellow"), (clean(found.query), "bold"),
                                    ("\nsearched: ", "dim"), (clean(found.searched), "dim")))
            return
        if len(found.matches) == 1:
            self.dismiss(None)
            self.app.push_screen(self._trace(found.matches[0].run.id))
            return
        more = " (the newest; narrow the search to see older ones)" if found.truncated else ""
        self._say(Text.assemble((f"{len(found.matches)} runs found for ", "bold"), (clean(found.query), "bold"),
                                f"{more}: Enter opens one's trace"))
        for match in found.matches:
            run = match.run
            table.add_row(str(run.id), plain(trunc(clean(run.workflow), 18)), plain(trunc(clean(run.business_key), 34)),
                          status_text(run.status), age(run.age_s), plain(trunc(clean(match.via), 30), style="dim"),
                          key=str(run.id))
        table.display = True
        table.move_cursor(row=0, animate=False)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.app.push_screen(self._trace(int(event.row_key.value)))

    def _trace(self, run_id: int) -> Any:
        from opsconsole.tui.screens.trace import TraceScreen

        return TraceScreen(self.services, run_id)
