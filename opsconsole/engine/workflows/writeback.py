"""Write-back steps: what the engine learned (financial risk, renewal readiness) sent to the CRM
company and deal and the customer-success company, as property updates and an Intercom upsert."""

from __future__ import annotations

from typing import Any

from opsconsole.engine.workflows.base import Sent, StepSpec

CRM_COMPANY = StepSpec("update_crm_company", "hubspot", "PATCH /crm/v3/objects/companies/{id}")
CRM_DEAL = StepSpec("update_crm_deal", "hubspot", "PATCH /crm/v3/objects/deals/{id}")
CS_COMPANY = StepSpec("update_cs_company", "intercom", "POST /companies")
STEPS = (CRM_COMPANY, CRM_DEAL, CS_COMPANY)


async def send(step: StepSpec, payload: Any, env, traceparent: str) -> Sent:
    """``payload``: {"company"|"deal": id, "properties": {...}} for the CRM, Intercom's company
    create-or-update body for customer success."""
    if step.name == CRM_COMPANY.name:
        rec = await env.client("hubspot").update_company(payload["company"], payload["properties"],
                                                         traceparent=traceparent)
    elif step.name == CRM_DEAL.name:
        rec = await env.client("hubspot").update_properties("deals", payload["deal"], payload["properties"],
                                                            traceparent=traceparent)
    elif step.name == CS_COMPANY.name:
        rec = await env.client("intercom").upsert_company(payload, traceparent=traceparent)
    else:
        raise KeyError(step.name)
    return Sent(rec)
