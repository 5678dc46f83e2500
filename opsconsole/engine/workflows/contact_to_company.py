"""contact_to_company: a changed ERP contact flows back to the CRM company, following ownership.

Xero's webhooks are thin (the contact's id only), so the run re-reads the contact, maps it, and
applies its values to the golden record as the ERP: the fields the ERP owns (legal name, tax
number, billing address) change there, and only what changed is written to the HubSpot company.
A value the ERP sets that the CRM already shows changes nothing, so the CRM's own change event
that follows the write is a no-op and nothing loops. What changed that customer success shows (the
name) goes to the customer's Intercom company (``update_cs_company``, see :mod:`.cs_company`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from canonical.mapper import catalogue
from opsconsole.engine import records
from opsconsole.engine.workflows import cs_company
from opsconsole.engine.workflows.base import (
    Prepared, RunState, Sent, StepSpec, Workflow, changed_fields, govern_customer,
)

ERP_CUSTOMER_FIELDS = ("legal_name", "tax_number", "billing_address")


class ContactToCompany(Workflow):
    name = "contact_to_company"
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "map the ERP contact, match the customer"),
        StepSpec("update_company", "hubspot", "PATCH /crm/v3/objects/companies/{id}"),
        cs_company.STEP,
    )

    @staticmethod
    def contact_id(state: RunState) -> str:
        return state.business_key.split(":")[2]

    async def load(self, env, state: RunState) -> dict:
        contact = await env.client("xero").get_contact(self.contact_id(state), traceparent=env.traceparent(state))
        return {"contact": contact}

    def identity(self, state: RunState) -> dict | None:
        contact = (state.source or {}).get("contact") or {}
        return dict(system="xero", object_type="contact", external_id=str(contact.get("ContactID", "")),
                    legal_name=contact.get("Name") or "", tax_number=contact.get("TaxNumber") or "", domain="")

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        contact = (state.source or {})["contact"]
        mapping = catalogue().get("xero/contact", state.mapping_version)
        state.mapped["customer"] = mapping.read(contact, {"customer_id": customer_id})
        return Prepared(customer_id, {"customer_id": customer_id, "matched_by": matched_by,
                                      "contact": contact["ContactID"]})

    previews_govern = True  # govern_customer, and reads

    def govern(self, conn, state: RunState) -> dict:
        contact = (state.source or {})["contact"]
        at = _xero_time(contact.get("UpdatedDateUTC"))
        out = govern_customer(conn, state, "xero", state.mapped["customer"], ERP_CUSTOMER_FIELDS,
                              event_id=state.business_key, at=at)
        out["company"] = records.find_xref(conn, state.account_key, "hubspot", "company")
        return {**out, **cs_company.cs_company_of(conn, state)}

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == cs_company.STEP.name:
            return cs_company.build(env, state, state.mapped["customer"].model_dump())
        summary = state.results.get("validate") or {}
        changed = [f for f in (changed_fields(state) or []) if f in ERP_CUSTOMER_FIELDS]
        if not summary.get("company") or not changed:
            return None  # no CRM company for this customer, or nothing it should show changed
        customer = state.mapped["customer"].model_dump()
        body = catalogue().get("hubspot/customer", state.mapping_version).write({n: customer[n] for n in changed})
        return {"company": summary["company"], **body}

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        if step.name == cs_company.STEP.name:
            return await cs_company.send(env, payload, traceparent)
        rec = await env.client("hubspot").update_company(payload["company"], payload["properties"],
                                                         traceparent=traceparent)
        return Sent(rec)


def _xero_time(value: Any) -> datetime | None:
    from connectors.pagination import parse_xero_date

    return parse_xero_date(value)
