"""``opsconsole db`` (store maintenance: upgrade, backup, restore, prune, vacuum) and ``opsconsole erase``
(one customer's personal data). The work is in :mod:`opsconsole.store.hygiene`; docs/ops.md tells
when to use which."""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich import box
from rich.table import Table

from opsconsole.verbs._common import as_option, emit_json, stderr, stdout

DONE, REFUSED, USAGE = 0, 1, 2

EXIT_HELP = """\b
Exit status: 0 done; 1 refused or failed (the reason on stderr: an engine holds the lease, the
file is missing or damaged, the schema does not match, you answered no); 2 usage error."""

JSON_HELP = "Print the outcome as one JSON document (see below)."


def _settings():
    from opsconsole.cli import _settings as settings

    return settings()


def _refuse(as_json: bool, message: str, **doc: Any) -> None:
    if as_json:
        emit_json({"status": "refused", "error": message, **doc})
    click.echo(f"refused: {message}", err=True)
    sys.exit(REFUSED)


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    # the title as wide as it needs: a two-column table would wrap it
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title, title_justify="left",
              min_width=len(title))
    t.add_column("KIND")
    t.add_column("ROWS", justify="right")
    for kind, n in counts.items():
        t.add_row(kind, f"{n:,}")
    return t


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


@click.group()
def db() -> None:
    """Store maintenance: schema, backups, retention, space (docs/ops.md)."""


@db.command("upgrade", epilog=EXIT_HELP + """
\b
With --json: {"status": "done" | "refused", "from": "0009" | null, "to": "0010", "error": "..."}
("from": null for a new store).""")
@click.option("--url", help="Store URL (default: the settings' store_url).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def db_upgrade(url: str | None, as_json: bool) -> None:
    """Create the store or migrate it to this version's schema (a store newer than this opsconsole
    is refused)."""
    from opsconsole.store.db import make_engine
    from opsconsole.store.migrate import current_revision, head_revision, mismatch_message, schema_status, upgrade

    url = url or _settings().store_url
    engine = make_engine(url, write=False)
    try:
        before = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if schema_status(before, head) == "newer":
        _refuse(as_json, mismatch_message("newer", before, head), **{"from": before, "to": head})
    upgrade(url)
    if as_json:
        emit_json({"status": "done", "from": before, "to": head})
        return
    click.echo(f"store at {url} is at schema {head}" + (f" (was {before})" if before and before != head else ""))


@db.command("backup", epilog=EXIT_HELP + """
\b
With --json: {"status": "done" | "refused", "path": "...", "bytes": N, "revision": "...",
"seconds": S, "error": "..."}.""")
@click.argument("path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def db_backup(path: str, as_json: bool) -> None:
    """Copy the store to PATH through SQLite's online backup API, while the engine keeps running.

    The copy is one consistent snapshot, a single self-contained file, checked before it is renamed
    into place (PATH is never half a backup). The audit key and the audit head file are not in the
    store: keep them with your secrets, not with the backup.
    """
    from opsconsole.store.backup import backup
    from opsconsole.store.hygiene import HygieneRefused

    try:
        result = backup(_settings().store_url, path)
    except HygieneRefused as exc:
        _refuse(as_json, str(exc))
    if as_json:
        emit_json({"status": "done", **result.as_dict()})
        return
    click.echo(f"backed up to {result.path}: {_mib(result.bytes)}, schema {result.revision}, "
               f"in {result.seconds:.1f} s")


@db.command("restore", epilog=EXIT_HELP + """
\b
With --json: {"status": "done" | "refused", "path": "...", "revision": "...", "upgraded": bool,
"audit_entry": ID, "error": "..."}.""")
@click.argument("path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@as_option
def db_restore(path: str, yes: bool, as_json: bool, operator: str | None) -> None:
    """Replace the store's content with the backup at PATH.

    Refused while an engine (a worker, or a console running it) holds the lease: stop it first.
    The backup must be an opsconsole store at this version's schema or an older one (then it is
    upgraded); a newer one needs a newer opsconsole. Everything written since the backup is lost.
    The restore is recorded in the audit chain (and the audit head outside the store follows it).
    """
    from opsconsole.engine.app import audit_log
    from opsconsole.store.backup import inspect_backup, restore
    from opsconsole.store.hygiene import HygieneRefused

    settings = _settings()
    try:
        revision, status = inspect_backup(path)
    except HygieneRefused as exc:
        _refuse(as_json, str(exc))
    try:
        audit = audit_log(settings)
    except KeyError as exc:
        _refuse(as_json, f"the audit key: {str(exc).strip(chr(34) + chr(39))}")
    if not yes:
        click.confirm(f"Restore {path} (schema {revision}, {status}) over the store at {settings.store_url}? "
                      "Everything written since that backup is lost", abort=True, err=True)
    try:
        result = restore(settings.store_url, path, audit=audit, actor=operator or settings.operator)
    except HygieneRefused as exc:
        _refuse(as_json, str(exc))
    if as_json:
        emit_json({"status": "done", **result.as_dict()})
        return
    click.echo(f"restored {path}: the store is at schema {result.revision}"
               + (" (upgraded)" if result.upgraded else "") + f"; audit entry {result.audit_entry}")


@db.command("prune", epilog=EXIT_HELP + """
\b
With --json: {"status": "done" | "planned", "counts": {"inbox_raw": N, "runs": N, "steps": N,
"spans": N, "exceptions": N, "rejected_webhooks": N, "incidents": N}, "retention": {...}, "seconds": S}.""")
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; change nothing.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def db_prune(dry_run: bool, as_json: bool) -> None:
    """Apply the settings' [retention] now (the engine also does every prune_every_s).

    Strips the raw body of inbox events older than inbox_raw_days (the row stays: a re-delivered
    event is still a duplicate), deletes succeeded runs (with their steps) older than
    succeeded_runs_days, spans older than spans_days, resolved and closed exceptions older than
    closed_exceptions_days, records of refused webhooks older than rejected_webhooks_days, and
    resolved incidents older than resolved_incidents_days whose notices were all delivered; 0 keeps
    a kind for ever. The audit log is never pruned. Works in small
    transactions, so a running engine is never held up for long. `db vacuum` then gives the space back.
    """
    from opsconsole.store.db import make_engine
    from opsconsole.store.hygiene import prune

    settings = _settings()
    engine = make_engine(settings.store_url, write=not dry_run)
    started = time.perf_counter()
    try:
        counts = prune(engine, settings.retention, time.time(), dry_run=dry_run, pause_s=0.01)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"status": "planned" if dry_run else "done", "counts": counts,
                   "retention": settings.retention.model_dump(), "seconds": round(time.perf_counter() - started, 2)})
        return
    stdout().print(_counts_table("would prune (dry run)" if dry_run else "pruned", counts))


@db.command("vacuum", epilog=EXIT_HELP + """
\b
With --json: {"status": "done" | "refused", "mode_before": "none" | "full" | "incremental",
"mode": "incremental", "full_vacuum": bool, "pages_freed": N, "bytes_before": N, "bytes_after": N}.""")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def db_vacuum(as_json: bool) -> None:
    """Give the store's free pages back to the file system (SQLite).

    New stores are in auto_vacuum=INCREMENTAL; an older file is switched once by a full VACUUM,
    which rewrites it and blocks writers meanwhile: refused while an engine holds the lease (stop it
    for that once). After that, an incremental vacuum in small steps, safe beside a running engine.
    """
    from opsconsole.engine.lease import read_lease
    from opsconsole.store.db import make_engine
    from opsconsole.store.hygiene import AUTO_VACUUM, HygieneRefused, vacuum

    settings = _settings()
    engine = make_engine(settings.store_url, write=True)
    try:
        try:
            with engine.connect() as conn:
                mode = AUTO_VACUUM.get(conn.exec_driver_sql("PRAGMA auto_vacuum").scalar(), "?")
                held = read_lease(conn)
                conn.rollback()
            if mode != "incremental" and held is not None and held.alive:
                raise HygieneRefused(f"the store is in auto_vacuum={mode}: switching it takes one full VACUUM, which "
                                     f"would hold up the engine ({held.holder}); stop the engine and run this again")
            result = vacuum(engine, allow_full=True)
        except HygieneRefused as exc:
            _refuse(as_json, str(exc))
    finally:
        engine.dispose()
    if as_json:
        emit_json({"status": "done", **result.as_dict()})
        return
    how = f"full VACUUM (auto_vacuum {result.mode_before} -> {result.mode}), then " if result.full_vacuum else ""
    click.echo(f"{how}{result.pages_freed:,} pages freed: {_mib(result.bytes_before)} -> {_mib(result.bytes_after)}")


@click.command("erase", epilog=EXIT_HELP + """
\b
With --json: {"status": "done" | "refused", "customer": "...", "counts": {place: rows},
"audit_entry": ID, "error": "..."}.""")
@click.option("--customer", "customer_id", required=True, metavar="ID", help="The canonical customer id (cus_...).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@as_option
def erase(customer_id: str, yes: bool, as_json: bool, operator: str | None) -> None:
    """Erase one customer's personal data from the store (a data subject's request).

    Names of people, e-mail addresses, phone numbers, addresses and tax numbers are replaced with
    "[erased]" in every stored payload of that customer and its contacts: inbox raw bodies, runs,
    steps' requests and responses, spans, exceptions, golden records, conflicts, corrections. Ids,
    amounts and statuses stay, so traces and counts still add up. The audit log is not edited (it
    holds no personal data); an entry records the erasure (the customer id and counts). The vendors'
    own systems are not touched: erase the records there too. Shows the counts and asks first.
    """
    from opsconsole.engine.app import audit_log
    from opsconsole.store.db import make_engine
    from opsconsole.store.erasure import erase_customer
    from opsconsole.store.hygiene import HygieneRefused

    settings = _settings()
    engine = make_engine(settings.store_url, write=True)
    try:
        try:
            planned = erase_customer(engine, customer_id, dry_run=True)
        except HygieneRefused as exc:
            _refuse(as_json, str(exc), customer=customer_id)
        if not planned.counts:
            if as_json:
                emit_json({"status": "done", **planned.as_dict()})
            else:
                click.echo(f"nothing personal is stored for customer {customer_id} (already erased?)")
            return
        if not yes:
            stderr().print(_counts_table(f"personal data of customer {customer_id} to erase", planned.counts))
            click.confirm("Erase it? This cannot be undone", abort=True, err=True)
        try:
            audit = audit_log(settings)
        except KeyError as exc:
            _refuse(as_json, f"the audit key: {str(exc).strip(chr(34) + chr(39))}", customer=customer_id)
        try:
            result = erase_customer(engine, customer_id, audit=audit, actor=operator or settings.operator)
        except HygieneRefused as exc:
            _refuse(as_json, str(exc), customer=customer_id)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"status": "done", **result.as_dict()})
        return
    stdout().print(_counts_table(f"erased: customer {customer_id} (audit entry {result.audit_entry})", result.counts))
