"""The conflicts pane's table: one window of open ownership conflicts and suspected duplicates,
newest first, each system's value side by side (the owner's marked ★)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from opsconsole.tui import decisions
from opsconsole.tui.decisions import CONFLICT_BINDINGS, value_str
from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import ConflictRow, Page

KIND_STYLE = {"ownership": "yellow", "duplicate": "cyan"}
OWNER_MARK = "★"
BILLING_MARK = "$"


def kind_text(kind: str) -> Text:
    return plain(kind, style=KIND_STYLE.get(kind, ""))


def fit(parts: list[str], width: int) -> list[str]:
    """``parts`` cut, longest first, until together they take at most ``width`` characters."""
    lengths = [len(p) for p in parts]
    while sum(lengths) > width and max(lengths) > 4:
        lengths[lengths.index(max(lengths))] -= 1
    return [trunc(p, n) for p, n in zip(parts, lengths)]


def values_text(row: ConflictRow, width: int = 28) -> Text:
    """The systems' values side by side in ``width`` characters: the owner's first, marked ★; for a
    suspected duplicate, the incoming record ≈ the known customer's."""
    text = Text(no_wrap=True)
    if row.kind == "duplicate":
        sides = [row.values.get("record", {}), row.values.get("candidate", {})]
        parts = fit([clean(f"{s.get('system', '')} {s.get('legal_name') or s.get('name') or s.get('external_id', '')}")
                     for s in sides], width - 3)
        text.append(parts[0])
        text.append(" ≈ ", style="dim")
        text.append(parts[1], style="dim")
        return text
    systems = sorted(row.values or {}, key=lambda s: (s != row.owner, s != row.challenger, s))
    marks = [OWNER_MARK if s == row.owner else "" for s in systems]
    parts = fit([f"{clean(s)} {value_str(row.values[s])}" for s in systems],
                width - 3 * max(0, len(systems) - 1) - sum(len(m) for m in marks))
    for i, (mark, part) in enumerate(zip(marks, parts)):
        if i:
            text.append(" │ ", style="dim")
        text.append(mark, style="bold green")
        text.append(part, style="green" if mark else "")
    return text


def field_text(row: ConflictRow) -> Text:
    if row.kind == "duplicate":
        return plain(f"match {row.score:.2f}" if row.score is not None else "match", style="dim")
    return plain(trunc(clean(row.field), 13))


class ConflictActions:
    """Keys on a conflict (keep, take, correction, link, separate), for the pane and the detail screen."""

    def current_conflict(self) -> ConflictRow | None:
        raise NotImplementedError

    def action_resolve(self, resolution: str) -> None:
        decisions.resolve(self.app, self.current_conflict(), resolution)  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resolve" and parameters:
            row = self.current_conflict()
            if row is not None:  # only the keys that resolve this kind of conflict
                return parameters[0] in decisions.RESOLUTIONS.get(row.kind, ())
        return super().check_action(action, parameters)  # type: ignore[misc]


class ConflictsTable(ConflictActions, LiveTable):
    PANE = "conflicts"
    COLUMNS = (
        ("id", "id"), ("kind", "kind"), ("customer", "customer"), ("field", "field"), ("billing", BILLING_MARK),
        ("values", f"values ({OWNER_MARK} owner)"), ("age", "age"), ("rule", "rule"), ("proposed", "proposed"),
    )
    BINDINGS = [Binding("enter", "select_cursor", "Detail", id="conflicts.open"), *CONFLICT_BINDINGS]
    FLEX = (28, 48, 52)  # the values column: what id, kind, customer, field, $ and age leave

    def fetch(self, offset: int, limit: int, text: str) -> Page[ConflictRow]:
        return self.services.conflicts(offset=offset, limit=limit, text=text)

    def cells(self, row: ConflictRow) -> tuple[Cell, ...]:
        return (
            str(row.id), kind_text(row.kind), plain(trunc(clean(row.canonical_id), 10)), field_text(row),
            plain(BILLING_MARK if row.billing_impacting else "", style="bold yellow"),
            values_text(row, self.flex_width),
            age(row.age_s), plain(trunc(clean(row.rule), 40), style="dim"), plain(trunc(clean(row.proposed), 60)),
        )

    def current_conflict(self) -> ConflictRow | None:
        row = self.row_at_cursor()
        return row if isinstance(row, ConflictRow) else None

    def hint(self) -> Text:
        """One line under the table about the row under the cursor: what is proposed."""
        row = self.current_conflict()
        if row is None:
            return Text("no open conflicts", style="dim")
        return Text.assemble((f"{row.id} proposed: ", "bold"), trunc(clean(row.proposed), 200))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def open_detail(self) -> None:
        row = self.current_conflict()
        if row is None:
            self.notify("nothing selected", severity="warning", markup=False)
            return
        from opsconsole.tui.screens.conflict import ConflictScreen

        self.app.push_screen(ConflictScreen(self.services, row.id))
