"""cs_company_to_crm: a company changed in customer success is applied to the golden record as Intercom.

An Intercom ``company.updated`` notification starts it; the run re-reads the company
(``GET /companies/{id}``), maps its name and website (``intercom/company``) and matches the customer
like any other source record: by its ``intercom/company`` cross-reference (the Intercom
``company_id``), else by the duplicate-matching score (data/matching.toml).

Intercom owns no customer field (ownership.toml): a filled value that differs from the golden
record's (a name the ERP owns, a domain the CRM owns) is an ownership conflict, recorded once and
never written anywhere; Intercom may only fill a value nobody has set yet, and what it filled is
written to the customer's HubSpot company (``update_crm_company``, only those fields). The echo of
the engine's own Intercom write (``update_cs_company``) reads the same as the golden record and
changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.identity import normalise_domain
from canonical.mapper import catalogue
from canonical.mapping import MappingError
from opsconsole.engine import governance, records
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow
from opsconsole.engine.workflows.cs_company import CS_CUSTOMER_FIELDS

CRM_STEP = StepSpec("update_crm_company", "hubspot", "PATCH /crm/v3/objects/companies/{id}")


class CsCompanyToCrm(Workflow):
    name = "cs_company_to_crm"
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "map the customer-success company, match the customer"),
        CRM_STEP,
    )

    @staticmethod
    def _key(state: RunState) -> tuple[str, str]:
        _, _, company_id, updated = (state.business_key.split(":") + ["", ""])[:4]
        return company_id, updated

    async def load(self, env, state: RunState) -> dict:
        if "intercom" not in env.clients:
            raise MappingError(["no Intercom connection is configured (settings [intercom] base_url)"])
        company = await env.client("intercom").get_company(self._key(state)[0], traceparent=env.traceparent(state))
        return {"company": company}

    def identity(self, state: RunState) -> dict | None:
        company = (state.source or {}).get("company")
        if not company:
            return None
        return dict(system="intercom", object_type="company",
                    external_id=str(company.get("company_id") or company["id"]), legal_name=company.get("name") or "",
                    tax_number="", domain=normalise_domain(company.get("website") or ""))

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        company = (state.source or {}).get("company")
        if not company:
            raise MappingError(["the company no longer exists in customer success"])
        problems: list[str] = []
        values = catalogue().get("intercom/company", state.mapping_version).read_dict(
            company, {"customer_id": customer_id}, problems)
        if problems:
            raise MappingError(problems)
        state.mapped["values"] = {n: values.get(n, "") for n in CS_CUSTOMER_FIELDS}
        return Prepared(customer_id, {"customer_id": customer_id, "matched_by": matched_by,
                                      "intercom_company": str(company.get("company_id") or company["id"])})

    def govern(self, conn, state: RunState) -> dict:
        updated = self._key(state)[1]
        at = datetime.fromtimestamp(int(updated), tz=timezone.utc) if updated.isdigit() else datetime.now(timezone.utc)
        outcome, opened = governance.apply_to_golden(conn, governance.ownership_rules(), "customer", state.account_key,
                                                     "intercom", state.mapped["values"], event_id=state.business_key,
                                                     at=at)
        return {"changed": sorted(outcome.changed), "conflicts": opened,
                "company": records.find_xref(conn, state.account_key, "hubspot", "company")}

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == "validate":
            return None
        summary = state.results.get("validate") or {}
        changed = [n for n in summary.get("changed") or [] if n in CS_CUSTOMER_FIELDS]
        if not summary.get("company") or not changed:
            return None  # no CRM company, or nothing Intercom was allowed to set
        values = state.mapped["values"]
        body = catalogue().get("hubspot/customer", state.mapping_version).write({n: values[n] for n in changed})
        properties = body.get("properties") or {}
        return {"company": summary["company"], "properties": properties} if properties else None

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        rec = await env.client("hubspot").update_company(payload["company"], payload["properties"],
                                                         traceparent=traceparent)
        return Sent(rec)
