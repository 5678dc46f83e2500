"""``opsconsole exceptions``: the exception queue (the dead-letter queue) from the command line:
list it with the console's `/` filter, show one (payload masked without the pii role), and retry,
acknowledge, assign or resolve one, or every exception a filter matches (count preview, then --yes)."""

from __future__ import annotations

import sys
from typing import Callable

import click
from rich.table import Table
from rich.text import Text

from opsconsole.filters import SORTS
from opsconsole.verbs import _common as common

EXC_KEYS = ("id", "run_id", "workflow", "business_key", "category", "system", "state", "title", "last_error", "owner",
            "correlation_id", "created_at", "age_s")

FILTER_HELP = """\b
FILTER is what the console's `/` takes: free text and key:value facets, all combined with AND:
  workflow:quote_to_order  category:validation,rate_limit  system:xero
  state:open|acknowledged|resolved|closed|all (default: open and acknowledged)
  owner:me|none|NAME  age:>1h  age:<30m  "a phrase"
Free text must appear in the business key, the title or the last error."""

EXC_JSON = """\b
An exception in JSON:
  {"id": 3, "run_id": 7 | null, "workflow": "quote_to_order", "business_key": "hubspot:quote:1002",
   "category": "validation" | "rate_limit" | "auth" | "downstream_5xx" | "timeout" |
               "rejected_by_target" | "sequencing",
   "system": "xero", "state": "open" | "acknowledged" | "resolved" | "closed", "title": "...",
   "last_error": "...", "owner": "", "correlation_id": "...",
   "created_at": "2026-11-30T09:00:00+00:00", "age_s": 12.5}"""

LIST_JSON = FILTER_HELP + "\n\n" + EXC_JSON + """
\b
--json prints {"filter": "TEXT", "sort": "newest", "total": N, "offset": N, "limit": N,
               "exceptions": [exception, ...]}
Exit status 0; 2 when the filter has a bad token (the message says what to type)."""

SHOW_JSON = EXC_JSON + """
\b
--json prints the exception with: "payload": ... (personal data replaced by "•••" unless you hold
the pii role), "masked": N (values masked), "suggested_action": "...", "resolution": "...",
"spans": [{"span_id", "system", "operation", "status", "http_status", "started_at", "duration_ms"}],
"may_act": true, "why_not": "" (why you may not retry, acknowledge, assign or resolve it)."""

BULK_HELP = """\b
ID acts on one exception. --filter TEXT acts on every exception the filter matches (the FILTER
grammar of `opsconsole exceptions list`): the matches are counted first and previewed
("Resolve 37 exceptions (validation: 30, rate_limit: 7)?"); --yes queues it (on a terminal you
are asked instead; without a terminal and without --yes nothing is queued and the exit status is 1).
One command is queued; the engine works through it in batches ("n of N")."""

ACTION_EPILOG = (BULK_HELP + "\n\n" + common.ACTION_JSON_HELP
                 + """\n\b\nA bulk action's document also has "preview": {"filter": "TEXT", "total": N,
  "without_run": N (malformed events: a retry or replay skips them), "by_category": {...},
  "by_state": {...}}, and its "status" may be "running" (the engine is
  between two batches when --timeout ran out; exit status 3).\n\n""" + common.EXIT_HELP)


@click.group()
def exceptions() -> None:
    """Exceptions: steps that exhausted their retries and events that failed validation. States:
    open → acknowledged (someone owns it) → resolved (with a reason), or closed when a retry or
    replay succeeds."""


def filter_options(fn: Callable) -> Callable:
    """The filter of ``exceptions list`` (and ``export exceptions``): FILTER words or --filter, --sort."""
    for option in reversed((
        click.argument("words", nargs=-1, metavar="[FILTER]..."),
        click.option("--filter", "filter_text", default="", metavar="TEXT",
                     help="The filter as one string (the same as FILTER words; both may be given)."),
        click.option("--sort", type=click.Choice(list(SORTS)), default="newest", show_default=True,
                     help="Order of the rows."),
    )):
        fn = option(fn)
    return fn


def filter_of(words: tuple[str, ...], filter_text: str) -> str:
    return " ".join((filter_text, *words)).strip()


def fetch(services, *, offset: int, limit: int, words: tuple[str, ...] = (), filter_text: str = "",
          sort: str = "newest"):
    """One page of the queue; a bad filter token is a usage error (exit 2)."""
    from opsconsole.filters import FilterError

    try:
        return services.exceptions(offset=offset, limit=limit, text=filter_of(words, filter_text), sort=sort)
    except FilterError as exc:
        raise click.UsageError(f"filter: {exc}") from None


def exception_json(row) -> dict:
    return common.to_json(row, EXC_KEYS)


@exceptions.command("list", epilog=LIST_JSON)
@filter_options
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Rows to skip.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
@common.as_option
def exceptions_list(words: tuple[str, ...], filter_text: str, sort: str, limit: int, offset: int, as_json: bool,
                    operator: str | None) -> None:
    """List exceptions matching FILTER (default: the open and acknowledged ones), newest first or
    as --sort says. `owner:me` is you (--as, or the OS account)."""
    services = common.open_services(operator)
    try:
        page = fetch(services, offset=offset, limit=limit, words=words, filter_text=filter_text, sort=sort)
    finally:
        services.close()
    text = filter_of(words, filter_text)
    if as_json:
        common.emit_json({"filter": text, "sort": sort, "total": page.total, "offset": page.offset,
                          "limit": page.limit, "exceptions": [exception_json(r) for r in page.rows]})
        return
    out = common.stdout()
    if not page.rows:
        out.print(common.cell("no exceptions" + (f" matching {text!r}" if text else " open or acknowledged")
                              + (f" past row {offset}" if offset else "")))
        return
    rows = [{"ID": Text(str(r.id)), "CATEGORY": common.cell(r.category, "magenta"),
             "SYSTEM": common.cell(r.system or "-"),
             "WORKFLOW": common.cell(r.workflow), "KEY": common.cell(r.business_key or "-"),
             "STATE": common.cell(r.state), "OWNER": common.cell(r.owner or "-"), "AGE": Text(common.age(r.age_s)),
             "ERROR": common.cell(r.title or r.last_error, "red")} for r in page.rows]
    groups = [("ID",), ("CATEGORY", "SYSTEM"), ("WORKFLOW", "KEY"), ("STATE", "OWNER"), ("AGE",), ("ERROR",)]
    out.print(common.table(out, groups, rows))
    out.print(Text(f"{common.shown(page, 'exceptions')}; see one with `opsconsole exceptions show ID`"))


@exceptions.command("show", epilog=SHOW_JSON)
@click.argument("exception_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the exception as one JSON object (see below).")
@common.as_option
def exceptions_show(exception_id: int, as_json: bool, operator: str | None) -> None:
    """Show one exception: its error, what to do about it, its payload (personal data masked
    unless you hold the pii role) and its trace's spans.

    Exit status 0, or 1 when there is no such exception."""
    from opsconsole.tui.safe import clean

    d = common.read_one(operator, lambda services: services.exception_detail(exception_id))
    row = d.exception
    if as_json:
        common.emit_json({**exception_json(row), "payload": d.payload, "masked": d.masked,
                          "suggested_action": d.suggested_action, "resolution": d.resolution,
                          "spans": [common.to_json(s, ("span_id", "system", "operation", "status", "http_status",
                                                       "started_at", "duration_ms")) for s in d.spans],
                          "may_act": not d.why_not_yours, "why_not": d.why_not_yours})
        return
    out = common.stdout()
    out.print(common.cell(f"exception {row.id}: {row.category} in {row.system or '-'} ({row.state})", "bold"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column(overflow="fold")
    grid.add_row("run", Text(f"{row.run_id} (`opsconsole runs show {row.run_id}`)" if row.run_id
                             else "none (a malformed event)"))
    grid.add_row("workflow", common.cell(f"{row.workflow} {row.business_key}"))
    if row.title:
        grid.add_row("title", common.cell(row.title))
    grid.add_row("error", common.cell(row.last_error, "red"))
    grid.add_row("suggested", common.cell(d.suggested_action or "-", "green"))
    grid.add_row("owner", common.cell(row.owner or "-"))
    if d.resolution:
        grid.add_row("resolution", common.cell(d.resolution))
    grid.add_row("correlation", common.cell(row.correlation_id or "-"))
    grid.add_row("trace", Text(f"{len(d.spans)} spans" + (f" (`opsconsole trace {clean(row.correlation_id)}`)"
                                                          if d.spans else "")))
    grid.add_row("age", Text(f"{common.age(row.age_s)} (since {row.created_at:%Y-%m-%d %H:%M:%S} UTC)"))
    if d.why_not_yours:
        grid.add_row("you", common.cell(f"may not act on it: {d.why_not_yours}", "yellow"))
    out.print(grid)
    masked = f" ({d.masked} personal-data values masked: the pii role shows them)" if d.masked else ""
    out.print(Text("payload" + masked, style="bold"))
    out.print(_payload(d.payload))


def _payload(payload) -> Text:
    import json

    from opsconsole.tui.safe import clean

    if payload is None:
        return Text("(none)", style="dim")
    body = payload if isinstance(payload, str) else json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    return Text(clean(body, oneline=False))


# --- actions -------------------------------------------------------------------------------------
def _one_or_filter(fn: Callable) -> Callable:
    for option in reversed((
        click.argument("exception_id", metavar="[ID]", type=int, required=False),
        click.option("--filter", "filter_text", default=None, metavar="TEXT",
                     help="Act on every exception this filter matches, instead of one ID (see below)."),
        click.option("--yes", is_flag=True, help="With --filter: queue it without asking (after the preview)."),
        common.action_options,
    )):
        fn = option(fn)
    return fn


def _act(verb: str, exception_id: int | None, filter_text: str | None, yes: bool, wait: bool, timeout: float,
         as_json: bool, operator: str | None, single: Callable, *, reason: str = "", to: str | None = None) -> None:
    if (exception_id is None) == (filter_text is None):
        raise click.UsageError("give an exception ID or --filter TEXT" + (" (not both)" if exception_id is not None else ""))
    if filter_text is None and yes:
        raise click.UsageError("--yes goes with --filter (one ID needs no confirmation)")
    services = common.open_services(operator)
    try:
        if exception_id is not None:
            common.decide(services, lambda: single(services, exception_id), kind=verb,
                          target=f"exception:{exception_id}", wait=wait, timeout=timeout, as_json=as_json)
        bulk_action(services, verb, filter_text or "", yes, wait, timeout, as_json, reason=reason, to=to)
    finally:
        services.close()


def bulk_action(services, verb: str, text: str, yes: bool, wait: bool, timeout: float, as_json: bool, *,
          reason: str, to: str | None, from_step: str = "", mapping: str = "original",
          preview_only: bool = False) -> None:
    """Preview what ``verb`` would touch, then (confirmed, or --yes) queue ONE bulk command and
    follow it. ``from_step``/``mapping``: a replay's. ``preview_only``: print the preview, queue nothing."""
    from opsconsole.exception_services import preview_question
    from opsconsole.filters import FilterError
    from opsconsole.services import ActionRefused

    kind, target = f"bulk_{verb}", "exceptions:filter"
    try:
        preview = services.bulk_preview(filter_text=text)
    except FilterError as exc:
        raise click.UsageError(f"--filter: {exc}") from None
    doc = {"preview": {"filter": text, "total": preview.total, "without_run": preview.without_run,
                       "by_category": preview.by_category,
                       "by_state": preview.by_state}}

    def refuse(why: str, shown: str = "") -> None:
        if as_json:
            common.emit_json({"command": None, "kind": kind, "target": target, "status": "refused", "result": why,
                              **doc})
        elif shown:
            _print_lines(shown)
        click.echo(f"refused: {why}", err=True)
        sys.exit(common.REFUSED)

    why = services.why_not_support()  # what the service would refuse anyway, before asking to confirm
    if why:
        refuse(f"not yours to {verb}: {why}")
    try:
        if verb == "assign":
            to = services.check_assignee(to)
    except ActionRefused as exc:
        refuse(str(exc))
    if preview.total == 0:
        refuse((f"no exceptions match {text!r}" if text else "no open or acknowledged exceptions") + ": nothing to do")
    question = preview_question(verb, preview)
    summary = f"{question}\n{_preview_detail(verb, preview, reason, to, from_step, mapping)}"
    if preview_only:
        if as_json:
            common.emit_json({"command": None, "kind": kind, "target": target, "status": "preview",
                              "result": question, **doc})
        else:
            _print_lines(summary)
        sys.exit(common.DONE)
    if not yes:
        if as_json or not interactive():
            refuse(f"not queued: add --yes to {verb} these {preview.total} exceptions", summary)
        _print_lines(_preview_detail(verb, preview, reason, to, from_step, mapping))
        if not click.confirm(question, default=False):
            refuse("not confirmed: nothing queued")
    elif not as_json:
        _print_lines(summary)
    common.decide(services, lambda: services.bulk(verb, preview, reason=reason, to=to, from_step=from_step,
                                                  mapping=mapping),
                  kind=kind, target=target, wait=wait, timeout=timeout, as_json=as_json, extra=doc)


def interactive() -> bool:
    """Whether a person can be asked to confirm (stdin is a terminal)."""
    return sys.stdin.isatty()


def _print_lines(text: str) -> None:
    out = common.stdout()
    for line in text.splitlines():
        out.print(common.cell(line))


def _preview_detail(verb: str, preview, reason: str, to: str | None, from_step: str = "",
                    mapping: str = "original") -> str:
    from opsconsole.exception_services import preview_detail

    return "\n".join(preview_detail(verb, preview, reason=reason, to=to, from_step=from_step, mapping=mapping))


@exceptions.command("retry", epilog=ACTION_EPILOG)
@_one_or_filter
def exceptions_retry(exception_id: int | None, filter_text: str | None, yes: bool, wait: bool, timeout: float,
                     as_json: bool, operator: str | None) -> None:
    """Retry: run the failed step again, now, with the same inputs (the idempotency key prevents
    duplicates). The exception closes when the run succeeds. Needs the support role
    (settings `roles`); the engine checks again."""
    _act("retry", exception_id, filter_text, yes, wait, timeout, as_json, operator, lambda s, i: s.retry(i))


@exceptions.command("ack", epilog=ACTION_EPILOG)
@_one_or_filter
def exceptions_ack(exception_id: int | None, filter_text: str | None, yes: bool, wait: bool, timeout: float,
                   as_json: bool, operator: str | None) -> None:
    """Acknowledge: open → acknowledged; you become its owner if it has none. Needs the support role
    (settings `roles`); the engine checks again."""
    _act("acknowledge", exception_id, filter_text, yes, wait, timeout, as_json, operator,
         lambda s, i: s.acknowledge(i))


@exceptions.command("assign", epilog=ACTION_EPILOG)
@_one_or_filter
@click.option("--to", metavar="NAME", default=None,
              help="Whom to (an operator named in the settings' roles; default: you).")
def exceptions_assign(exception_id: int | None, filter_text: str | None, yes: bool, wait: bool, timeout: float,
                      as_json: bool, operator: str | None, to: str | None) -> None:
    """Assign: give it an owner (an open one becomes acknowledged). Needs the support role
    (settings `roles`); the engine checks again."""
    _act("assign", exception_id, filter_text, yes, wait, timeout, as_json, operator,
         lambda s, i: s.assign(i, to), to=to)


@exceptions.command("resolve", epilog=ACTION_EPILOG)
@_one_or_filter
@click.option("--reason", required=True, metavar="TEXT", help="Why it is resolved (required; audited).")
def exceptions_resolve(exception_id: int | None, filter_text: str | None, yes: bool, wait: bool, timeout: float,
                       as_json: bool, operator: str | None, reason: str) -> None:
    """Resolve: → resolved, with a reason. Needs the support role
    (settings `roles`); the engine checks again."""
    if not reason.strip():
        raise click.BadParameter("resolving needs a reason", param_hint="'--reason'")
    _act("resolve", exception_id, filter_text, yes, wait, timeout, as_json, operator,
         lambda s, i: s.resolve(i, reason), reason=reason)
