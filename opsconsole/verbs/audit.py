"""``opsconsole audit``: verify the tamper-evident audit chain, and list its entries."""

from __future__ import annotations

import json
import sys

import click
from rich.text import Text

from opsconsole.verbs import _common as common

ENTRY_KEYS = ("id", "at", "actor", "action", "subject", "detail")
QUERY_HELP = """\b
QUERY narrows the entries as the console's audit pane does:
  actor:NAME (exactly)  action:PREFIX (action:exception. finds every exception verb)
  subject:PREFIX (subject:exception:12)  and free words, matched anywhere in the actor,
  action, subject and detail of the newest 10000 entries."""
LIST_JSON = QUERY_HELP + """
\b
--json prints {"query": "...", "total": N, "offset": N, "limit": N, "entries": [
  {"id": 12, "at": "2026-11-30T09:00:00+00:00", "actor": "sam", "action": "exception.resolve",
   "subject": "exception:3", "detail": {...}}, ...]}  (newest first)"""


def fetch(services, *, offset: int, limit: int, query: tuple[str, ...] = ()):
    return services.audit_entries(offset=offset, limit=limit, text=" ".join(query).strip())


def entry_json(row) -> dict:
    return common.to_json(row, ENTRY_KEYS)


@click.group()
def audit() -> None:
    """The hash-chained audit log of every operator action and governance decision."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def audit_verify(as_json: bool) -> None:
    """Check every entry's MAC, the chain's order, and the head kept outside the store.

    Exit status 0 when the chain is intact, 1 when an entry was edited, removed, reordered or cut off,
    2 when the audit key is not available to this operator (the chain cannot be verified).
    """
    from opsconsole.cli import _settings
    from opsconsole.engine.audit import AuditKeyUnavailable, verify_audit

    try:
        result = verify_audit(_settings())
    except AuditKeyUnavailable as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "entries": 0, "message": f"cannot verify: {exc}"}))
        else:
            click.echo(f"cannot verify: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "entries": result.entries, "message": result.message}))
    else:
        click.echo(("intact: " if result.ok else "TAMPERED: ") + result.message)
    sys.exit(0 if result.ok else 1)


@audit.command("list", epilog=LIST_JSON)
@click.argument("query", nargs=-1, metavar="[QUERY]...")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Rows to skip (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
def audit_list(query: tuple[str, ...], limit: int, offset: int, as_json: bool) -> None:
    """List audit entries, newest first: who did what to what, and its detail. Whether the chain
    is intact is `opsconsole audit verify`'s to say."""
    services = common.open_services(None)
    try:
        page = fetch(services, offset=offset, limit=limit, query=query)
    finally:
        services.close()
    text = " ".join(query).strip()
    if as_json:
        common.emit_json({"query": text, "total": page.total, "offset": page.offset, "limit": page.limit,
                          "entries": [entry_json(r) for r in page.rows]})
        return
    out = common.stdout()
    if not page.rows:
        out.print(common.cell("no audit entries" + (f" matching {text!r}" if text else "")
                              + (f" past row {offset}" if offset else "")))
        return
    rows = [{"ID": Text(str(r.id)), "AT": Text(f"{r.at:%Y-%m-%d %H:%M:%S}"), "ACTOR": common.cell(r.actor),
             "ACTION": common.cell(r.action, "bold"), "SUBJECT": common.cell(r.subject),
             "DETAIL": common.cell(r.detail or "")} for r in page.rows]
    groups = [("ID",), ("AT",), ("ACTOR",), ("ACTION", "SUBJECT"), ("DETAIL",)]
    out.print(common.table(out, groups, rows))
    out.print(Text(common.shown(page, "entries")))
