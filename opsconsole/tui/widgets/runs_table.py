"""The runs pane's table: one window of ``services.runs``, newest first."""

from __future__ import annotations

from rich.text import Text

from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import Page, RunRow

STATUS_STYLE = {"failed": "bold red", "succeeded": "green", "running": "cyan", "waiting": "yellow", "pending": "dim"}


def status_text(status: str) -> Text:
    return plain(status, style=STATUS_STYLE.get(status, ""))


class RunsTable(LiveTable):
    PANE = "runs"
    COLUMNS = (
        ("id", "id"), ("workflow", "workflow"), ("business_key", "business key"), ("status", "status"),
        ("step", "step"), ("retries", "retries"), ("age", "age"), ("last_error", "last error"),
    )

    def fetch(self, offset: int, limit: int, text: str) -> Page[RunRow]:
        return self.services.runs(offset=offset, limit=limit, text=text)

    def cells(self, row: RunRow) -> tuple[Cell, ...]:
        return (
            str(row.id), plain(trunc(clean(row.workflow), 16)), plain(trunc(clean(row.business_key), 24)),
            status_text(row.status), plain(trunc(clean(row.current_step), 18)),
            plain(str(row.retries), style="yellow" if row.retries else "dim"), age(row.age_s),
            plain(trunc(clean(row.last_error), 60), style="red"),
        )

