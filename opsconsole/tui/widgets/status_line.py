"""The status line: runs by status, open exceptions, webhooks rejected for bad signatures, and the
bulk commands the engine is working through (every console shows them, whoever asked)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from opsconsole.tui.fmt import count_of
from opsconsole.tui.safe import clean
from opsconsole.viewmodels import Counts

STATUS_ORDER = ("failed", "waiting", "running", "pending", "succeeded")
STATUS_STYLE = {"failed": "red", "waiting": "yellow", "running": "cyan", "succeeded": "green"}
SEPARATOR = "  │  "


def count_segments(counts: Counts | None, read_only: bool = False) -> list[Text]:
    segments = [Text(" READ-ONLY ", style="bold reverse yellow")] if read_only else []
    if counts is None:
        return segments + [Text("loading…", style="dim")]
    runs = Text("runs ", style="bold")
    statuses = sorted(counts.runs_by_status, key=lambda s: (STATUS_ORDER.index(s) if s in STATUS_ORDER else 99, s))
    for i, status in enumerate(statuses):
        if i:
            runs.append(" · ", style="dim")
        runs.append(f"{counts.runs_by_status[status]} {clean(status)}", style=STATUS_STYLE.get(status, ""))
    if not statuses:
        runs.append("none", style="dim")
    segments.append(runs)
    segments.append(Text(count_of(counts.exceptions_open, "open exception"),
                         style="bold red" if counts.exceptions_open else ""))
    rejected = Text(count_of(counts.rejected_webhooks, "rejected webhook"), style="yellow" if counts.rejected_webhooks else "")
    if counts.last_rejected:
        rejected.append(f" (last {clean(counts.last_rejected)})", style="dim")
    segments.append(rejected)
    for cmd in counts.background:  # bulk work in the engine, whoever asked for it
        segments.append(Text(f"{cmd.verb} by {clean(cmd.actor)}: {clean(cmd.result) or 'queued'} (command {cmd.id})",
                             style="bold cyan"))
    return segments


def counts_text(counts: Counts | None, read_only: bool = False, width: int = 0) -> Text:
    """The segments joined by separators, starting a new line where the next one would not fit."""
    text, line = Text(), 0
    for segment in count_segments(counts, read_only):
        if line and width and line + len(SEPARATOR) + segment.cell_len > width:
            text.append("\n")
            line = 0
        elif line:
            text.append(SEPARATOR, style="dim")
            line += len(SEPARATOR)
        text.append_text(segment)
        line += segment.cell_len
    return text


class StatusLine(Widget):
    """Shows ``services.counts()``, refreshed live by the app."""

    DEFAULT_CSS = "StatusLine { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.counts: Counts | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "counts", self._show, init=True)

    def _show(self, counts: Counts | None) -> None:
        self.counts = counts
        self.refresh(layout=True)

    def render(self) -> Text:
        return counts_text(self.counts, getattr(self.app, "read_only", False), self.content_size.width)
