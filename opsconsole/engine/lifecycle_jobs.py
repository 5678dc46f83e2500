"""Scheduled lifecycle jobs (APScheduler, engine/scheduler.py): what time passing changes.

- :class:`OnboardingWatch`: for each started onboarding, reads the Intercom company's
  ``onboarding_stage`` (customer success moves it forward), marks milestones done, and when the
  delivery risk changes (a milestone past its due date, or none any more) opens a ``delivery_risk``
  run that writes it to the CRM company.
- :class:`ReceivablesRecheck`: an open invoice becomes overdue, and older, without any webhook; when
  its aging bucket moves on, an ``invoice_feedback`` run re-reads it from the ERP and sends the new
  position (once per invoice and day).

Each job pages through its rows (``batch`` at a time, by primary key) so a large store is never
read whole, and writes only through the engine's writer.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timezone

from sqlalchemy import select, update

from canonical.models import aging_bucket
from canonical.onboarding import delivery_risk, next_due, progress
from connectors.errors import ConnectorError
from opsconsole.engine import lifecycle, records
from opsconsole.store.tables import onboardings, payment_positions, runs

log = logging.getLogger("opsconsole.lifecycle")


def today() -> date:
    return datetime.now(timezone.utc).date()


class OnboardingWatch:
    def __init__(self, env, *, batch: int = 200) -> None:
        self.env = env
        self.batch = batch
        self.last_result = ""

    def _page(self, after: str) -> list[dict]:
        return self.env.read(lambda c: [dict(r) for r in c.execute(
            select(onboardings).where(onboardings.c.state == "started", onboardings.c.order_key > after)
            .order_by(onboardings.c.order_key).limit(self.batch)).mappings()])

    async def _stage(self, customer_id: str) -> str | None:
        if "intercom" not in self.env.clients:
            return None
        company = await self.env.client("intercom").find_company(customer_id)
        return ((company or {}).get("custom_attributes") or {}).get("onboarding_stage")

    async def run(self) -> None:
        policy, day = lifecycle.policy(), today()
        seen = changed = opened = 0
        after = ""
        while True:
            rows = self._page(after)
            if not rows:
                break
            after = rows[-1]["order_key"]
            for row in rows:
                seen += 1
                try:
                    stage = await self._stage(row["customer_id"])
                except ConnectorError as err:  # this one waits for the next round; the others go on
                    log.warning("onboarding watch: %s: %s", row["order_key"], err)
                    stage = None
                plan = progress(policy, row["plan"] or [], stage, day) if stage else (row["plan"] or [])
                risk, reason = delivery_risk(policy, plan, day)
                values = {"plan": plan, "next_due_on": next_due(plan), "stage": stage or row["stage"],
                          "delivery_risk": risk, "delivery_risk_reason": reason}
                if stage == policy.stages[-1]:
                    values["state"] = "live"
                if all(row.get(k) == v for k, v in values.items()):
                    continue
                changed += 1
                opened += await self.env.writer.run(lambda c, row=row, values=values: self._save(c, row, values))
        self.last_result = f"{seen} onboardings watched, {changed} changed, {opened} delivery-risk updates"

    @staticmethod
    def _save(conn, row: dict, values: dict) -> int:
        conn.execute(update(onboardings).where(onboardings.c.order_key == row["order_key"])
                     .values(**values, updated_at=time.time()))
        if values["delivery_risk"] == row["delivery_risk"] and values["delivery_risk_reason"] == row["delivery_risk_reason"]:
            return 0
        records.open_run(conn, "delivery_risk", f"delivery_risk:{row['order_key']}:{time.time():.3f}", {
            "customer_id": row["customer_id"], "order_key": row["order_key"], "risk": values["delivery_risk"],
            "reason": values["delivery_risk_reason"]})
        return 1


class ReceivablesRecheck:
    OPEN = ("unpaid", "partially_paid", "overdue")

    def __init__(self, env, *, batch: int = 500) -> None:
        self.env = env
        self.batch = batch
        self.last_result = ""

    def _page(self, after: str, day: date) -> list[tuple]:
        return self.env.read(lambda c: c.execute(
            select(payment_positions.c.invoice_id, payment_positions.c.due_on, payment_positions.c.aging_bucket)
            .where(payment_positions.c.status.in_(self.OPEN), payment_positions.c.due_on < day.isoformat(),
                   payment_positions.c.invoice_id > after)
            .order_by(payment_positions.c.invoice_id).limit(self.batch)).all())

    async def run(self) -> None:
        day = today()
        moved = []
        after = ""
        while True:
            rows = self._page(after, day)
            if not rows:
                break
            after = rows[-1][0]
            for invoice_id, due_on, bucket in rows:
                if aging_bucket((day - date.fromisoformat(due_on)).days) != bucket:
                    moved.append(invoice_id)
        opened = await self.env.writer.run(lambda c: self._open(c, moved, day)) if moved else 0
        self.last_result = f"{len(moved)} invoices aged into a new bucket, {opened} re-read from the ERP"

    @staticmethod
    def _open(conn, invoice_ids: list[str], day: date) -> int:
        opened = 0
        for invoice_id in invoice_ids:
            key = f"xero:invoice:{invoice_id}:recheck-{day.isoformat()}"
            if conn.execute(select(runs.c.id).where(runs.c.workflow == "invoice_feedback",
                                                    runs.c.business_key == key).limit(1)).first():
                continue
            records.open_run(conn, "invoice_feedback", key)
            opened += 1
        return opened
