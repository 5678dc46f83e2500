"""``opsconsole audit``: verify the tamper-evident audit chain."""

from __future__ import annotations

import json
import sys

import click


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
