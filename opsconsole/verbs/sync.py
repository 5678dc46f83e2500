"""``opsconsole sync``: governed sync between the systems. ``sync backfill`` links what already exists."""

from __future__ import annotations

import asyncio
import json
import sys

import click

OK, REFUSED = 0, 1

BACKFILL_EPILOG = """\b
Exit status: 0 done (or planned, with --dry-run); 1 refused (an engine holds the store's lease:
its holder is named) or failed (a system could not be read, the store refused a commit).
\b
With --json, stdout carries one JSON document: {"status": "done" | "planned" | "refused" |
"failed", "report": {...counts...} or null, "error": "..."}; with --dry-run the report also holds
"plan": {"linked": [[{"system", "id", "name"}, ...], ...], "suspects": [{...}, ...]}."""


@click.group()
def sync() -> None:
    """Governed sync between the CRM, the ERP and customer success."""


@sync.command("backfill", epilog=BACKFILL_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON document (no progress bar).")
@click.option("--dry-run", is_flag=True, help="Read and plan, print the plan, write nothing (needs no lease).")
def sync_backfill(as_json: bool, dry_run: bool) -> None:
    """Link the customers that already exist in HubSpot, Xero and Intercom, before live sync starts.

    Reads every company (CRM), contact (ERP) and company (customer success), matches them as live
    sync does (data/matching.toml: tax number, legal name, web domain, e-mail domain), and writes a
    customer for each, the cross-references, the golden record's empty fields (data/ownership.toml
    decides among the systems), a suspected-duplicate conflict for each pair a person must decide
    (`opsconsole conflicts`), and one audit entry with the counts. Running it again changes nothing.

    It runs here, holding the engine lease: with a worker or a console running the engine on this
    store it refuses (stop the engine first). A system without a base URL in the settings is not read.
    """
    from opsconsole.cli import _settings
    from opsconsole.engine.backfill_run import BackfillFailed, BackfillRefused, run_backfill

    settings = _settings()
    err = _console(stderr=True)
    bar = None if as_json else _ProgressBar(err)
    try:
        with bar if bar is not None else _nothing():
            outcome = asyncio.run(run_backfill(settings, dry_run=dry_run, actor=settings.operator,
                                               progress=bar.update if bar is not None else None))
    except (BackfillRefused, BackfillFailed) as exc:
        status = "refused" if isinstance(exc, BackfillRefused) else "failed"
        if as_json:
            click.echo(json.dumps({"status": status, "report": None, "error": str(exc)}))
        else:
            err.print(f"{status}: {exc}", markup=False, highlight=False)
        sys.exit(REFUSED)
    report = outcome.report
    if as_json:
        doc = report.as_dict()
        if dry_run:
            doc["plan"] = _plan_json(outcome.plan)
        click.echo(json.dumps({"status": "planned" if dry_run else "done", "report": doc, "error": ""}, default=str))
        sys.exit(OK)
    out = _console()
    if dry_run:
        _print_plan(out, outcome.plan)
    out.print(_summary(report))
    if report.not_configured:
        out.print(f"not read (no base URL in the settings): {', '.join(report.not_configured)}", markup=False)
    if dry_run:
        out.print("dry run: nothing was written", markup=False)
    elif report.suspects_raised:
        out.print(f"{report.suspects_raised} suspected duplicate(s) wait for a person: `opsconsole conflicts list --kind "
                  "duplicate`", markup=False)
    elif not report.wrote:
        out.print("nothing to do: every record was linked before", markup=False)
    sys.exit(OK)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


class _ProgressBar:
    """Rich progress on stderr: one bar per system read (records so far), then linking, then writing."""

    LABELS = {"link": "linking", "write": "writing"}

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False

    def update(self, phase: str, label: str, done: int, total: int | None) -> None:
        name = f"reading {label}" if phase == "read" else self.LABELS.get(phase, phase)
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total)
        self.progress.update(self.tasks[name], completed=done, total=total)


def _summary(report):
    from rich.table import Table

    would = "would be " if report.dry_run else ""
    table = Table(title="backfill (dry run)" if report.dry_run else "backfill", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    per = lambda d: " · ".join(f"{k} {v}" for k, v in d.items())  # noqa: E731
    skipped = sum(report.skipped.values())
    table.add_row("account records read", str(sum(report.read.values())),
                  per(report.read) + (f" ({skipped} archived, skipped)" if skipped else ""))
    table.add_row("customers", str(report.customers), "")
    table.add_row("customers linked across systems", str(report.linked_customers),
                  f"{report.in_all_systems} in all {len(report.read)}" if len(report.read) > 2 else "")
    table.add_row(f"new customers{' (to create)' if report.dry_run else ''}", str(report.new_customers), "")
    table.add_row(f"cross-references {would}added", str(sum(report.xrefs_added.values())), per(report.xrefs_added))
    table.add_row("records already linked", str(report.already_linked), "")
    table.add_row(f"suspected duplicates {would}raised", str(report.suspects_raised),
                  f"{report.suspects_known} recorded before" if report.suspects_known else "")
    table.add_row("golden-record fields set", "—" if report.golden_fields is None else str(report.golden_fields), "")
    return table


def _side(record) -> dict:
    return {"system": record.system, "id": record.external_id, "name": record.name}


def _plan_json(plan) -> dict:
    return {"linked": [[_side(m) for m in c.members] for c in plan.linked],
            "suspects": [{"record": _side(s.record), "candidate": _side(s.candidate), "score": s.score,
                          "reason": s.reason} for s in plan.suspects]}


def _print_plan(out, plan, limit: int = 50) -> None:
    """The customers to link and the suspects (the first ``limit`` of each), names as plain text
    (never markup or escape sequences)."""
    from rich.table import Table
    from rich.text import Text

    from opsconsole.tui.safe import clean

    def who(record) -> Text:
        return Text(f"{record.system}: {clean(record.name) or '(no name)'} [{clean(record.external_id)}]")

    def more(rows: list) -> None:
        if len(rows) > limit:
            out.print(f"… and {len(rows) - limit} more (all of them with --json)", markup=False)

    linked = Table(title="customers linked across systems", title_justify="left")
    linked.add_column("customer")
    linked.add_column("records")
    for n, c in enumerate(plan.linked[:limit], 1):
        linked.add_row(f"{n}{' (known)' if c.canonical_id else ''}", Text("\n").join(who(m) for m in c.members))
    out.print(linked)
    more(plan.linked)
    if plan.suspects:
        suspects = Table(title="suspected duplicates", title_justify="left")
        for name in ("record", "may be", "score", "evidence"):
            suspects.add_column(name)
        for s in plan.suspects[:limit]:
            suspects.add_row(who(s.record), who(s.candidate), f"{s.score:.2f}", Text(s.reason))
        out.print(suspects)
        more(plan.suspects)
