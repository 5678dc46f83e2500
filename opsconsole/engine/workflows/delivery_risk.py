"""delivery_risk: a late implementation shows as delivery risk on the CRM company.

Opened by the scheduled onboarding watch (engine/lifecycle_jobs.py) when an onboarding's delivery
risk changes (a milestone past its due date, or no longer), with the level and its one-line reason
in the run's context. Business key ``delivery_risk:<order key>:<time>``.

validate (the customer's HubSpot company) -> update_crm_company (PATCH the company's
``delivery_risk`` and ``delivery_risk_reason``; skipped when the customer has no CRM company).
"""

from __future__ import annotations

from typing import Any

from opsconsole.engine import records
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow


class DeliveryRisk(Workflow):
    name = "delivery_risk"
    triggers = ("scheduled",)
    dedupe_by_business_key = True
    steps = (
        StepSpec("validate", "engine", "find the customer's CRM company"),
        StepSpec("update_crm_company", "hubspot", "PATCH /crm/v3/objects/companies/{id}"),
    )

    async def load(self, env, state: RunState) -> dict:
        ctx = state.context
        customer = ctx.get("customer_id") or ""
        company = env.read(lambda c: records.find_xref(c, customer, "hubspot", "company")) if customer else None
        return {"customer_id": customer, "order_key": ctx.get("order_key", ""), "risk": ctx.get("risk", "none"),
                "reason": ctx.get("reason", ""), "company": company}

    def identity(self, state: RunState) -> dict | None:
        return None

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        src = state.source or {}
        return Prepared(src["customer_id"] or state.business_key, {
            "customer_id": src["customer_id"], "matched_by": "order", "order_key": src["order_key"],
            "delivery_risk": src["risk"], "reason": src["reason"], "company": src["company"]})

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        summary = state.results.get("validate") or {}
        if step.name == "validate" or not summary.get("company") or "hubspot" not in env.clients:
            return None
        return {"company": summary["company"], "properties": {
            "delivery_risk": summary["delivery_risk"], "delivery_risk_reason": summary["reason"]}}

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        rec = await env.client("hubspot").update_company(payload["company"], payload["properties"],
                                                         traceparent=traceparent)
        return Sent(rec)
