"""The exceptions pane's table: one window of open (and acknowledged) exceptions, newest first."""

from __future__ import annotations

from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import ExceptionRow, Page

STATE_STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green", "closed": "dim"}


class ExceptionsTable(LiveTable):
    PANE = "exceptions"
    COLUMNS = (
        ("id", "id"), ("workflow", "workflow"), ("category", "category"), ("system", "system"),
        ("business_key", "business key"), ("age", "age"), ("state", "state"), ("last_error", "last error"),
    )

    def fetch(self, offset: int, limit: int, text: str) -> Page[ExceptionRow]:
        return self.services.exceptions(offset=offset, limit=limit, text=text)

    def cells(self, row: ExceptionRow) -> tuple[Cell, ...]:
        return (
            str(row.id), plain(trunc(clean(row.workflow), 20)), plain(row.category, style="magenta"),
            plain(row.system), plain(trunc(clean(row.business_key), 24)), age(row.age_s),
            plain(row.state, style=STATE_STYLE.get(row.state, "")),
            plain(trunc(clean(row.last_error), 50), style="red"),
        )
