"""The Connectors pane's table: one two-line row per connector (hubspot, xero, intercom) with its
state (active / paused, by whom, since when), last successful call, error rate over the last hour,
the rate-limit budget the engine's governor has left, and the webhooks it rejected in the last day.
``P`` pauses the connector under the cursor, ``U`` resumes it (commands the engine executes)."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static

from opsconsole.tui.fmt import age, trunc
from opsconsole.tui.safe import clean
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import ConnectorRow, Page

STALE_S = 60.0
"""An engine record of the budget older than this is shown as stale (the engine may be gone)."""


def state_text(row: ConnectorRow) -> Text:
    if row.paused:
        text = Text("⏸ paused", style="bold yellow")
        text.append(f"\n{trunc(clean(row.changed_by), 8)} {age(row.changed_age_s)}", style="yellow")
    else:
        text = Text("● active", style="bold green")
        if row.changed_by:  # resumed by someone
            text.append(f"\n{age(row.changed_age_s)} ago", style="dim")
    return text


def last_ok_text(row: ConnectorRow) -> Text:
    if row.last_success_age_s is None:
        return Text("never", style="dim")
    text = Text(f"{age(row.last_success_age_s)} ago")
    if row.last_success_at is not None:
        text.append(f"\n{row.last_success_at:%H:%M:%S}", style="dim")
    return text


def errors_text(row: ConnectorRow) -> Text:
    rate = row.error_rate
    if rate is None:
        return Text("—\nno calls", style="dim")
    style = "bold red" if rate >= 20 else ("yellow" if rate > 0 else "green")
    text = Text(f"{rate:.1f}%", style=style)
    text.append(f"\n{row.errors_hour}/{row.calls_hour}", style="dim")
    return text


def budget_text(row: ConnectorRow) -> Text:
    if row.budget_age_s is None:
        return Text("—\nno engine", style="dim")
    left = "?" if row.budget_left is None else str(row.budget_left)
    limit = "" if row.budget_limit is None else f"/{row.budget_limit}"
    low = row.budget_left is not None and row.budget_limit and row.budget_left <= max(1, row.budget_limit // 10)
    text = Text(f"{left}{limit}", style="bold red" if low or row.blocked_for_s else "")
    if row.blocked_for_s:
        text.append(f"\n429 wait {row.blocked_for_s:.0f}s", style="red")
    elif row.budget_age_s > STALE_S:
        text.append(f"\nstale {age(row.budget_age_s)}", style="yellow")
    elif row.throttled:
        text.append(f"\n{row.throttled}× 429", style="yellow")
    return text


def rejected_text(row: ConnectorRow, width: int) -> Text:
    text = Text(f"{row.rejected_24h} in 24h", style="bold red" if row.rejected_24h else "dim", no_wrap=True)
    if row.last_rejection:
        text.append(f"\n{trunc(clean(row.last_rejection) + f', {age(row.last_rejection_age_s)} ago', width)}",
                    style="dim")
    return text


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


class ConnectorsTable(LiveTable):
    PANE = "connectors"
    ROW_HEIGHT = 2
    WINDOW = 10
    COLUMNS = (
        ("id", "connector"), ("state", "state"), ("last_ok", "last ok"), ("errors", "err 1h"),
        ("budget", "budget"), ("rejected", "rejected webhooks"),
    )
    BINDINGS = [
        Binding("enter", "select_cursor", "Detail", show=False, id="connectors.open"),
        Binding("P", "pause(True)", "Pause", id="connectors.pause"),
        Binding("U", "pause(False)", "Resume", id="connectors.resume"),
    ]
    FLEX = (16, 44, 58)  # the last rejection's reason: what the other columns leave

    def fetch(self, offset: int, limit: int, text: str) -> Page[ConnectorRow]:
        return self.services.connectors(offset=offset, limit=limit, text=text)

    def cells(self, row: ConnectorRow) -> tuple[Cell, ...]:
        return (row.id, state_text(row), last_ok_text(row), errors_text(row), budget_text(row),
                rejected_text(row, self.flex_width))

    def current_connector(self) -> ConnectorRow | None:
        row = self.row_at_cursor()
        return row if isinstance(row, ConnectorRow) else None

    # --- the line under the table ---------------------------------------------------------------
    def hint(self) -> Text:
        row = self.current_connector()
        if row is None:
            return Text("no connectors", style="dim")
        if row.paused:
            since = f" since {row.changed_at:%Y-%m-%d %H:%M} UTC" if row.changed_at else ""
            why = f" ({clean(row.reason)})" if row.reason else ""
            return Text.assemble((f"{row.id}: paused by {clean(row.changed_by)}{since}{why}", "bold yellow"),
                                 f" — {_steps(row.waiting_steps)} waiting · U resume")
        return Text.assemble((f"{row.id}: active", "bold green"),
                             f" — {_steps(row.waiting_steps)} waiting (backoff) · P pause")

    def _show_hint(self) -> None:
        try:
            hint = self.screen.query_one("#connectors-hint", Static)
        except Exception:
            return
        text = self.hint()
        text.overflow = "ellipsis"
        text.no_wrap = True
        hint.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_hint()

    def _apply(self, rows) -> None:  # the hint follows every refresh (a pause shows at once)
        super()._apply(rows)
        self._show_hint()

    def open_detail(self) -> None:
        self._show_hint()

    # --- pause / resume ------------------------------------------------------------------------
    def action_pause(self, pause: bool) -> None:
        from opsconsole.tui import decisions

        verb = "pause" if pause else "resume"
        row = self.current_connector()
        if row is None:
            self.notify("select a connector first", severity="warning", markup=False)
            return
        why = ("read-only console: " + verb + " is disabled") if getattr(self.app, "read_only", False) else \
            self.services.why_not_pause(row.id, pause)
        if not why and pause and row.paused:
            why = f"{row.id} is already paused (by {row.changed_by})"
        if not why and not pause and not row.paused:
            why = f"{row.id} is not paused"
        if why:
            self.notify(clean(why), title="refused", severity="warning", markup=False)
            return
        if pause:
            question = f"Pause {row.id}?"
            detail = (f"No step is sent to {row.id} until you resume it: each run waits at its {row.id} step, "
                      f"or before reading its source from {row.id} (no attempt counted, nothing dropped). "
                      "Webhooks are still accepted and stored.")
            call = partial(self.services.pause_connector, row.id)
        else:
            question = f"Resume {row.id}? ({_steps(row.waiting_steps)} waiting)"
            detail = (f"Paused by {clean(row.changed_by)} {age(row.changed_age_s)} ago. "
                      f"The runs waiting for {row.id} continue, oldest first.")
            call = partial(self.services.resume_connector, row.id)
        decisions._confirm_then_submit(self.app, question, detail, call, f"{verb} failed")
