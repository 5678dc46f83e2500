"""company_to_contact: a changed CRM company is mapped and upserted as the ERP contact (one hop),
and what changed that customer success shows goes to the customer's Intercom company
(``update_cs_company``, see :mod:`.cs_company` for why that is a step here).

Every change event is its own run (its idempotency keys carry the change's time), so a later
change is sent, while a redelivered webhook for the same change is not.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.mapping import MappingError, mapping
from opsconsole.engine.workflows import cs_company
from opsconsole.engine.workflows.base import (
    CRM_CUSTOMER_FIELDS, Prepared, RunState, Sent, StepSpec, Workflow, changed_fields, company_identity,
    erp_confirmed, govern_customer, known_contact, prefetch_contact,
)


class CompanyToContact(Workflow):
    name = "company_to_contact"
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "validate and match customer"),
        StepSpec("upsert_contact", "xero", "POST /Contacts"),
        cs_company.STEP,
    )

    async def load(self, env, state: RunState) -> dict:
        company_id = state.business_key.split(":")[2]
        company = await env.client("hubspot").get_company(company_id, traceparent=env.traceparent(state))
        return {"company": company}

    def identity(self, state: RunState) -> dict | None:
        company = (state.source or {}).get("company")
        return company_identity(company) if company else None

    def premap(self, env, state: RunState) -> None:
        company = (state.source or {}).get("company")
        if not company:
            raise MappingError(["the company no longer exists in the CRM"])
        # raises MappingError listing every problem
        state.mapped["customer_draft"] = mapping(state.mapping_version)["customer"](company, self.UNMATCHED)

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        draft = self.premapped(env, state, "customer_draft")
        state.mapped["customer"] = draft.model_copy(update={"customer_id": customer_id})
        company = state.source["company"]
        return Prepared(customer_id, {"customer_id": customer_id, "matched_by": matched_by, "company": str(company["id"])})

    def prefetch(self, conn, state: RunState) -> None:
        prefetch_contact(conn, state)

    def confirmed(self, conn, env, state: RunState, step: StepSpec, payload: Any) -> None:
        erp_confirmed(conn, state, step, payload)

    previews_govern = True  # govern_customer, and reads

    def govern(self, conn, state: RunState) -> dict:
        _, _, company_id, occurred = (state.business_key.split(":") + ["", ""])[:4]
        at = datetime.fromtimestamp(int(occurred) / 1000, tz=timezone.utc) if occurred.isdigit() else None
        out = govern_customer(conn, state, "hubspot", state.mapped["customer"], CRM_CUSTOMER_FIELDS,
                              event_id=state.business_key, at=at)
        return {**out, **cs_company.cs_company_of(conn, state)}

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == "validate":
            return None
        if step.name == cs_company.STEP.name:
            return cs_company.build(env, state, state.mapped["customer"].model_dump())
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
        if step.name == cs_company.STEP.name:
            return await cs_company.send(env, payload, traceparent)
        rec = await env.client("xero").upsert_contact(payload, idempotency_key=idempotency_key, traceparent=traceparent)
        return Sent(rec, [("xero", "contact", rec["ContactID"], state.account_key)])
