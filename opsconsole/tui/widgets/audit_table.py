"""The audit pane: the hash-chained audit log, newest first, paged from SQL, and a line above it
with the chain's verification (run in a thread worker: it reads every entry)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from opsconsole.tui.fmt import trunc
from opsconsole.tui.safe import clean, plain
from opsconsole.tui.widgets.live_table import Cell, LiveTable
from opsconsole.viewmodels import AuditRow, ChainStatus, Page

ERROR = "$error"
WARNING = "$warning"
SUCCESS = "$success"
MUTED = "$text-muted"
FILTER_HINT = "actor:NAME action:PREFIX subject:PREFIX and/or text (newest 10,000 entries)  (Enter keeps, Esc clears)"


def detail_str(detail: Any) -> str:
    """An entry's detail on one line: ``key=value`` pairs (compact JSON for a structure)."""
    if isinstance(detail, dict):
        parts = [f"{k}={v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)}"
                 for k, v in detail.items()]
        return clean(" ".join(parts))
    return clean(json.dumps(detail, default=str)) if detail not in (None, "") else ""


def chain_text(status: ChainStatus | None, error: str = "", verifying: bool = False) -> Content:
    """The header line: verified, BROKEN (in the error colour), or why it cannot be verified."""
    busy = Content.styled("  verifying…", MUTED) if verifying else Content("")
    if error:
        return Content.assemble(("cannot verify: ", f"bold {WARNING}"), clean(error), busy)
    if status is None:
        return Content.styled("verifying the audit chain…", MUTED)
    took = f" (took {status.seconds * 1000:.0f} ms)" if status.seconds >= 0.001 else " (took <1 ms)"
    if not status.verified:
        return Content.assemble(("cannot verify: ", f"bold {WARNING}"), clean(status.message), busy)
    if status.ok:
        return Content.assemble(("✔ chain verified: ", f"bold {SUCCESS}"),
                                f"{status.entries} entries, {clean(status.head or 'head matches')}",
                                (took, MUTED), busy)
    where = f"entry {status.broken_at}" if status.broken_at is not None else "an entry"
    return Content.assemble((f"✖ chain BROKEN at {where}: {clean(status.message)}", f"bold {ERROR}"), (took, MUTED),
                            busy)


@dataclass
class ChainVerified(Message):
    status: ChainStatus | None
    error: str = ""


class AuditChain(Static):
    """The chain's verification status; :meth:`verify` starts a check (one at a time)."""

    def __init__(self, services: Any, **kwargs: Any) -> None:
        super().__init__(chain_text(None), **kwargs)
        self.services = services
        self.status: ChainStatus | None = None
        self.error = ""
        self.verifying = False

    def verify(self) -> None:
        self.verifying = True
        self.update(chain_text(self.status, self.error, verifying=True))
        self._verify()

    @work(thread=True, exclusive=True, group="audit-verify")
    def _verify(self) -> None:
        worker = get_current_worker()
        try:
            status = self.services.chain_status(should_stop=lambda: worker.is_cancelled)
        except Exception as exc:  # the store may be busy or gone
            if not worker.is_cancelled:
                self.post_message(ChainVerified(None, f"{type(exc).__name__}: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(ChainVerified(status))

    def on_chain_verified(self, message: ChainVerified) -> None:
        message.stop()
        self.verifying = False
        self.status, self.error = message.status, message.error
        self.set_class(bool(message.status and message.status.verified and not message.status.ok), "broken")
        self.update(chain_text(self.status, self.error))


class AuditTable(LiveTable):
    PANE = "audit"
    FILTER_HINT = FILTER_HINT
    COLUMNS = (("id", "id"), ("at", "at (UTC)"), ("actor", "actor"), ("action", "action"), ("subject", "subject"),
               ("detail", "detail"))
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", id="audit.open"),
        Binding("v", "verify", "Verify chain", id="audit.verify"),
    ]
    FLEX = (8, 60, 66)  # the detail: what the other columns leave (ids of up to 4 digits at 80 columns)

    def fetch(self, offset: int, limit: int, text: str) -> Page[AuditRow]:
        return self.services.audit_entries(offset=offset, limit=limit, text=text)

    def cells(self, row: AuditRow) -> tuple[Cell, ...]:
        return (
            str(row.id), f"{row.at:%m-%d %H:%M:%S}", plain(trunc(clean(row.actor), 8), style="bold"),
            plain(trunc(clean(row.action), 18)), plain(trunc(clean(row.subject), 14), style="cyan"),
            plain(trunc(detail_str(row.detail), self.flex_width), style="dim"),
        )

    def pane_opened(self) -> None:
        """The pane was shown: verify the chain (again)."""
        self.action_verify()

    def action_verify(self) -> None:
        self.screen.query_one(AuditChain).verify()

    def open_detail(self) -> None:
        """Enter: the trace of the run an entry is about (``run:N``), else the whole entry."""
        row = self.row_at_cursor()
        if not isinstance(row, AuditRow):
            self.notify("nothing selected", severity="warning", markup=False)
            return
        kind, _, ident = row.subject.partition(":")
        if kind == "run" and ident.isdigit():
            from opsconsole.tui.screens.trace import TraceScreen

            self.app.push_screen(TraceScreen(self.services, int(ident)))
            return
        self.notify(f"{clean(row.action)} {clean(row.subject)} by {clean(row.actor)} at {row.at:%Y-%m-%d %H:%M:%S} "
                    f"UTC\n{detail_str(row.detail)}", title=f"audit entry {row.id}", markup=False, timeout=8)
