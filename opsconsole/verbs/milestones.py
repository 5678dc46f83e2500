"""``opsconsole milestones``: the business milestones (opsconsole/milestones.py) and the records
behind each, read from the store (read-only)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timezone

import click
from rich import box
from rich.table import Table
from rich.text import Text

from opsconsole.verbs import _common as common

MEANINGS = {
    "orders_awaiting_billing_approval":
        "orders the ERP accepted whose first invoice finance has not approved yet; their onboarding waits",
    "invoices_overdue":
        "open invoices (unpaid or partly paid) past their due date, by days past due, and the amounts",
    "onboardings_delayed":
        "started onboardings whose next milestone (kickoff call, implementation, training) is past due",
    "renewals_blocked_by_payment":
        "customers whose renewal is held up by payment: overdue amount or days late at the policy's limit",
}

MILESTONES_HELP = "\b\nMilestones (NAME):\n" + "\n".join(f"  {name}\n      {text}" for name, text in MEANINGS.items())

SUMMARY_JSON = """\b
--json prints:
  {"as_of": "2026-11-30", "orders_awaiting_billing_approval": N,
   "invoices_overdue": {"1-30": N, "31-60": N, "61-90": N, "90+": N},
   "overdue_amounts": {"EUR": "1234.50", ...}, "onboardings_delayed": N,
   "renewals_blocked_by_payment": N}"""

SHOW_JSON = """\b
--json prints:
  {"milestone": "NAME", "as_of": "2026-11-30", "total": N, "offset": N, "limit": N, "rows": [...]}
rows, by milestone:
  orders_awaiting_billing_approval: order_key, order_number, customer_id, legal_name,
    ordered_on, days_waiting
  invoices_overdue: invoice_id, invoice_number, customer_id, status, amount_due, currency,
    due_on, days_overdue, aging_bucket
  onboardings_delayed: order_key, order_number, customer_id, legal_name, ordered_on, stage,
    next_milestone, next_due_on, days_late, delivery_risk, reason
  renewals_blocked_by_payment: customer_id, legal_name, renewal_on, score, reason, deal_id,
    deal_stage, days_to_renewal (negative once the renewal date has passed)"""


def _as_of(ctx: click.Context, param: click.Parameter, value: datetime | None) -> date:
    return value.date() if value else datetime.now(timezone.utc).date()


def _as_of_option(fn):
    return click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), callback=_as_of,
                        metavar="YYYY-MM-DD",
                        help="The day to measure on (days past due count to it). Default: today (UTC).")(fn)


@contextmanager
def _store():
    """A read-only connection to the store the settings name (the read engine: no writes, no lock)."""
    from sqlalchemy.exc import DBAPIError

    from opsconsole.cli import _settings
    from opsconsole.store.db import make_engine

    settings = _settings()
    engine = make_engine(settings.store_url, write=False)
    try:
        with engine.connect() as conn:
            try:
                yield conn
            except DBAPIError as exc:
                raise click.ClickException(
                    f"cannot read the milestones from the store ({exc.orig}); is it at the current schema? "
                    "(`opsconsole db upgrade`)") from None
            finally:
                conn.rollback()
    finally:
        engine.dispose()


@click.group(invoke_without_command=True, epilog=MILESTONES_HELP + "\n\n" + SUMMARY_JSON)
@_as_of_option
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
@click.pass_context
def milestones(ctx: click.Context, as_of: date, as_json: bool) -> None:
    """Business milestones: orders waiting for finance to approve their billing, overdue invoices
    (by aging bucket, with the amounts per currency), delayed onboardings and renewals blocked by
    payment. `opsconsole milestones show NAME` lists the records behind one."""
    if ctx.invoked_subcommand is not None:
        return
    from opsconsole.milestones import business_milestones

    with _store() as conn:
        m = business_milestones(conn, as_of)
    if as_json:
        common.emit_json(m.as_dict())
        return
    out = common.stdout()
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left",
              title=f"business milestones as of {as_of.isoformat()}")
    t.add_column("MILESTONE", overflow="fold")
    t.add_column("COUNT", justify="right", no_wrap=True)
    t.add_column("DETAIL", overflow="fold")
    buckets = "  ".join(f"{b}: {n}" for b, n in m.invoices_overdue.items())
    amounts = ", ".join(f"{cur} {amount}" for cur, amount in m.overdue_amounts.items()) or "nothing due"
    for name in MEANINGS:
        detail = Text(MEANINGS[name], style="dim")
        if name == "invoices_overdue":
            detail = Text(f"{buckets}\n") + common.cell(amounts)
        n = m.count(name)
        t.add_row(Text(name.replace("_", " ")), Text(str(n), style="bold" if n else ""), detail)
    out.print(t)
    out.print(Text("the records behind one: `opsconsole milestones show NAME` (NAME as above, with underscores)"))


COLUMNS = {  # table columns by milestone: (heading, row key), grouped for narrow terminals
    "orders_awaiting_billing_approval": [
        (("ORDER", "order_number"), ("KEY", "order_key")), (("CUSTOMER", "legal_name"), ("ID", "customer_id")),
        (("ORDERED", "ordered_on"),), (("DAYS WAITING", "days_waiting"),)],
    "invoices_overdue": [
        (("INVOICE", "invoice_number"), ("ID", "invoice_id")), (("CUSTOMER", "customer_id"),),
        (("AMOUNT DUE", "amount_due"), ("CURRENCY", "currency")), (("STATUS", "status"),),
        (("DUE", "due_on"), ("BUCKET", "aging_bucket")), (("DAYS OVERDUE", "days_overdue"),)],
    "onboardings_delayed": [
        (("ORDER", "order_number"), ("KEY", "order_key")), (("CUSTOMER", "legal_name"), ("ID", "customer_id")),
        (("STAGE", "stage"), ("NEXT MILESTONE", "next_milestone")), (("DUE", "next_due_on"),),
        (("DAYS LATE", "days_late"),), (("REASON", "reason"),)],
    "renewals_blocked_by_payment": [
        (("CUSTOMER", "legal_name"), ("ID", "customer_id")), (("RENEWAL", "renewal_on"),),
        (("DAYS TO RENEWAL", "days_to_renewal"),), (("SCORE", "score"),), (("REASON", "reason"),),
        (("DEAL", "deal_id"), ("DEAL STAGE", "deal_stage"))],
}


@milestones.command("show", epilog=MILESTONES_HELP + "\n\n" + SHOW_JSON)
@click.argument("name", metavar="NAME")
@_as_of_option
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Rows per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True,
              help="Rows to skip (oldest or worst first).")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
def milestones_show(name: str, as_of: date, limit: int, offset: int, as_json: bool) -> None:
    """The records behind one milestone, oldest or worst first: invoices by due date, onboardings
    by the due date of their next milestone, orders by how long they have waited, renewals by
    renewal date. NAME is one of the milestones below."""
    from opsconsole.milestones import NAMES, business_milestones, milestone_rows

    if name not in NAMES:
        raise click.BadParameter(f"unknown milestone {name!r}: one of {', '.join(NAMES)}", param_hint="'NAME'")
    with _store() as conn:
        total = business_milestones(conn, as_of).count(name)
        rows = milestone_rows(conn, name, as_of, limit=limit, offset=offset)
    if as_json:
        common.emit_json({"milestone": name, "as_of": as_of.isoformat(), "total": total, "offset": offset,
                          "limit": limit, "rows": rows})
        return
    out = common.stdout()
    out.print(common.cell(f"{name.replace('_', ' ')} as of {as_of.isoformat()}: {MEANINGS[name]}", "dim"))
    if not rows:
        out.print(Text(f"none{f' past row {offset}' if offset else ''}"))
        return
    groups = [tuple(heading for heading, _ in group) for group in COLUMNS[name]]
    keys = {heading: key for group in COLUMNS[name] for heading, key in group}
    cells = [{heading: common.cell(row.get(key)) for heading, key in keys.items()} for row in rows]
    out.print(common.table(out, groups, cells, wide_from=140))
    out.print(Text(f"{offset + 1}-{offset + len(rows)} of {total}"))
