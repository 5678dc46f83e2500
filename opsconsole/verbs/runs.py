"""``opsconsole runs``: list runs (filtered as the console's runs pane filters them) and show one
run with its steps, its exceptions and the spans of its trace."""

from __future__ import annotations

from typing import Callable

import click
from rich.table import Table
from rich.text import Text

from opsconsole.verbs import _common as common

STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "scheduled", "superseded")
"""The run statuses (as :data:`opsconsole.run_search.STATUSES`)."""

RUN_KEYS = ("id", "workflow", "business_key", "status", "current_step", "attempt", "retries", "mapping_version",
            "correlation_id", "created_at", "updated_at", "age_s", "last_error")
STEP_KEYS = ("seq", "name", "system", "operation", "status", "attempts", "idempotency_key", "duration_ms",
             "error", "error_category", "request", "response")
SPAN_KEYS = ("span_id", "system", "operation", "status", "http_status", "started_at", "duration_ms")
EXCEPTION_KEYS = ("id", "category", "system", "state", "title", "owner", "last_error")

RUN_JSON = """\b
A run in JSON:
  {"id": 7, "workflow": "quote_to_order", "business_key": "hubspot:quote:1002",
   "status": "failed", "current_step": "create_invoice", "attempt": 1, "retries": 3,
   "mapping_version": "1", "correlation_id": "...", "created_at": "2026-11-30T09:00:00+00:00",
   "updated_at": "...", "age_s": 12.5, "last_error": "..."}"""

LIST_JSON = RUN_JSON + """
\b
--json prints {"search": "TEXT", "total": N, "exact": true, "offset": N, "limit": N, "runs": [run, ...]}
("exact": false when a search term matches so many runs that the count stopped at 1000)."""

SHOW_JSON = RUN_JSON + """
\b
--json prints {"run": run, "steps": [{"seq": 0, "name": "validate", "system": "engine",
   "operation": "...", "status": "succeeded", "attempts": 1, "idempotency_key": "...",
   "duration_ms": 12.0 | null, "error": "", "error_category": "", "request": ..., "response": ...}, ...],
 "exceptions": [{"id": 3, "category": "timeout", "system": "xero", "state": "open", "title": "...",
   "owner": "", "last_error": "..."}, ...],
 "spans": [{"span_id": "...", "system": "xero", "operation": "POST /Invoices", "status": "ok",
   "http_status": 200, "started_at": "...", "duration_ms": 85.0}, ...],
 "event": {"id": 12, "source": "hubspot", "event_key": "...", "event_type": "...", "received_at": ...} | null}"""


@click.group()
def runs() -> None:
    """Runs: one execution of a workflow for one business key (a quote id, an invoice id)."""


def _check_workflows(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from opsconsole.engine.workflows import WORKFLOWS

    bad = [v for v in value if v not in WORKFLOWS]
    if bad:
        raise click.BadParameter(f"no workflow {bad[0]!r} (workflows: {', '.join(sorted(WORKFLOWS))})",
                                 ctx=ctx, param=param)
    return value


def filter_options(fn: Callable) -> Callable:
    """The filters of ``runs list`` (and ``export runs``): search words, --status, --workflow."""
    for option in reversed((
        click.argument("search", nargs=-1, metavar="[SEARCH]..."),
        click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
                     help="Only runs with this status (repeat for any of several)."),
        click.option("--workflow", "workflows", multiple=True, metavar="NAME", callback=_check_workflows,
                     help="Only runs of this workflow, e.g. quote_to_order (repeat for any of several)."),
    )):
        fn = option(fn)
    return fn


def fetch(services, *, offset: int, limit: int, statuses: tuple[str, ...] = (), workflows: tuple[str, ...] = (),
          search: tuple[str, ...] = ()):
    """One page of runs, newest first, as the console's runs pane filters them."""
    return services.runs(offset=offset, limit=limit, status=statuses or None, workflows=workflows or None,
                         text=" ".join(search).strip())


def run_json(row) -> dict:
    return common.to_json(row, RUN_KEYS)


def status_cell(status: str) -> Text:
    style = {"failed": "red", "succeeded": "green", "waiting": "yellow", "running": "cyan"}.get(status, "")
    return common.cell(status, style)


@runs.command("list", epilog=LIST_JSON)
@filter_options
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Rows to skip (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
@common.as_option
def runs_list(search: tuple[str, ...], statuses: tuple[str, ...], workflows: tuple[str, ...], limit: int,
              offset: int, as_json: bool, operator: str | None) -> None:
    """List runs, newest first. SEARCH words filter as the console's `/` on the runs pane does: a
    run matches when its business key, last error, workflow or status contains them, or its
    correlation id starts with them (a full-text index answers rare terms on a large store)."""
    services = common.open_services(operator)
    try:
        page = fetch(services, offset=offset, limit=limit, statuses=statuses, workflows=workflows, search=search)
    finally:
        services.close()
    text = " ".join(search).strip()
    if as_json:
        common.emit_json({"search": text, "total": page.total, "exact": page.exact, "offset": page.offset,
                          "limit": page.limit, "runs": [run_json(r) for r in page.rows]})
        return
    out = common.stdout()
    if not page.rows:
        what = [f"status {' or '.join(statuses)}" if statuses else "", f"workflow {' or '.join(workflows)}"
                if workflows else "", f"matching {text!r}" if text else ""]
        out.print(common.cell(" ".join(["no runs", *filter(None, what)]) + (f" past row {offset}" if offset else "")))
        return
    rows = [{"ID": Text(str(r.id)), "WORKFLOW": common.cell(r.workflow), "KEY": common.cell(r.business_key),
             "STATUS": status_cell(r.status), "STEP": common.cell(r.current_step or "-"),
             "RETRIES": Text(str(r.retries)), "AGE": Text(common.age(r.age_s)),
             "LAST ERROR": common.cell(r.last_error or "-", "red" if r.last_error else "dim")} for r in page.rows]
    groups = [("ID",), ("WORKFLOW", "KEY"), ("STATUS", "STEP"), ("RETRIES",), ("AGE",), ("LAST ERROR",)]
    out.print(common.table(out, groups, rows))
    scope = getattr(page, "scope", "")  # a short search term is looked for among the newest runs only
    out.print(Text(f"{common.shown(page, 'runs')}" + (f" (searched the {scope})" if scope else "")
                   + "; see one with `opsconsole runs show ID`"))


@runs.command("show", epilog=SHOW_JSON)
@click.argument("run_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON object (see below).")
@common.as_option
def runs_show(run_id: int, as_json: bool, operator: str | None) -> None:
    """Show one run: its workflow, business key and status, each step (system, operation,
    status, attempts, duration, error), its exceptions and a summary of its trace's spans.

    Exit status 0, or 1 when there is no such run."""
    detail = common.read_one(operator, lambda services: services.run_detail(run_id))
    if as_json:
        common.emit_json(detail_json(detail))
        return
    out = common.stdout()
    print_run(out, detail)
    if detail.spans:
        systems: dict[str, int] = {}
        for s in detail.spans:
            systems[s.system] = systems.get(s.system, 0) + 1
        across = ", ".join(f"{name} {n}" for name, n in systems.items())
        out.print(common.cell(f"{len(detail.spans)} spans in its trace ({across}): "
                              f"`opsconsole trace {detail.run.correlation_id}` shows them"))


def detail_json(detail) -> dict:
    return {"run": run_json(detail.run), "steps": [common.to_json(s, STEP_KEYS) for s in detail.steps],
            "exceptions": [common.to_json(e, EXCEPTION_KEYS) for e in detail.exceptions],
            "spans": [common.to_json(s, SPAN_KEYS) for s in detail.spans], "event": detail.inbox_event}


def print_run(out, detail) -> None:
    """A run's header, its steps and its exceptions (shared with ``opsconsole trace``)."""
    run = detail.run
    out.print(common.cell(f"run {run.id}: {run.workflow} {run.business_key}", "bold"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column(overflow="fold")
    grid.add_row("status", status_cell(run.status))
    grid.add_row("step", common.cell(run.current_step or "-"))
    grid.add_row("correlation", common.cell(run.correlation_id))
    grid.add_row("mapping", common.cell(run.mapping_version))
    grid.add_row("attempt", Text(f"{run.attempt} ({run.retries} retries over its steps)"))
    grid.add_row("age", Text(f"{common.age(run.age_s)} (since {run.created_at:%Y-%m-%d %H:%M:%S} UTC)"))
    if run.last_error:
        grid.add_row("last error", common.cell(run.last_error, "red"))
    if detail.inbox_event:
        ev = detail.inbox_event
        grid.add_row("event", common.cell(f"{ev['source']} {ev['event_type']} {ev['event_key']} (inbox {ev['id']})"))
    out.print(grid)
    if detail.steps:
        rows = [{"#": Text(str(s.seq)), "STEP": common.cell(s.name), "SYSTEM": common.cell(s.system),
                 "OPERATION": common.cell(s.operation), "STATUS": status_cell(s.status),
                 "ATT": Text(str(s.attempts)), "MS": Text("" if s.duration_ms is None else f"{s.duration_ms:.0f}"),
                 "ERROR": common.cell(f"[{s.error_category}] {s.error}", "red") if s.error else Text("")}
                for s in detail.steps]
        groups = [("#",), ("STEP", "OPERATION"), ("SYSTEM", "STATUS"), ("ATT", "MS"), ("ERROR",)]
        out.print(common.table(out, groups, rows))
    else:
        out.print(Text("no steps recorded", style="dim"))
    for e in detail.exceptions:
        owner = f", owner {e.owner}" if e.owner else ""
        out.print(common.cell(f"exception {e.id}: {e.category} in {e.system or '-'}, {e.state}{owner}: {e.last_error}",
                              "red" if e.state in ("open", "acknowledged") else ""))
