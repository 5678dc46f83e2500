"""``opsconsole export LIST``: any list (runs, exceptions, conflicts, approvals, connectors, audit)
as CSV, with the same filters as its ``list`` verb, read from the store a chunk at a time so a big
store is never loaded whole."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from opsconsole.verbs import _common as common
from opsconsole.verbs import approvals as approvals_verbs
from opsconsole.verbs import audit as audit_verbs
from opsconsole.verbs import conflicts as conflicts_verbs
from opsconsole.verbs import connectors as connectors_verbs
from opsconsole.verbs import exceptions as exceptions_verbs
from opsconsole.verbs import runs as runs_verbs

CSV_HELP = """\b
The CSV has a header row; its columns are the keys of the list's --json rows (see the list verb's
--help), in the same order. Nested values (a conflict's values, an audit entry's detail) are JSON
text; an empty value is an empty cell; times are ISO 8601 (UTC). Rows are read --chunk-size at a
time, each chunk on its own (offset paging): rows added while exporting may be left out, and a row
pushed onto the next chunk by new ones is not written twice.
\b
Exit status 0; 1 the --output file cannot be written (the reason on stderr); 2 usage (a bad filter)."""


@click.group(epilog=CSV_HELP)
def export() -> None:
    """Export a list as CSV to stdout (or --output FILE): runs, exceptions, conflicts, approvals,
    connectors or audit, with the same filters as `opsconsole LIST list`."""


def _common_options(fn: Callable) -> Callable:
    for option in reversed((
        click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
                     help="Write the CSV to FILE (replaced when complete) instead of stdout."),
        click.option("--chunk-size", type=click.IntRange(1, 5000), default=500, show_default=True,
                     help="Rows read from the store at a time."),
        common.as_option,
    )):
        fn = option(fn)
    return fn


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _rows(fetch: Callable[..., Any], chunk: int) -> Iterator[Any]:
    """Every row of a list, a page of ``chunk`` rows at a time. A row seen on the previous page is
    not repeated (rows added at the top while exporting shift the pages down)."""
    offset, previous = 0, set()
    while True:
        page = fetch(offset=offset, limit=chunk)
        ids = set()
        for row in page.rows:
            ids.add(row.id)
            if row.id not in previous:
                yield row
        if len(page.rows) < chunk:
            return
        previous, offset = ids, offset + chunk


def _write(output: Path | None, rows: Iterator[dict], columns: tuple[str, ...]) -> None:
    from opsconsole.tui.safe import clean

    to_terminal = output is None and sys.stdout.isatty()

    def cells(doc: dict) -> list[str]:
        values = [_csv_value(doc.get(k)) for k in columns]
        # untrusted text on a terminal: no escape sequences (a file or a pipe gets it as stored)
        return [clean(v, oneline=False) for v in values] if to_terminal else values

    if output is None:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for doc in rows:
            writer.writerow(cells(doc))
        return
    part = output.with_name(output.name + ".part")
    n = 0
    try:
        with part.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            for doc in rows:
                writer.writerow(cells(doc))
                n += 1
        os.replace(part, output)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # no such directory, no permission, a full disk: say which, no traceback
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        raise
    click.echo(f"wrote {n} rows to {output}", err=True)


def _export(operator: str | None, output: Path | None, chunk: int, fetch: Callable[..., Any],
            to_json: Callable[[Any], dict], columns: tuple[str, ...]) -> None:
    services = common.open_services(operator)
    try:
        rows = (to_json(r) for r in _rows(lambda **page: fetch(services, **page), chunk))
        _write(output, rows, columns)
    finally:
        services.close()


@export.command("runs", epilog=CSV_HELP)
@runs_verbs.filter_options
@_common_options
def export_runs(search: tuple[str, ...], statuses: tuple[str, ...], workflows: tuple[str, ...], output: Path | None,
                chunk_size: int, operator: str | None) -> None:
    """Runs, newest first, filtered as `opsconsole runs list` filters them."""
    _export(operator, output, chunk_size,
            lambda s, **page: runs_verbs.fetch(s, statuses=statuses, workflows=workflows, search=search, **page),
            runs_verbs.run_json, runs_verbs.RUN_KEYS)


@export.command("exceptions", epilog=exceptions_verbs.FILTER_HELP + "\n\n" + CSV_HELP)
@exceptions_verbs.filter_options
@_common_options
def export_exceptions(words: tuple[str, ...], filter_text: str, sort: str, output: Path | None, chunk_size: int,
                      operator: str | None) -> None:
    """Exceptions matching FILTER (default: open and acknowledged), as `opsconsole exceptions list`."""
    from opsconsole.filters import check

    why = check(exceptions_verbs.filter_of(words, filter_text))
    if why:  # before the header is written
        raise click.UsageError(f"filter: {why}")
    _export(operator, output, chunk_size,
            lambda s, **page: exceptions_verbs.fetch(s, words=words, filter_text=filter_text, sort=sort, **page),
            exceptions_verbs.exception_json, exceptions_verbs.EXC_KEYS)


@export.command("conflicts", epilog=CSV_HELP)
@click.option("--state", type=click.Choice(list(conflicts_verbs.STATES)), default="open", show_default=True,
              help="Which conflicts.")
@click.option("--kind", type=click.Choice(["ownership", "duplicate"]), help="Only this kind.")
@_common_options
def export_conflicts(state: str, kind: str | None, output: Path | None, chunk_size: int, operator: str | None) -> None:
    """Conflicts, newest first, as `opsconsole conflicts list` (plus a "resolutions" column)."""
    _export(operator, output, chunk_size,
            lambda s, **page: s.conflicts(states=conflicts_verbs.STATES[state], kind=kind, **page),
            conflicts_verbs._json, conflicts_verbs.JSON_KEYS + ("resolutions",))


@export.command("approvals", epilog=CSV_HELP)
@click.option("--state", type=click.Choice(list(approvals_verbs.STATES)), default="pending", show_default=True,
              help="Pending corrections, or all of them.")
@_common_options
def export_approvals(state: str, output: Path | None, chunk_size: int, operator: str | None) -> None:
    """Corrections waiting for (or past) finance approval, newest first, as `opsconsole approvals
    list` (may_decide and why_not are for the operator: --as)."""
    _export(operator, output, chunk_size,
            lambda s, **page: s.corrections(states=approvals_verbs.STATES[state], **page),
            approvals_verbs._json, approvals_verbs.JSON_KEYS + ("may_decide", "why_not"))


@export.command("connectors", epilog=CSV_HELP)
@_common_options
def export_connectors(output: Path | None, chunk_size: int, operator: str | None) -> None:
    """The connectors, as `opsconsole connectors list` (plus an "error_rate" column)."""
    _export(operator, output, chunk_size, connectors_verbs.fetch, connectors_verbs.connector_json,
            connectors_verbs.KEYS + ("error_rate",))


@export.command("audit", epilog=audit_verbs.QUERY_HELP + "\n\n" + CSV_HELP)
@click.argument("query", nargs=-1, metavar="[QUERY]...")
@_common_options
def export_audit(query: tuple[str, ...], output: Path | None, chunk_size: int, operator: str | None) -> None:
    """Audit entries, newest first, narrowed by QUERY as `opsconsole audit list`."""
    _export(operator, output, chunk_size, lambda s, **page: audit_verbs.fetch(s, query=query, **page),
            audit_verbs.entry_json, audit_verbs.ENTRY_KEYS)
