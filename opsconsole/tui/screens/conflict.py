"""One conflict: each system's value with where it came from, the ownership rule, what is proposed,
and the keys that decide it (the same as in the conflicts pane)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from opsconsole.tui.decisions import CONFLICT_BINDINGS, RESOLUTIONS, conflict_refusal, value_str
from opsconsole.tui.fmt import age
from opsconsole.tui.messages import DetailFailed, DetailLoaded, post_detail
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.conflicts_table import BILLING_MARK, OWNER_MARK, ConflictActions, kind_text
from opsconsole.tui.widgets.engine_bar import EngineBar
from opsconsole.tui.widgets.keys_footer import KeysFooter
from opsconsole.viewmodels import ConflictDetail, ConflictRow, ValueSource

ACTION_TEXT = {
    "keep": ("k", "keep", "keep the {owner} value; the {challenger} change is not applied"),
    "take": ("t", "take", "take the {challenger} value over the {owner} value"),
    "correction": ("c", "correction", "raise a correction: finance decides whether {owner} gets the {challenger} value"),
    "link": ("l", "link", "link the incoming record to the known customer (a held run is retried)"),
    "separate": ("s", "separate", "keep the incoming record as a customer of its own (a held run is retried)"),
}
DUPLICATE_FIELDS = (("system", "system"), ("object", "object_type"), ("external id", "external_id"),
                    ("customer", "canonical_id"), ("name", "legal_name"), ("tax number", "tax_number"),
                    ("domain", "domain"))


def conflict_header(row: ConflictRow) -> Text:
    text = Text.assemble(("conflict ", "bold"), (str(row.id), "bold"), "  ", kind_text(row.kind), "  ",
                         (clean(row.state), "bold" if row.state == "open" else "green"), "  ", ("customer ", "dim"),
                         clean(row.canonical_id))
    if row.kind == "ownership":
        text.append_text(Text.assemble("  ", ("field ", "dim"), (clean(row.field), "bold")))
    if row.billing_impacting:
        text.append(f"  {BILLING_MARK} billing-impacting", style="bold yellow")
    text.append_text(Text.assemble("\n", ("rule ", "dim"), clean(row.rule), "  ", ("age ", "dim"), age(row.age_s)))
    if row.kind == "duplicate" and row.score is not None:
        text.append_text(Text.assemble("  ", ("score ", "dim"), f"{row.score:.2f}"))
    if row.run_id is not None:
        text.append_text(Text.assemble("  ", ("held run ", "dim"), str(row.run_id)))
    if row.state != "open":
        text.append_text(Text.assemble("\n", ("resolved ", "dim"), (clean(row.resolution), "bold green"),
                                       (" by ", "dim"), clean(row.resolved_by)))
        if row.correction_id is not None:
            text.append_text(Text.assemble(("  correction ", "dim"), str(row.correction_id)))
    return text


def provenance(source: ValueSource, row: ConflictRow) -> Text:
    parts: list[str] = []
    if source.held:
        parts.append("the golden record holds it")
    elif source.system == row.challenger:
        parts.append("changed here, not applied")
    if source.event_id:
        parts.append(f"event {clean(source.event_id)}")
    if source.at is not None:
        parts.append(f"{source.at:%Y-%m-%d %H:%M} UTC")
    return Text(" · ".join(parts) or "—", style="dim")


def values_table(detail: ConflictDetail) -> Table:
    row = detail.conflict
    table = Table(box=None, pad_edge=False, expand=False, show_header=True, header_style="bold")
    table.add_column("system", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("provenance", overflow="fold")
    systems = [s.system for s in detail.sources]
    for source in sorted(detail.sources, key=lambda s: (not s.owner, s.system != row.challenger, s.system)):
        name = Text(f"{OWNER_MARK} " if source.owner else "  ", style="bold green")
        name.append(clean(source.system) + (" (owner)" if source.owner else ""), style="green" if source.owner else "")
        table.add_row(name, plain(value_str(source.value), oneline=False), provenance(source, row))
    if row.owner and row.owner not in systems:
        table.add_row(Text(f"{OWNER_MARK} {clean(row.owner)} (owner)", style="bold green"),
                      Text("no value recorded", style="dim"), Text("—", style="dim"))
    if detail.golden_system and detail.golden_value not in [s.value for s in detail.sources]:
        table.add_row(Text("  golden now", style="dim"), plain(value_str(detail.golden_value), oneline=False),
                      Text(f"set by {clean(detail.golden_system)} since the conflict was raised", style="dim"))
    return table


def duplicate_table(row: ConflictRow) -> Table:
    record, candidate = row.values.get("record", {}), row.values.get("candidate", {})
    table = Table(box=None, pad_edge=False, expand=False, show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("incoming record", overflow="fold")
    table.add_column("known customer", overflow="fold")
    for label, key in DUPLICATE_FIELDS:
        mine = record.get(key) or (record.get("name") if key == "legal_name" else "")
        theirs = candidate.get(key) or (candidate.get("name") if key == "legal_name" else "")
        if not mine and not theirs:
            continue
        same = bool(mine) and mine == theirs and key not in ("system", "object_type")
        table.add_row(Text(label, style="dim"), plain(mine or "", style="green" if same else ""),
                      plain(theirs or "", style="green" if same else ""))
    return table


def actions_text(row: ConflictRow, read_only: bool) -> Text:
    text = Text("actions\n", style="bold underline")
    for resolution in RESOLUTIONS.get(row.kind, ()):
        key, name, what = ACTION_TEXT[resolution]
        why = conflict_refusal(row, resolution, read_only)
        text.append(f"  {key} ", style="bold dim" if why else "bold cyan")
        text.append(f"{name:<12}", style="dim" if why else "bold")
        line = why or what.format(owner=clean(row.owner), challenger=clean(row.challenger))
        text.append(clean(line) + "\n", style="dim" if why else "")
    return text


class ConflictScreen(ConflictActions, Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="conflict.back"),
        Binding("ctrl+r", "reload", "Reload", id="conflict.reload"),
        # t is "take" here: the trace is on T (elsewhere T asks for a trace to find)
        Binding("T", "trace", "Trace", id="conflict.trace"),
        *CONFLICT_BINDINGS,
    ]

    def __init__(self, services: Any, conflict_id: int) -> None:
        super().__init__()
        self.services = services
        self.conflict_id = conflict_id
        self.detail: ConflictDetail | None = None

    def compose(self) -> ComposeResult:
        yield EngineBar(id="engine-bar")
        with VerticalScroll(id="conflict-body"):
            yield Static(Text(f"conflict {self.conflict_id}: loading…", style="dim"), id="conflict-head")
            yield Static(id="conflict-values")
            yield Static(id="conflict-proposed")
            yield Static(id="conflict-actions")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#conflict-body").focus()
        self.action_reload()

    def current_conflict(self) -> ConflictRow | None:
        return self.detail.conflict if self.detail is not None else None

    def action_back(self) -> None:
        self.dismiss()

    def action_trace(self) -> None:
        """The held run's trace, or the runs of the conflict's record to pick from."""
        row = self.current_conflict()
        if row is None:
            self.notify("the conflict is still loading", severity="warning", markup=False)
        elif row.run_id is not None:
            from opsconsole.tui.screens.trace import TraceScreen

            self.app.push_screen(TraceScreen(self.services, row.run_id))
        else:
            from opsconsole.tui.screens.trace_finder import TraceFinderScreen

            self.app.push_screen(TraceFinderScreen(self.services, row.canonical_id, search=True))

    def action_reload(self) -> None:
        self._load(self.conflict_id)

    def reload_after_command(self) -> None:
        self.action_reload()

    @work(thread=True, exclusive=True, group="conflict")
    def _load(self, conflict_id: int) -> None:
        post_detail(self, lambda: self.services.conflict_detail(conflict_id))

    def on_detail_failed(self, message: DetailFailed) -> None:
        self.query_one("#conflict-head", Static).update(plain(message.error, style="bold red"))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.detail = detail = message.detail
        row = detail.conflict
        self.query_one("#conflict-head", Static).update(conflict_header(row))
        table = duplicate_table(row) if row.kind == "duplicate" else values_table(detail)
        self.query_one("#conflict-values", Static).update(
            Group(Text("\nvalues", style="bold underline"), table))
        proposed = Text.assemble(("\nproposed ", "bold"), clean(row.proposed))
        if detail.note:
            proposed.append_text(Text.assemble(("\nnote ", "bold"), clean(detail.note)))
        self.query_one("#conflict-proposed", Static).update(proposed)
        read_only = getattr(self.app, "read_only", False)
        self.query_one("#conflict-actions", Static).update(
            Text.assemble("\n", actions_text(row, read_only)) if row.state == "open" else "")
        self.refresh_bindings()
