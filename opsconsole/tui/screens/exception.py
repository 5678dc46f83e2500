"""One exception: its error, category and what to do about it, its trace's spans in brief, and its
payload as JSON (personal data masked unless the operator holds the pii role); acknowledge, assign,
resolve, retry and replay from here, and ``t`` for the whole trace."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from opsconsole.tui import exception_actions
from opsconsole.tui.exception_actions import VERB_BINDINGS
from opsconsole.tui.fmt import age
from opsconsole.tui.messages import DetailFailed, DetailLoaded, post_detail
from opsconsole.tui.safe import clean, plain, pretty_json
from opsconsole.tui.screens.target import Target
from opsconsole.tui.screens.trace import spans_table
from opsconsole.tui.widgets.engine_bar import EngineBar
from opsconsole.tui.widgets.exceptions_table import STATE_STYLE
from opsconsole.tui.widgets.keys_footer import KeysFooter
from opsconsole.viewmodels import ExceptionDetail, SpanView

ACTIONS = (("a", "acknowledge", "you own it (open → acknowledged)"),
           ("A", "assign", "give it to a known operator"),
           ("R", "resolve", "with a reason (required)"),
           ("r", "retry", "run the failed step again, same inputs and idempotency key"),
           ("p", "replay", "dry run first, then re-run from a step"),
           ("t", "trace", "the run's steps, requests and responses"))


def spans_summary(spans: list[SpanView]) -> Text:
    """'4 spans · hubspot 1, xero 3 · 1 error (xero PUT /Invoices 422)'."""
    if not spans:
        return Text("no spans recorded", style="dim")
    by_system = Counter(s.system for s in spans)
    errors = [s for s in spans if s.status != "ok"]
    text = Text.assemble(f"{len(spans)} spans", ("  ·  ", "dim"),
                         ", ".join(f"{clean(k)} {n}" for k, n in sorted(by_system.items())))
    if errors:
        last = errors[-1]
        text.append("  ·  ", style="dim")
        text.append(f"{len(errors)} error{'s' if len(errors) > 1 else ''} "
                    f"(last: {clean(last.system)} {clean(last.operation)} {last.http_status or ''})".replace(" )", ")"),
                    style="red")
    return text


def detail_text(detail: ExceptionDetail, app: Any) -> Group:
    row = detail.exception
    head = Text.assemble(
        ("exception ", "bold"), (str(row.id), "bold"), "  ", (clean(row.category), "bold magenta"), "  ",
        clean(row.system), "  ", (clean(row.state), STATE_STYLE.get(row.state, "")), "  ", ("owner ", "dim"),
        clean(row.owner) or "—", "  ", ("age ", "dim"), age(row.age_s), "\n",
        ("workflow ", "dim"), clean(row.workflow), "  ", ("key ", "dim"), clean(row.business_key), "  ",
        ("run ", "dim"), str(row.run_id) if row.run_id is not None else "— (a malformed event)",
        ("  correlation " if row.correlation_id else "", "dim"), clean(row.correlation_id),
    )
    parts: list[Any] = [head, Text("")]
    if row.title:
        parts.append(plain(row.title, style="italic"))
    parts += [Text("error", style="bold underline"), plain(row.last_error, oneline=False, style="red"), Text(""),
              Text("suggested action", style="bold underline"), plain(detail.suggested_action or "—", oneline=False,
                                                                      style="green")]
    if detail.resolution:
        parts += [Text(""), Text("resolution", style="bold underline"), plain(detail.resolution, oneline=False)]
    parts += [Text(""), Text("trace", style="bold underline"), spans_summary(detail.spans)]
    parts += [spans_table(detail.spans), Text("")] if detail.spans else [Text("")]
    title = Text("payload", style="bold underline")
    if detail.masked:
        title.append(f"  {detail.masked} personal value{'s' if detail.masked > 1 else ''} masked "
                     f"(the pii role shows them)", style="dim")
    parts += [title, pretty_json(detail.payload)]
    actions = Text("\nactions\n", style="bold underline")
    for key, verb, what in ACTIONS:
        why = exception_actions.refusal(app, verb, row) if verb in ("acknowledge", "assign", "resolve") else None
        if verb == "retry" and row.run_id is None:
            why = "a malformed event has no run: fix the sender"
        actions.append(f"  {key} ", style="bold dim" if why else "bold cyan")
        actions.append(f"{verb:<12}", style="dim" if why else "bold")
        actions.append(clean(why or what) + "\n", style="yellow" if why else "")
    parts.append(actions)
    return Group(*parts)


class ExceptionScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="exception.back"),
        Binding("t", "trace", "Trace", id="exception.trace"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="exception.reload"),
        *VERB_BINDINGS,
    ]

    def __init__(self, services: Any, exception_id: int) -> None:
        super().__init__()
        self.services = services
        self.exception_id = exception_id
        self.detail: ExceptionDetail | None = None

    def compose(self) -> ComposeResult:
        yield EngineBar(id="engine-bar")
        with VerticalScroll(id="exception-body"):
            yield Static(Text(f"exception {self.exception_id}: loading…", style="dim"), id="exception-text")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#exception-body").focus()
        self.action_reload()

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load(self.exception_id)

    def reload_after_command(self) -> None:
        self.action_reload()

    def action_trace(self) -> None:
        from opsconsole.tui.screens.trace import TraceScreen

        run_id = self.detail.exception.run_id if self.detail is not None else None
        self.app.push_screen(TraceScreen(self.services, run_id, self.exception_id))

    def action_exception(self, verb: str) -> None:
        exception_actions.act(self.app, verb, self.detail.exception if self.detail else None)

    def current_target(self) -> Target | None:
        """For retry and replay (the app's keys)."""
        if self.detail is None:
            return None
        return Target(self.detail.exception.run_id, self.exception_id)

    @work(thread=True, exclusive=True, group="exception")
    def _load(self, exception_id: int) -> None:
        post_detail(self, lambda: self.services.exception_detail(exception_id))

    def on_detail_failed(self, message: DetailFailed) -> None:
        self.query_one("#exception-text", Static).update(plain(message.error, style="bold red"))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.detail = message.detail
        self.query_one("#exception-text", Static).update(detail_text(self.detail, self.app))
