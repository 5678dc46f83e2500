"""The trace of one run: its steps (system, operation, status, duration), a step's request and
response, the spans of its correlation id across CRM, engine, ERP and customer success (each with the
request and response it carried: Tab to the spans, the one under the cursor shows below), and, for an
exception, its category, error and payload."""

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
from textual.widgets import DataTable, Static

from opsconsole.services import OPEN_STATES
from opsconsole.tui.fmt import age, count_of, duration_ms, trunc
from opsconsole.tui.messages import TraceFailed, TraceLoaded
from opsconsole.tui.safe import clean, plain, pretty_json
from opsconsole.tui.screens.target import Target
from opsconsole.tui.widgets.engine_bar import EngineBar
from opsconsole.tui.widgets.keys_footer import KeysFooter
from opsconsole.tui.widgets.runs_table import status_text
from opsconsole.viewmodels import ExceptionDetail, RunDetail, SpanView, StepView

SPAN_COLUMNS = (("n", "#"), ("system", "system"), ("operation", "operation"), ("status", "status"),
                ("http", "HTTP"), ("ms", "ms"), ("at", "at"))
STEP_COLUMNS = (("seq", "#"), ("name", "step"), ("system", "system"), ("operation", "operation"),
                ("status", "status"), ("attempts", "att"), ("duration", "ms"), ("error", "error"))


def run_header(detail: RunDetail) -> Text:
    run = detail.run
    return Text.assemble(
        ("run ", "bold"), (str(run.id), "bold"), "  ", clean(run.workflow), "  ", ("key ", "dim"),
        clean(run.business_key), "  ", status_text(run.status), "  ", ("step ", "dim"), clean(run.current_step),
        "\n", ("correlation ", "dim"), clean(run.correlation_id), "  ", ("mapping ", "dim"),
        clean(run.mapping_version), "  ", ("attempt ", "dim"), str(run.attempt), "  ", ("age ", "dim"), age(run.age_s),
        (f"  {count_of(detail.masked, 'personal value')} masked" if detail.masked else "",
         "yellow"),
    )


def exception_panel(exc: ExceptionDetail) -> Text:
    row = exc.exception
    return Text.assemble(
        ("exception ", "bold red"), (str(row.id), "bold red"), "  ", (clean(row.category), "magenta"), "  ",
        clean(row.system), "  ", clean(row.state), ("  owner " if row.owner else "", "dim"), clean(row.owner),
        ("  " if row.title else "", ""), (clean(row.title), "italic"), "\n",
        ("error ", "dim"), (trunc(clean(row.last_error), 400), "red"), "\n",
        ("suggested ", "dim"), (clean(exc.suggested_action), "green"),
    )


def step_panel(step: StepView) -> Group:
    head = Text.assemble(
        (f"step {step.seq} ", "bold"), (clean(step.name), "bold"), "  ", clean(step.system), " ",
        clean(step.operation), "  ", status_text(step.status), "  ", ("idempotency key ", "dim"),
        clean(step.idempotency_key),
    )
    parts: list[Any] = [head]
    if step.error:
        parts.append(Text.assemble(("error ", "dim"), (f"[{clean(step.error_category)}] ", "magenta"),
                                   (clean(step.error, oneline=False), "red")))
    parts += [Text("request", style="bold underline"), pretty_json(step.request),
              Text("response", style="bold underline"), pretty_json(step.response)]
    return Group(*parts)


def span_panel(index: int, span: SpanView) -> Group:
    """One span: where and when, then the request and the response it carried."""
    head = Text.assemble(
        (f"span {index + 1} ", "bold"), (clean(span.system), "bold"), " ", clean(span.operation), "  ",
        status_text(span.status), "  ", ("HTTP ", "dim"), str(span.http_status or "—"), "  ",
        duration_ms(span.duration_ms), (" ms", "dim"), "  ", ("at ", "dim"),
        f"{span.started_at:%Y-%m-%d %H:%M:%S.%f}"[:-3],
        "  ", ("span id ", "dim"), clean(span.span_id),
    )
    return Group(head, Text("request", style="bold underline"), pretty_json(span.request),
                 Text("response", style="bold underline"), pretty_json(span.response))


def spans_caption(spans: list[SpanView]) -> Text:
    if not spans:
        return Text("no spans recorded for this trace", style="dim")
    systems: dict[str, int] = {}
    for span in spans:
        systems[span.system] = systems.get(span.system, 0) + 1
    across = ", ".join(f"{clean(name)} {n}" for name, n in systems.items())
    return Text.assemble((f"spans of this trace: {len(spans)}", "bold"), f" ({across})",
                         ("  · Tab selects one: its request and response show below", "dim"))


def spans_table(spans: list[SpanView]) -> Table:
    table = Table(title="spans of this trace", title_justify="left", box=None, expand=False, pad_edge=False)
    for name, justify in (("system", "left"), ("operation", "left"), ("status", "left"), ("HTTP", "right"),
                          ("ms", "right"), ("at", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for span in spans:
        table.add_row(plain(span.system), plain(trunc(clean(span.operation), 40)), status_text(span.status),
                      str(span.http_status or ""), duration_ms(span.duration_ms), f"{span.started_at:%H:%M:%S}")
    if not spans:
        table.add_row(Text("no spans recorded", style="dim"))
    return table


class TraceScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="trace.back"),
        Binding("ctrl+r", "reload", "Reload", id="trace.reload"),
    ]

    def __init__(self, services: Any, run_id: int | None, exception_id: int | None = None) -> None:
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.exception_id = exception_id
        self.detail: RunDetail | None = None
        self.exception: ExceptionDetail | None = None

    def compose(self) -> ComposeResult:
        yield EngineBar(id="engine-bar")
        yield Static(Text("loading trace…", style="dim"), id="trace-head")
        yield Static(id="trace-exception")
        yield DataTable(id="steps", cursor_type="row")
        with VerticalScroll(id="trace-detail"):
            yield Static(id="step-detail")
            yield Static(id="spans")
            yield DataTable(id="spans-table", cursor_type="row")
            yield Static(id="span-detail")
            yield Static(id="exception-payload")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        steps = self.query_one("#steps", DataTable)
        for key, label in STEP_COLUMNS:
            steps.add_column(label, key=key)
        for key, label in SPAN_COLUMNS:
            self.query_one("#spans-table", DataTable).add_column(label, key=key)
        steps.loading = True
        self.query_one("#trace-exception").display = False
        steps.focus()
        self.action_reload()

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load(self.run_id, self.exception_id)

    @work(thread=True, exclusive=True, group="trace")
    def _load(self, run_id: int | None, exception_id: int | None) -> None:
        try:
            detail = self.services.run_detail(run_id) if run_id is not None else None
            if exception_id is None and detail is not None:
                open_ = [e for e in detail.exceptions if e.state in OPEN_STATES]
                exception_id = open_[-1].id if open_ else None
            exception = self.services.exception_detail(exception_id) if exception_id is not None else None
        except Exception as exc:
            self.post_message(TraceFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TraceLoaded(detail, exception))  # type: ignore[arg-type]

    def on_trace_failed(self, message: TraceFailed) -> None:
        self.query_one("#steps", DataTable).loading = False
        self.query_one("#trace-head", Static).update(plain(message.error, style="bold red"))

    def on_trace_loaded(self, message: TraceLoaded) -> None:
        self.detail, self.exception = message.detail, message.exception
        steps = self.query_one("#steps", DataTable)
        steps.loading = False
        head = self.query_one("#trace-head", Static)
        if self.detail is None:
            head.update(Text(f"exception {self.exception_id}: a malformed event, no run", style="bold"))
        else:
            head.update(run_header(self.detail))
        panel = self.query_one("#trace-exception", Static)
        panel.display = self.exception is not None
        if self.exception is not None:
            panel.update(exception_panel(self.exception))
            self.query_one("#exception-payload", Static).update(
                Group(Text("exception payload", style="bold underline"), pretty_json(self.exception.payload)))
        cursor = steps.cursor_row
        steps.clear()
        failed = None
        for i, step in enumerate(self.detail.steps if self.detail else []):
            steps.add_row(str(step.seq), plain(step.name), plain(step.system), plain(trunc(clean(step.operation), 24)),
                          status_text(step.status), str(step.attempts), duration_ms(step.duration_ms),
                          plain(trunc(clean(step.error), 40), style="red"), key=str(i))
            if step.status == "failed":
                failed = i
        spans = self.detail.spans if self.detail else []
        self.query_one("#spans", Static).update(spans_caption(spans))
        span_rows = self.query_one("#spans-table", DataTable)
        span_cursor = span_rows.cursor_row
        span_rows.clear()
        for i, span in enumerate(spans):
            span_rows.add_row(str(i + 1), plain(span.system), plain(trunc(clean(span.operation), 34)),
                              status_text(span.status), str(span.http_status or ""), duration_ms(span.duration_ms),
                              f"{span.started_at:%H:%M:%S}", key=str(i))
        span_rows.display = bool(spans)
        if spans:
            span_rows.move_cursor(row=min(span_cursor, len(spans) - 1), animate=False)
            self._show_span(span_rows.cursor_row)
        else:
            self.query_one("#span-detail", Static).update("")
        if steps.row_count:
            steps.move_cursor(row=cursor if cursor else (failed or 0), animate=False)
            self._show_step(steps.cursor_row)
        else:
            self.query_one("#step-detail", Static).update(Text("no steps recorded", style="dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "spans-table":
            self._show_span(event.cursor_row)
        else:
            self._show_step(event.cursor_row)

    def _show_span(self, index: int) -> None:
        if self.detail is None or not 0 <= index < len(self.detail.spans):
            return
        self.query_one("#span-detail", Static).update(span_panel(index, self.detail.spans[index]))

    def _show_step(self, index: int) -> None:
        if self.detail is None or not 0 <= index < len(self.detail.steps):
            return
        self.query_one("#step-detail", Static).update(step_panel(self.detail.steps[index]))

    def current_target(self) -> Target | None:
        if self.detail is None and self.exception is None:
            return None
        exception_id = self.exception.exception.id if self.exception is not None else None
        step = ""
        if self.detail is not None:
            failed = [s.name for s in self.detail.steps if s.status == "failed"]
            step = failed[-1] if failed else self.detail.run.current_step
        return Target(self.run_id, exception_id, step)
