"""The status line: runs by status, open exceptions, webhooks rejected for bad signatures."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from opsconsole.tui.safe import clean
from opsconsole.viewmodels import Counts

STATUS_ORDER = ("failed", "waiting", "running", "pending", "succeeded")
STATUS_STYLE = {"failed": "red", "waiting": "yellow", "running": "cyan", "succeeded": "green"}


def counts_text(counts: Counts | None, read_only: bool = False) -> Text:
    text = Text()
    if read_only:
        text.append(" READ-ONLY ", style="bold reverse yellow")
        text.append(" ")
    if counts is None:
        text.append("loading…", style="dim")
        return text
    text.append("runs ", style="bold")
    statuses = sorted(counts.runs_by_status, key=lambda s: (STATUS_ORDER.index(s) if s in STATUS_ORDER else 99, s))
    if not statuses:
        text.append("none", style="dim")
    for i, status in enumerate(statuses):
        if i:
            text.append(" · ", style="dim")
        text.append(f"{counts.runs_by_status[status]} {clean(status)}", style=STATUS_STYLE.get(status, ""))
    text.append("  │  ", style="dim")
    text.append(f"{counts.exceptions_open} open exceptions", style="bold red" if counts.exceptions_open else "")
    text.append("  │  ", style="dim")
    text.append(f"{counts.rejected_webhooks} rejected webhooks",
                style="yellow" if counts.rejected_webhooks else "")
    if counts.last_rejected:
        text.append(f" (last {clean(counts.last_rejected)})", style="dim")
    return text


class StatusLine(Static):
    """Shows ``services.counts()``, refreshed live by the app."""

    def on_mount(self) -> None:
        self.watch(self.app, "counts", self._show, init=True)

    def _show(self, counts: Counts | None) -> None:
        self.update(counts_text(counts, getattr(self.app, "read_only", False)))
