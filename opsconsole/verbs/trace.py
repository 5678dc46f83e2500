"""``opsconsole trace QUERY``: find a business transaction's runs (as the console's trace finder
does) and show the chosen run's steps and the timeline of its trace's spans across CRM, engine,
ERP and customer success."""

from __future__ import annotations

import click
from rich.text import Text

from opsconsole.verbs import _common as common
from opsconsole.verbs.runs import SPAN_KEYS, detail_json, print_run, run_json, status_cell

TRACE_JSON = """\b
--json prints:
  {"query": "...", "truncated": false,
   "matches": [{"via": "correlation id" | "business key" | "xero invoice ..." | "customer ...",
                "run": run}, ...]  (newest first; run as in `opsconsole runs list --help`),
   "chosen": 7 | null  (the run whose trace is shown),
   "trace": null | {"run": run, "steps": [...], "exceptions": [...], "event": ... | null,
     "spans": [{"span_id": "...", "system": "xero", "operation": "POST /Invoices", "status": "ok",
                "http_status": 200, "started_at": "...", "duration_ms": 85.0,
                "offset_ms": 0.0  (since the trace's first span)}, ...]}}
   (steps, exceptions and event as in `opsconsole runs show --help`)
\b
Exit status 0 when something was found; 1 when nothing was (the JSON's "matches" is []);
2 usage (an empty QUERY, --pick past the matches)."""


@click.command("trace", epilog=TRACE_JSON)
@click.argument("query", nargs=-1, required=True)
@click.option("--pick", type=click.IntRange(1), default=1, show_default=True, metavar="N",
              help="Show the trace of the N-th match (newest first).")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True, help="Matches listed at most.")
@click.option("--json", "as_json", is_flag=True, help="Print the matches and the trace as JSON (see below).")
@common.as_option
def trace(query: tuple[str, ...], pick: int, limit: int, as_json: bool, operator: str | None) -> None:
    """Follow a business transaction through every system. QUERY is a correlation id, a business
    key (hubspot:quote:1002, xero:invoice:<InvoiceID>), a HubSpot quote or company id, a Xero
    InvoiceID, QuoteID or ContactID, or a company name or customer id. The matching runs are
    listed (newest first); the chosen one (--pick) is shown with its steps and its spans in time
    order, each with its offset from the first."""
    text = " ".join(query).strip()
    if not text:
        raise click.UsageError("QUERY is empty: give a correlation id, a business key, an id or a company name")
    services = common.open_services(operator)
    try:
        found = services.find_traces(text, limit=limit)
        if found.matches and pick > len(found.matches):
            raise click.UsageError(f"--pick {pick}: there are {len(found.matches)} matches")
        detail = services.run_detail(found.matches[pick - 1].run.id) if found.matches else None
    finally:
        services.close()
    if as_json:
        common.emit_json({"query": found.query, "truncated": found.truncated,
                          "matches": [{"via": m.via, "run": run_json(m.run)} for m in found.matches],
                          "chosen": detail.run.id if detail else None,
                          "trace": _trace_json(detail) if detail else None})
    if not found.matches:
        if not as_json:
            click.echo(f"nothing found for {common.cell(text).plain!r}", err=True)
            click.echo(f"searched: {found.searched}", err=True)
        raise SystemExit(common.REFUSED)
    if as_json:
        return
    out = common.stdout()
    if len(found.matches) > 1:
        rows = [{"#": Text(str(n)), "RUN": Text(str(m.run.id)), "WORKFLOW": common.cell(m.run.workflow),
                 "KEY": common.cell(m.run.business_key), "STATUS": status_cell(m.run.status),
                 "AGE": Text(common.age(m.run.age_s)), "VIA": common.cell(m.via)}
                for n, m in enumerate(found.matches, 1)]
        out.print(common.table(out, [("#",), ("RUN",), ("WORKFLOW", "KEY"), ("STATUS",), ("AGE",), ("VIA",)], rows))
        more = "+" if found.truncated else ""
        out.print(Text(f"{len(found.matches)}{more} runs match; showing #{pick} (another: --pick N)\n"))
    assert detail is not None
    print_run(out, detail)
    out.print(Text(f"\nspans of trace {common.cell(detail.run.correlation_id).plain}: {len(detail.spans)}",
                   style="bold"))
    if not detail.spans:
        out.print(Text("no spans recorded for this trace", style="dim"))
        return
    rows = []
    for span, offset in zip(detail.spans, _offsets(detail.spans)):
        rows.append({"+MS": Text(f"{offset:.0f}"), "AT": Text(f"{span.started_at:%H:%M:%S.%f}"[:-3]),
                     "SYSTEM": common.cell(span.system, "bold"), "OPERATION": common.cell(span.operation),
                     "STATUS": status_cell(span.status), "HTTP": Text(str(span.http_status or "-")),
                     "MS": Text(f"{span.duration_ms:.0f}"), "SPAN": common.cell(span.span_id, "dim")})
    groups = [("+MS",), ("AT",), ("SYSTEM", "SPAN"), ("OPERATION",), ("STATUS", "HTTP"), ("MS",)]
    out.print(common.table(out, groups, rows))


def _offsets(spans) -> list[float]:
    first = spans[0].started_at
    return [(s.started_at - first).total_seconds() * 1000 for s in spans]


def _trace_json(detail) -> dict:
    doc = detail_json(detail)
    doc["spans"] = [{**common.to_json(s, SPAN_KEYS), "offset_ms": round(off, 1)}
                    for s, off in zip(detail.spans, _offsets(detail.spans) if detail.spans else [])]
    return doc
