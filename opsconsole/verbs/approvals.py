"""``opsconsole approvals``: finance approval of corrections (maker-checker: never the requester)."""

from __future__ import annotations

import click
from rich.text import Text

from opsconsole.verbs import _common as common

STATES = {"pending": ("pending",), "all": None}

LIST_JSON = """\b
--json prints:
  {"operator": "fiona", "total": N, "offset": N, "limit": N, "corrections": [
    {"id": 1, "conflict_id": 3 | null, "entity": "customer", "canonical_id": "...",
     "field": "tax_number", "before": ..., "after": ..., "target_system": "xero",
     "requested_by": "frank", "reason": "...",
     "state": "pending" | "approved" | "applied" | "rejected" | "refused" | "failed",
     "decided_by": "", "decision_reason": "", "run_id": null,
     "created_at": "2026-11-30T09:00:00+00:00", "age_s": 12.5,
     "may_decide": true, "why_not": ""  (why the operator may not decide it)}, ...]}"""


@click.group()
def approvals() -> None:
    """Corrections to billing-impacting fields, waiting for finance approval. Only an operator
    holding the finance role (settings `roles`) who did not request a correction may decide it."""


def _why_not(row) -> str:
    if row.state != "pending":
        return f"correction {row.id} is {row.state}, not pending"
    return row.why_not_yours


JSON_KEYS = ("id", "conflict_id", "entity", "canonical_id", "field", "before", "after", "target_system",
             "requested_by", "reason", "state", "decided_by", "decision_reason", "run_id", "created_at", "age_s")


def _json(row) -> dict:
    doc = common.to_json(row, JSON_KEYS)
    why = _why_not(row)
    return {**doc, "may_decide": not why, "why_not": why}


@approvals.command("list", epilog=LIST_JSON)
@click.option("--state", type=click.Choice(list(STATES)), default="pending", show_default=True,
              help="Pending corrections, or all of them.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Rows to skip (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
@common.as_option
def approvals_list(state: str, limit: int, offset: int, as_json: bool, operator: str | None) -> None:
    """List corrections, newest first: before → after, the system whose billing it changes, who
    asked and why, and whether you may decide each one (and if not, why not)."""
    services = common.open_services(operator)
    try:
        page = services.corrections(offset=offset, limit=limit, states=STATES[state])
        me = services.operator
        roles = services.settings.roles.get(me, [])
    finally:
        services.close()
    if as_json:
        common.emit_json({"operator": me, "total": page.total, "offset": page.offset, "limit": page.limit,
                          "corrections": [_json(r) for r in page.rows]})
        return
    out = common.stdout()
    out.print(common.cell(f"operator {me} (roles: {', '.join(roles) or 'none'})", "dim"))
    if not page.rows:
        out.print(Text(f"no {'' if state == 'all' else state + ' '}corrections"
                       + (f" past row {offset}" if offset else "")))
        return
    rows = []
    for row in page.rows:
        change = common.cell(row.before)
        change.append(" → ")
        change.append_text(common.cell(row.after, "bold"))
        why = _why_not(row)
        cells = {"ID": Text(str(row.id)), "ENTITY": common.cell(f"{row.entity} {row.canonical_id}"),
                 "FIELD": common.cell(row.field), "BEFORE → AFTER": change,
                 "BILLING IMPACT": common.cell(f"writes {row.field} in {row.target_system}"),
                 "REQUESTED BY": common.cell(row.requested_by), "REASON": common.cell(row.reason),
                 "AGE": Text(common.age(row.age_s)),
                 "YOU": common.cell(f"no: {why}" if why else "may decide", "" if why else "green")}
        if state != "pending":
            cells["STATE"] = common.cell(row.state + (f" by {row.decided_by}" if row.decided_by else ""))
        rows.append(cells)
    groups = [("ID",), ("ENTITY", "FIELD"), ("BEFORE → AFTER", "BILLING IMPACT"), ("REQUESTED BY", "REASON"),
              ("AGE",) + (("STATE",) if state != "pending" else ()), ("YOU",)]
    table = common.table(out, groups, rows, wide_from=140)
    out.print(table)
    out.print(Text(f"{offset + 1}-{offset + len(page.rows)} of {page.total} corrections; decide one with "
                   "`opsconsole approvals approve ID` or `opsconsole approvals reject ID --reason TEXT`"))


def _action_options(fn):
    for option in reversed((
        click.option("--wait/--no-wait", default=True, show_default=True,
                     help="Wait for the engine to execute the decision and print its result."),
        click.option("--timeout", type=click.FloatRange(0), default=30.0, show_default=True, metavar="SECONDS",
                     help="How long --wait waits."),
        click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (see below)."),
        common.as_option,
    )):
        fn = option(fn)
    return fn


@approvals.command("approve", epilog=common.ACTION_JSON_HELP + "\n\n" + common.EXIT_HELP)
@click.argument("correction_id", metavar="ID", type=int)
@_action_options
def approvals_approve(correction_id: int, wait: bool, timeout: float, as_json: bool, operator: str | None) -> None:
    """Approve a pending correction; the engine then writes it to the ERP. Refused (nothing
    queued) unless you hold the finance role and did not request it; the engine checks again."""
    services = common.open_services(operator)
    try:
        common.decide(services, lambda: services.approve(correction_id), kind="approve",
                      target=f"correction:{correction_id}", wait=wait, timeout=timeout, as_json=as_json)
    finally:
        services.close()


@approvals.command("reject", epilog=common.ACTION_JSON_HELP + "\n\n" + common.EXIT_HELP)
@click.argument("correction_id", metavar="ID", type=int)
@click.option("--reason", required=True, metavar="TEXT", help="Why it is rejected (required; the requester sees it).")
@_action_options
def approvals_reject(correction_id: int, reason: str, wait: bool, timeout: float, as_json: bool,
                     operator: str | None) -> None:
    """Reject a pending correction, with a reason. The same people may reject as may approve."""
    if not reason.strip():
        raise click.BadParameter("a rejection needs a reason", param_hint="'--reason'")
    services = common.open_services(operator)
    try:
        common.decide(services, lambda: services.reject(correction_id, reason), kind="reject",
                      target=f"correction:{correction_id}", wait=wait, timeout=timeout, as_json=as_json)
    finally:
        services.close()
