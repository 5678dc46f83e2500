"""Business milestones as queries over the lifecycle's read models (migration 0004), for the
dashboard and ``opsconsole milestones``.

- orders awaiting billing approval: the ERP accepted the order, finance has not approved its first
  invoice yet (``onboardings.state == "awaiting_approval"``);
- invoices overdue: open invoices (unpaid, partially paid, overdue) due before ``as_of``, by aging
  bucket of days past due *as of* ``as_of`` (from ``due_on``, not the stored ``aging_bucket``, so time
  passing counts), with the amount due per currency;
- onboardings delayed: started onboardings whose earliest milestone not done was due before ``as_of``;
- renewals blocked by payment: renewal readiness ``blocked_by_payment``.

Every query filters on the leading columns of its table's index, (status, due_on), (state,
next_due_on), (readiness, renewal_on); dates are ISO strings compared as strings, so the same SQL
runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import Connection, case, func, select, union_all

from canonical.models import aging_bucket
from opsconsole.store.tables import onboardings, payment_positions, renewals

BUCKETS = ("1-30", "31-60", "61-90", "90+")
OPEN_INVOICE = ("unpaid", "partially_paid", "overdue")
NAMES = ("orders_awaiting_billing_approval", "invoices_overdue", "onboardings_delayed", "renewals_blocked_by_payment")
CENT = Decimal("0.01")  # rounded half-even, as canonical.money does


@dataclass(frozen=True)
class Milestones:
    as_of: date
    orders_awaiting_billing_approval: int
    invoices_overdue: dict[str, int]  # aging bucket -> invoices; all four BUCKETS
    overdue_amounts: dict[str, str]  # currency -> amount due of the overdue invoices, 2 places
    onboardings_delayed: int
    renewals_blocked_by_payment: int

    @property
    def invoices_overdue_total(self) -> int:
        return sum(self.invoices_overdue.values())

    def count(self, name: str) -> int:
        """The count behind milestone ``name`` (invoices overdue: all buckets)."""
        _check(name)
        return self.invoices_overdue_total if name == "invoices_overdue" else getattr(self, name)

    def as_dict(self) -> dict:
        doc = asdict(self)
        doc["as_of"] = self.as_of.isoformat()
        return doc


def _check(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown milestone {name!r}: one of {', '.join(NAMES)}")


def _iso(day: date, days_before: int = 0) -> str:
    return (day - timedelta(days=days_before)).isoformat()


def _overdue_where(as_of: date):
    return (payment_positions.c.status.in_(OPEN_INVOICE), payment_positions.c.due_on < _iso(as_of))


def _bucket_counts(conn: Connection, as_of: date) -> dict[str, int]:
    # one index range scan over (status, due_on); days past due d = as_of - due_on:
    # 1-30: due_on >= as_of-30; 31-60: as_of-60 <= due_on < as_of-30; 61-90: as_of-90 <= due_on < as_of-60;
    # 90+: due_on < as_of-90 (the same boundaries as canonical.models.aging_bucket)
    due = payment_positions.c.due_on
    d30, d60, d90 = _iso(as_of, 30), _iso(as_of, 60), _iso(as_of, 90)
    conds = (due >= d30, (due < d30) & (due >= d60), (due < d60) & (due >= d90), due < d90)
    cols = [func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in conds]
    row = conn.execute(select(*cols).where(*_overdue_where(as_of))).one()
    return {bucket: int(n) for bucket, n in zip(BUCKETS, row)}


def _overdue_amounts(conn: Connection, as_of: date) -> dict[str, str]:
    # amount_due is a decimal string: SUM() in SQL would cast it (to a float on SQLite), so the
    # overdue rows' (currency, amount_due) are streamed and summed with Decimal here. This is linear
    # in the overdue invoices (not bounded); an integer minor-units column would let SQL sum it.
    totals: dict[str, Decimal] = {}
    stmt = (select(payment_positions.c.currency, payment_positions.c.amount_due)
            .where(*_overdue_where(as_of)).execution_options(yield_per=1000))
    for currency, amount in conn.execute(stmt):
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(amount or "0")
    return {cur: str(total.quantize(CENT, rounding=ROUND_HALF_EVEN)) for cur, total in sorted(totals.items())}


def _count(conn: Connection, table, *where) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _awaiting_where():
    return (onboardings.c.state == "awaiting_approval",)


def _delayed_where(as_of: date):
    return (onboardings.c.state == "started", onboardings.c.next_due_on < _iso(as_of))


def _blocked_where():
    return (renewals.c.readiness == "blocked_by_payment",)


def business_milestones(conn: Connection, as_of: date) -> Milestones:
    """The four business milestones as of ``as_of`` (a day)."""
    return Milestones(
        as_of=as_of,
        orders_awaiting_billing_approval=_count(conn, onboardings, *_awaiting_where()),
        invoices_overdue=_bucket_counts(conn, as_of),
        overdue_amounts=_overdue_amounts(conn, as_of),
        onboardings_delayed=_count(conn, onboardings, *_delayed_where(as_of)),
        renewals_blocked_by_payment=_count(conn, renewals, *_blocked_where()),
    )


def _days(later: date, earlier: str | None) -> int | None:
    return (later - date.fromisoformat(earlier)).days if earlier else None


def _next_milestone(plan) -> str:
    due = [m for m in (plan or []) if m.get("done_on") is None and m.get("due_on")]
    return min(due, key=lambda m: m["due_on"])["name"] if due else ""


def milestone_rows(conn: Connection, name: str, as_of: date, *, limit: int = 50, offset: int = 0) -> list[dict]:
    """The records behind milestone ``name`` as of ``as_of``, oldest or worst first, a page of them.
    Raises ValueError for a name not in NAMES."""
    _check(name)
    if name == "invoices_overdue":
        p = payment_positions.c
        cols = (p.invoice_id, p.invoice_number, p.customer_id, p.status, p.amount_due, p.currency, p.due_on)
        # status IN (...) would read the index in three runs and sort every overdue invoice; one
        # index-ordered run per open status, each cut at offset + limit, bounds the sort to 3 pages
        parts = [select(*cols).where(p.status == status, p.due_on < _iso(as_of))
                 .order_by(p.due_on, p.invoice_id).limit(offset + limit).subquery() for status in OPEN_INVOICE]
        merged = union_all(*(select(*part.c) for part in parts)).subquery()
        stmt = select(*merged.c).order_by(merged.c.due_on, merged.c.invoice_id).limit(limit).offset(offset)
        out = []
        for r in conn.execute(stmt).mappings():
            days = _days(as_of, r["due_on"])
            amount = Decimal(r["amount_due"] or "0").quantize(CENT, rounding=ROUND_HALF_EVEN)
            out.append({**r, "amount_due": str(amount), "days_overdue": days, "aging_bucket": aging_bucket(days)})
        return out
    if name in ("orders_awaiting_billing_approval", "onboardings_delayed"):
        o = onboardings.c
        where = _awaiting_where() if name == "orders_awaiting_billing_approval" else _delayed_where(as_of)
        # (state, next_due_on) index order; for orders awaiting approval next_due_on follows the
        # order date (the plan is laid out from it), so the longest-waiting come first
        stmt = (select(o.order_key, o.order_number, o.customer_id, o.legal_name, o.stage, o.ordered_on,
                       o.next_due_on, o.plan, o.delivery_risk, o.delivery_risk_reason)
                .where(*where).order_by(o.next_due_on.nulls_last(), o.order_key))
        out = []
        for r in conn.execute(stmt.limit(limit).offset(offset)).mappings():
            row = {k: r[k] for k in ("order_key", "order_number", "customer_id", "legal_name", "ordered_on")}
            if name == "orders_awaiting_billing_approval":
                row["days_waiting"] = _days(as_of, r["ordered_on"])
            else:
                row |= {"stage": r["stage"], "next_milestone": _next_milestone(r["plan"]),
                        "next_due_on": r["next_due_on"], "days_late": _days(as_of, r["next_due_on"]),
                        "delivery_risk": r["delivery_risk"], "reason": r["delivery_risk_reason"]}
            out.append(row)
        return out
    n = renewals.c
    stmt = (select(n.customer_id, n.legal_name, n.renewal_on, n.score, n.reason, n.deal_id, n.deal_stage)
            .where(*_blocked_where()).order_by(n.renewal_on.nulls_last(), n.customer_id))
    out = []
    for r in conn.execute(stmt.limit(limit).offset(offset)).mappings():
        days = (date.fromisoformat(r["renewal_on"]) - as_of).days if r["renewal_on"] else None
        out.append({**r, "days_to_renewal": days})  # negative: the renewal date has passed
    return out
