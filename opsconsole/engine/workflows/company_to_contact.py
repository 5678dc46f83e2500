"""company_to_contact: a changed CRM company is mapped and upserted as the ERP contact (one hop).

Every change event is its own run (its idempotency keys carry the change's time), so a later
change is sent, while a redelivered webhook for the same change is not.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.mapping import MappingError, company_problems, mapping
from opsconsole.engine.workflows.base import (
    CRM_CUSTOMER_FIELDS, Prepared, RunState, Sent, StepSpec, Workflow, changed_fields, company_identity,
    govern_customer, known_contact, prefetch_contact,
)


class CompanyToContact(Workflow):
    name = "company_to_contact"
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "validate and match customer"),
        StepSpec("upsert_contact", "xero", "POST /Contacts"),
    )

    async def load(self, env, state: RunState) -> dict:
        company_id = state.business_key.split(":")[2]
        company = await env.client("hubspot").get_company(company_id, traceparent=env.traceparent(state))
        return {"company": company}

    def identity(self, state: RunState) -> dict | None:
        company = (state.source or {}).get("company")
        return company_identity(company) if company else None

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        company = (state.source or {}).get("company")
        problems = company_problems(company) if company else ["the company no longer exists in the CRM"]
        if problems:
            raise MappingError(problems)
        state.mapped["customer"] = mapping(state.mapping_version)["customer"](company, customer_id)
        return Prepared(customer_id, {"customer_id": customer_id, "matched_by": matched_by, "company": str(company["id"])})

    def prefetch(self, conn, state: RunState) -> None:
        prefetch_contact(conn, state)

    def govern(self, conn, state: RunState) -> dict:
        _, _, company_id, occurred = (state.business_key.split(":") + ["", ""])[:4]
        at = datetime.fromtimestamp(int(occurred) / 1000, tz=timezone.utc) if occurred.isdigit() else None
        return govern_customer(conn, state, "hubspot", state.mapped["customer"], CRM_CUSTOMER_FIELDS,
                               event_id=state.business_key, at=at)

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == "validate":
            return None
        contact_id = known_contact(env, state)
        customer = state.mapped["customer"]
        changed = changed_fields(state)
        if contact_id is not None and changed is not None:
            # an update carries only what changed in the golden record; a conflict is not sent on
            if not changed:
                return None
            customer = {name: customer.model_dump()[name] for name in changed}
        return mapping(state.mapping_version)["contact"](customer, contact_id)

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        rec = await env.client("xero").upsert_contact(payload, idempotency_key=idempotency_key, traceparent=traceparent)
        return Sent(rec, [("xero", "contact", rec["ContactID"], state.account_key)])
