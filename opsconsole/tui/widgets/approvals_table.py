"""The approvals pane's table (finance): corrections waiting for approval, newest first, each with
its change as two diff-like lines (before → after). A correction the operator may not decide (no
finance role, or their own request) is greyed and says why instead of offering approve/reject."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from opsconsole.tui import decisions
from opsconsole.tui.decisions import APPROVAL_BINDINGS, value_str
from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import CorrectionRow, Page

NOT_YOURS = "dim"


def change_text(row: CorrectionRow, width: int = 30, dim: bool = False) -> Text:
    """``- before`` over ``+ after``."""
    text = Text(no_wrap=True)
    text.append(f"- {value_str(row.before, width)}\n", style=NOT_YOURS if dim else "red")
    text.append(f"+ {value_str(row.after, width)}", style=NOT_YOURS if dim else "green")
    return text


def decide_text(row: CorrectionRow, operator: str) -> Text:
    """Short: the line under the table says why in full."""
    if row.why_not_yours:
        return Text("✖ your request" if row.requested_by == operator else "✖ not yours", style=NOT_YOURS)
    return Text("✔ a/r", style="bold green")


class CorrectionActions:
    """Keys on a correction (approve, reject), for the pane and the detail screen."""

    def current_correction(self) -> CorrectionRow | None:
        raise NotImplementedError

    def action_decide(self, decision: str) -> None:
        decisions.decide(self.app, self.current_correction(), decision)  # type: ignore[attr-defined]


class ApprovalsTable(CorrectionActions, LiveTable):
    PANE = "approvals"
    ROW_HEIGHT = 2
    COLUMNS = (
        ("id", "id"), ("customer", "customer"), ("field", "field"), ("change", "before → after"),
        ("impact", "impact"), ("requester", "requester"), ("age", "age"), ("decide", "yours?"),
    )
    BINDINGS = [Binding("enter", "select_cursor", "Detail", id="approvals.open"), *APPROVAL_BINDINGS]
    FLEX = (20, 48, 75)  # before and after: what the other columns leave

    def fetch(self, offset: int, limit: int, text: str) -> Page[CorrectionRow]:
        return self.services.corrections(offset=offset, limit=limit, text=text)

    def cells(self, row: CorrectionRow) -> tuple[Cell, ...]:
        dim = bool(row.why_not_yours)

        def cell(value: str, style: str = "") -> Text:
            return plain(value, style=NOT_YOURS if dim else style)

        return (
            str(row.id), cell(trunc(clean(row.canonical_id), 10)), cell(trunc(clean(row.field), 13)),
            change_text(row, self.flex_width, dim), cell(f"$ {clean(row.target_system)}", "bold yellow"),
            cell(trunc(clean(row.requested_by), 12)), age(row.age_s),
            decide_text(row, getattr(self.services, "operator", "")),
        )

    def current_correction(self) -> CorrectionRow | None:
        row = self.row_at_cursor()
        return row if isinstance(row, CorrectionRow) else None

    def hint(self) -> Text:
        """One line under the table: whether the correction under the cursor is the operator's to decide."""
        row = self.current_correction()
        if row is None:
            return Text("no corrections waiting for approval", style="dim")
        if row.why_not_yours:
            return Text.assemble((f"{row.id}: not yours to decide — ", "bold yellow"), clean(row.why_not_yours))
        return Text.assemble((f"{row.id}: yours to decide — ", "bold green"), "a approve · r reject (with a reason)")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def open_detail(self) -> None:
        row = self.current_correction()
        if row is None:
            self.notify("nothing selected", severity="warning", markup=False)
            return
        from opsconsole.tui.screens.correction import CorrectionScreen

        self.app.push_screen(CorrectionScreen(self.services, row.id))
