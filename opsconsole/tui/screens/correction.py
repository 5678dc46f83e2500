"""One correction, for finance: the whole before and after, who asked and why, and approve/reject
(or why the operator may not decide it)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from opsconsole.tui.decisions import APPROVAL_BINDINGS, correction_refusal, value_str
from opsconsole.tui.fmt import age
from opsconsole.tui.messages import DetailFailed, DetailLoaded, post_detail
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.approvals_table import CorrectionActions
from opsconsole.tui.widgets.engine_bar import EngineBar
from opsconsole.tui.widgets.keys_footer import KeysFooter
from opsconsole.viewmodels import CorrectionRow

STATE_STYLE = {"pending": "bold yellow", "approved": "green", "applied": "bold green", "rejected": "red",
               "refused": "bold red", "failed": "bold red"}


def correction_text(row: CorrectionRow, read_only: bool) -> Text:
    text = Text.assemble(
        ("correction ", "bold"), (str(row.id), "bold"), "  ", (clean(row.state), STATE_STYLE.get(row.state, "")),
        "  ", ("customer ", "dim"), clean(row.canonical_id), "  ", ("field ", "dim"), (clean(row.field), "bold"),
        "\n", ("$ billing-impacting: ", "bold yellow"), f"writes {clean(row.target_system)}",
        "  ", ("age ", "dim"), age(row.age_s),
        ("  conflict " if row.conflict_id is not None else "", "dim"),
        str(row.conflict_id) if row.conflict_id is not None else "",
        "\n\n", ("change\n", "bold underline"),
    )
    text.append_text(plain(f"- {value_str(row.before)}", oneline=False, style="red"))
    text.append("\n")
    text.append_text(plain(f"+ {value_str(row.after)}", oneline=False, style="green"))
    text.append_text(Text.assemble("\n\n", ("requested by ", "dim"), (clean(row.requested_by), "bold"), "\n",
                                   ("reason ", "dim"), clean(row.reason, oneline=False) or "(none given)"))
    if row.decided_by or row.decision_reason:
        text.append_text(Text.assemble("\n", ("decided by ", "dim"), clean(row.decided_by) or "—",
                                       ("  " if row.decision_reason else "", ""), clean(row.decision_reason)))
    if row.state == "pending":
        text.append("\n\nactions\n", style="bold underline")
        for key, decision, what in (("a", "approve", "the engine re-checks maker-checker, then writes the ERP"),
                                    ("r", "reject", "asks for a reason (required); nothing is written")):
            why = correction_refusal(row, decision, read_only)
            text.append(f"  {key} ", style="bold dim" if why else "bold cyan")
            text.append(f"{decision:<9}", style="dim" if why else "bold")
            text.append(clean(why or what) + "\n", style="yellow" if why else "")
    return text


class CorrectionScreen(CorrectionActions, Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="correction.back"),
        Binding("ctrl+r", "reload", "Reload", id="correction.reload"),
        Binding("t,T", "trace", "Trace", id="correction.trace"),
        *APPROVAL_BINDINGS,
    ]

    def __init__(self, services: Any, correction_id: int) -> None:
        super().__init__()
        self.services = services
        self.correction_id = correction_id
        self.row: CorrectionRow | None = None

    def compose(self) -> ComposeResult:
        yield EngineBar(id="engine-bar")
        with VerticalScroll(id="correction-body"):
            yield Static(Text(f"correction {self.correction_id}: loading…", style="dim"), id="correction-text")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#correction-body").focus()
        self.action_reload()

    def current_correction(self) -> CorrectionRow | None:
        return self.row

    def action_back(self) -> None:
        self.dismiss()

    def action_trace(self) -> None:
        """The trace of the run that applies the correction, or (none yet) the runs of its record."""
        row = self.row
        if row is None:
            self.notify("the correction is still loading", severity="warning", markup=False)
        elif row.run_id is not None:
            from opsconsole.tui.screens.trace import TraceScreen

            self.app.push_screen(TraceScreen(self.services, row.run_id))
        else:
            from opsconsole.tui.screens.trace_finder import TraceFinderScreen

            self.notify(f"correction {row.id} has no run yet (it runs once approved): the runs of its record",
                        markup=False)
            self.app.push_screen(TraceFinderScreen(self.services, row.canonical_id, search=True))

    def action_reload(self) -> None:
        self._load(self.correction_id)

    def reload_after_command(self) -> None:
        self.action_reload()

    @work(thread=True, exclusive=True, group="correction")
    def _load(self, correction_id: int) -> None:
        post_detail(self, lambda: self.services.correction(correction_id))

    def on_detail_failed(self, message: DetailFailed) -> None:
        self.query_one("#correction-text", Static).update(plain(message.error, style="bold red"))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.row = message.detail
        self.query_one("#correction-text", Static).update(
            correction_text(self.row, getattr(self.app, "read_only", False)))
