"""``opsconsole conflicts``: list, show and resolve ownership conflicts and suspected duplicates."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from opsconsole.verbs import _common as common

STATES = {"open": ("open",), "resolved": ("resolved",), "all": None}
RESOLUTION_FLAGS = ("keep", "take", "correction", "link", "separate")

CONFLICT_JSON = """\b
A conflict in JSON:
  {"id": 1, "kind": "ownership" | "duplicate", "entity": "customer", "canonical_id": "...",
   "field": "tax_number" ("" for a duplicate), "owner": "xero", "rule": "...",
   "values": {"xero": ..., "hubspot": ...}  (a duplicate: {"record": {...}, "candidate": {...}}),
   "challenger": "hubspot", "proposed": "...", "billing_impacting": true, "score": null | 0.93,
   "state": "open" | "resolved", "resolution": "", "resolved_by": "", "correction_id": null,
   "run_id": null, "created_at": "2026-11-30T09:00:00+00:00", "age_s": 12.5,
   "resolutions": ["keep", "correction"]  (what it may be resolved with now; [] once resolved)}"""


@click.group()
def conflicts() -> None:
    """Ownership conflicts (a field changed in a system that does not own it) and suspected
    duplicates, waiting for a person to decide them."""


def _resolutions(row) -> list[str]:
    from opsconsole.engine.governance import RESOLUTIONS

    if row.state != "open":
        return []
    return [r for r in RESOLUTIONS.get(row.kind, ()) if not (r == "take" and row.billing_impacting)]


JSON_KEYS = ("id", "kind", "entity", "canonical_id", "field", "owner", "rule", "values", "challenger", "proposed",
             "billing_impacting", "score", "state", "resolution", "resolved_by", "correction_id", "run_id",
             "created_at", "age_s")


def _json(row) -> dict:
    return {**common.to_json(row, JSON_KEYS), "resolutions": _resolutions(row)}


def _duplicate_side(side: dict, label: str) -> str:
    name = side.get("legal_name") or side.get("name") or side.get("external_id") or ""
    parts = [str(p) for p in (name, side.get("tax_number"), side.get("domain")) if p]
    ident = side.get("canonical_id") or side.get("external_id") or ""
    return f"{label}: {' · '.join(parts) or '(none)'}" + (f" [{ident}]" if ident and ident != name else "")


def _by_system(row) -> dict[str, str]:
    """The conflict's values keyed by system, as text (a duplicate: the incoming record and the
    known customer, each under its own system)."""
    if row.kind != "duplicate":
        return {system: common.show_value(v) for system, v in (row.values or {}).items()}
    out: dict[str, list[str]] = {}
    for key, label in (("record", "record"), ("candidate", "known")):
        side = (row.values or {}).get(key) or {}
        out.setdefault(str(side.get("system") or "?"), []).append(_duplicate_side(side, label))
    return {system: "\n".join(lines) for system, lines in out.items()}


def _owner_rule(row) -> str:
    if row.kind == "duplicate":
        score = f"score {row.score:.2f}" if row.score is not None else "no score"
        return f"{score}: {row.rule}" if row.rule else score
    # the engine records the rule as words: "owned by xero, source priority, billing-impacting"
    return row.rule or f"owned by {row.owner}" + (", billing-impacting" if row.billing_impacting else "")


@conflicts.command("list", epilog=CONFLICT_JSON)
@click.option("--state", type=click.Choice(list(STATES)), default="open", show_default=True, help="Which conflicts.")
@click.option("--kind", type=click.Choice(["ownership", "duplicate"]), help="Only this kind.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Rows to skip (newest first).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"total": N, "offset": N, "limit": N, "conflicts": [conflict, ...]} (see below).')
@common.as_option
def conflicts_list(state: str, kind: str | None, limit: int, offset: int, as_json: bool, operator: str | None) -> None:
    """List conflicts, newest first: each one's values per system side by side, the owner and
    rule, what is proposed and its age. Values from the systems are printed as plain text."""
    services = common.open_services(operator)
    try:
        page = services.conflicts(offset=offset, limit=limit, states=STATES[state], kind=kind)
    finally:
        services.close()
    if as_json:
        common.emit_json({"total": page.total, "offset": page.offset, "limit": page.limit,
                          "conflicts": [_json(r) for r in page.rows]})
        return
    out = common.stdout()
    if not page.rows:
        out.print(Text(f"no {'' if state == 'all' else state + ' '}conflicts"
                       + (f" of kind {kind}" if kind else "") + (f" past row {offset}" if offset else "")))
        return
    values = [_by_system(r) for r in page.rows]
    systems = common.systems_in(values)
    rows = []
    for row, vals in zip(page.rows, values):
        cells = {"ID": Text(str(row.id)), "KIND": Text(row.kind),
                 "ENTITY": common.cell(f"{row.entity} {row.canonical_id}"),
                 "FIELD": common.cell(row.field or "-"), "OWNER / RULE": common.cell(_owner_rule(row)),
                 "PROPOSED": common.cell(row.proposed), "AGE": Text(common.age(row.age_s))}
        for s in systems:
            cells[s.upper()] = common.cell(vals[s], "bold" if s == row.owner else "") if s in vals else Text("")
        if state != "open":
            cells["STATE"] = common.cell(f"{row.state} ({row.resolution} by {row.resolved_by})"
                                         if row.state == "resolved" else row.state)
        rows.append(cells)
    groups = [("ID",), ("KIND", "ENTITY", "FIELD"), *((s.upper(),) for s in systems), ("OWNER / RULE", "PROPOSED"),
              ("AGE",) + (("STATE",) if state != "open" else ())]
    table = common.table(out, groups, rows, wide_from=140)
    out.print(table)
    shown = f"{offset + 1}-{offset + len(page.rows)} of {page.total}"
    out.print(Text(f"{shown} conflicts; decide one with `opsconsole conflicts resolve ID --keep|--take|"
                   "--correction|--link|--separate`"))


@conflicts.command("show", epilog=CONFLICT_JSON)
@click.argument("conflict_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the conflict as one JSON object (see below).")
@common.as_option
def conflicts_show(conflict_id: int, as_json: bool, operator: str | None) -> None:
    """Show one conflict: every value, the rule, what is proposed and how it may be resolved.

    Exit status 0, or 1 when there is no such conflict."""
    from opsconsole.engine.governance import GovernanceError

    services = common.open_services(operator)
    try:
        row = services.conflict(conflict_id)
    except GovernanceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()
    if as_json:
        common.emit_json(_json(row))
        return
    out = common.stdout()
    title = (f"conflict {row.id}: {row.kind}" + (f" of {row.field}" if row.field else "")
             + f" on {row.entity} {row.canonical_id}")
    out.print(common.cell(title, "bold"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column(overflow="fold")
    for system, value in _by_system(row).items():
        owner = " (owner)" if row.kind == "ownership" and system == row.owner else ""
        grid.add_row(f"{system}{owner}", common.cell(value))
    grid.add_row("rule", common.cell(_owner_rule(row)))
    grid.add_row("proposed", common.cell(row.proposed))
    decided = f": {row.resolution} by {row.resolved_by}" if row.resolution else ""
    grid.add_row("state", common.cell(row.state + decided))
    if row.correction_id:
        grid.add_row("correction", Text(f"{row.correction_id} (`opsconsole approvals list --state all`)"))
    if row.run_id:
        grid.add_row("held run", Text(str(row.run_id)))
    grid.add_row("age", Text(f"{common.age(row.age_s)} (since {row.created_at:%Y-%m-%d %H:%M:%S} UTC)"))
    out.print(grid)
    choices = _resolutions(row)
    if choices:
        out.print(Text(f"resolve with: opsconsole conflicts resolve {row.id} "
                       + " | ".join(f"--{c}" for c in choices)))


@conflicts.command("resolve", epilog=common.ACTION_JSON_HELP + "\n\n" + common.EXIT_HELP)
@click.argument("conflict_id", metavar="ID", type=int)
@click.option("--keep", is_flag=True,
              help="Ownership: keep the owner's value (the other system's change is overruled).")
@click.option("--take", is_flag=True, help="Ownership: take the challenger's value (not for billing-impacting fields).")
@click.option("--correction", is_flag=True,
              help="Ownership, billing-impacting: raise a correction with the challenger's value for finance "
                   "to approve.")
@click.option("--link", is_flag=True,
              help="Duplicate: link the record to the known customer (its held run is retried).")
@click.option("--separate", is_flag=True, help="Duplicate: keep it a separate, new customer (its held run is retried).")
@click.option("--note", default="", metavar="TEXT", help="Why (kept with the decision; a correction's reason).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the engine to execute the decision and print its result.")
@click.option("--timeout", type=click.FloatRange(0), default=30.0, show_default=True, metavar="SECONDS",
              help="How long --wait waits.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (see below).")
@common.as_option
def conflicts_resolve(conflict_id: int, keep: bool, take: bool, correction: bool, link: bool, separate: bool,
                      note: str, wait: bool, timeout: float, as_json: bool, operator: str | None) -> None:
    """Resolve a conflict with exactly one of --keep, --take, --correction (ownership) or --link,
    --separate (duplicate). The decision is queued as a command that the engine executes (and
    checks again); the console and this verb do the same."""
    given = [name for name, on in zip(RESOLUTION_FLAGS, (keep, take, correction, link, separate)) if on]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --keep, --take, --correction, --link, --separate"
                               + (f" (got {', '.join('--' + g for g in given)})" if given else ""))
    services = common.open_services(operator)
    try:
        common.decide(services, lambda: services.resolve_conflict(conflict_id, given[0], note),
                      kind="resolve_conflict", target=f"conflict:{conflict_id}", wait=wait, timeout=timeout,
                      as_json=as_json)
    finally:
        services.close()
