"""renewal_readiness: a customer's renewal readiness from facts in all three systems, written back to
the CRM and customer success.

Opened per customer by the scheduled renewal batch (engine/renewal_batch.py). Business key
``renewal:<customer id>:<batch time>``. ``load`` gathers, over HTTP:

- Intercom: the company's ``health_score`` attribute and the open tickets of the customer's
  contacts created in the last trend window and the one before (the trend);
- Xero: the ERP contact's AUTHORISED and PAID invoices (overdue amount, days late, late payments);
- HubSpot: the company's renewal deal (``dealtype`` existingbusiness; the latest by close date) and
  its stage.

validate scores them under data/renewal.toml (canonical/renewal.py) and records the result in
``renewals``; update_crm_company (``renewal_readiness`` and its reason), update_crm_deal (the
renewal deal's ``renewal_readiness``) and update_cs_company (Intercom company attributes) send it,
each only when the readiness or its reason changed since the last evaluation. A system the customer
is not in, or no connection to it, leaves its facts unknown and its step skipped.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select

from canonical.receivables import payment_history
from canonical.renewal import RenewalInputs, RenewalRules, readiness
from opsconsole.engine import records
from opsconsole.engine.rulebook import Rulebook
from opsconsole.engine.workflows import writeback
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow
from opsconsole.store.tables import customers, renewals

RENEWAL_DEAL_TYPE = "existingbusiness"
RENEWAL = Rulebook(RenewalRules.load)
renewal_rules = RENEWAL.get
use_renewal_rules = RENEWAL.use


def _today() -> date:
    return datetime.now(timezone.utc).date()


def renewal_deal(deals: list[dict]) -> dict | None:
    """The renewal deal: of type existingbusiness, the one closing last."""
    found = [d for d in deals if (d.get("properties") or {}).get("dealtype") == RENEWAL_DEAL_TYPE]
    return max(found, key=lambda d: (d.get("properties") or {}).get("closedate") or "") if found else None


class RenewalReadiness(Workflow):
    name = "renewal_readiness"
    triggers = ("scheduled",)
    steps = (
        StepSpec("validate", "engine", "gather health, tickets, payments and the renewal deal; score them"),
        *writeback.STEPS,
    )

    @staticmethod
    def customer_id(state: RunState) -> str:
        return state.business_key.split(":")[1]

    async def load(self, env, state: RunState) -> dict:
        customer = self.customer_id(state)

        def ids(conn):
            name = conn.execute(select(customers.c.legal_name).where(customers.c.canonical_id == customer)).scalar()
            return {"legal_name": name or "", "company": records.find_xref(conn, customer, "hubspot", "company"),
                    "contact": records.find_xref(conn, customer, "xero", "contact"),
                    "cs_company": records.find_xref(conn, customer, "intercom", "company"),
                    "cs_contacts": records.intercom_contacts(conn, customer)}

        known = env.read(ids)
        tp = env.traceparent(state)
        window = renewal_rules().trend_window_days * 86400
        now = int(time.time())
        src: dict[str, Any] = {**known, "health": None, "tickets": [0, 0], "invoices": [], "deal": None}
        if known["cs_company"] and "intercom" in env.clients:
            intercom = env.client("intercom")
            company = await intercom.find_company(known["cs_company"], traceparent=tp)
            src["health"] = ((company or {}).get("custom_attributes") or {}).get("health_score")
            src["cs_company_id"] = (company or {}).get("id")
            if known["cs_contacts"]:
                src["tickets"] = [
                    await intercom.count_open_tickets(known["cs_contacts"], now - window, now + 1, traceparent=tp),
                    await intercom.count_open_tickets(known["cs_contacts"], now - 2 * window, now - window,
                                                      traceparent=tp)]
        if known["contact"] and "xero" in env.clients:
            src["invoices"] = [
                {k: inv.get(k) for k in ("InvoiceID", "Status", "DueDate", "DueDateString", "Date", "DateString",
                                         "FullyPaidOnDate", "AmountDue", "CurrencyCode")}
                async for inv in env.client("xero").iter_invoices(contact_ids=[known["contact"]],
                                                                  statuses=["AUTHORISED", "PAID"], traceparent=tp)]
        if known["company"] and "hubspot" in env.clients:
            src["deal"] = renewal_deal(await env.client("hubspot").company_deals(known["company"], traceparent=tp))
        return src

    def identity(self, state: RunState) -> dict | None:
        return None

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        src = state.source or {}
        customer, today = self.customer_id(state), _today()
        history = payment_history(src.get("invoices") or [], today)
        deal = src.get("deal") or {}
        props = deal.get("properties") or {}
        closes = str(props.get("closedate") or "")[:10]
        health = src.get("health")
        inputs = RenewalInputs(
            customer_id=customer, health_score=int(health) if isinstance(health, (int, float)) else None,
            open_tickets_recent=int(src["tickets"][0]), open_tickets_previous=int(src["tickets"][1]),
            overdue_amount=history.overdue, max_days_late=history.max_days_late,
            late_payments=history.late_payments, deal_stage=props.get("dealstage") if deal else None,
            renewal_on=date.fromisoformat(closes) if len(closes) == 10 else None)
        result = readiness(inputs, renewal_rules())
        facts = {"health": inputs.health_score, "tickets": src["tickets"],
                 "overdue": str(history.overdue) if history.overdue else None,
                 "max_days_late": history.max_days_late, "late_payments": history.late_payments}
        state.mapped.update(inputs=inputs, result=result, facts=facts)
        return Prepared(customer, {
            "customer_id": customer, "matched_by": "batch", "readiness": result.status, "score": result.score,
            "reason": result.reason, "components": result.components, "company": src.get("company"),
            "deal": deal.get("id"), "deal_stage": props.get("dealstage") or "", "cs_company": src.get("cs_company"),
            "renewal_on": inputs.renewal_on.isoformat() if inputs.renewal_on else None,
            "inputs": facts,
        })

    def govern(self, conn, state: RunState) -> dict:
        """Record the evaluation (inside the validate commit); later steps send only a change."""
        from opsconsole.store import prepared as P

        src, customer = state.source or {}, self.customer_id(state)
        inputs, result, facts = state.mapped["inputs"], state.mapped["result"], state.mapped["facts"]
        before = conn.execute(select(renewals.c.readiness, renewals.c.reason)
                              .where(renewals.c.customer_id == customer)).first()
        deal = src.get("deal") or {}
        P.upsert_many(conn, renewals, ("customer_id",), [{
            "customer_id": customer, "legal_name": src.get("legal_name") or "", "readiness": result.status,
            "score": result.score, "reason": result.reason, "deal_id": str(deal.get("id") or ""),
            "deal_stage": str((deal.get("properties") or {}).get("dealstage") or ""),
            "renewal_on": inputs.renewal_on.isoformat() if inputs.renewal_on else None,
            "inputs": {"components": result.components, **facts}, "evaluated_at": time.time()}])
        return {"changed": before is None or tuple(before) != (result.status, result.reason)}

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        summary = state.results.get("validate") or {}
        if step.name == "validate" or not summary.get("changed"):
            return None
        readiness_, reason = summary["readiness"], summary["reason"]
        if step.name == "update_crm_company" and summary.get("company") and "hubspot" in env.clients:
            return {"company": summary["company"], "properties": {
                "renewal_readiness": readiness_, "renewal_readiness_reason": reason}}
        if step.name == "update_crm_deal" and summary.get("deal") and "hubspot" in env.clients:
            return {"deal": summary["deal"], "properties": {"renewal_readiness": readiness_}}
        if step.name == "update_cs_company" and summary.get("cs_company") and "intercom" in env.clients:
            return {"company_id": summary["cs_company"], "custom_attributes": {
                "renewal_readiness": readiness_, "renewal_readiness_reason": reason,
                "renewal_score": summary["score"]}}
        return None

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        return await writeback.send(step, payload, env, traceparent)

