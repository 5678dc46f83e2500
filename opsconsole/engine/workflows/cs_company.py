"""update_cs_company: the step that shows customer success what changed in a customer's golden record.

When a customer's golden record changes (a CRM company change in company_to_contact, an ERP contact
change in contact_to_company) and the customer exists in Intercom (a cross-reference
``intercom/company``, whose external id is the Intercom ``company_id``), the Intercom company is
updated with what changed that it shows: the name (legal_name) and the website (from the domain),
through ``data/mappings/intercom/company.v1.toml``. A customer not in Intercom, a run that changed
nothing Intercom shows, or an engine with no Intercom connection skips the step; nothing is created
in Intercom here.

Why a step of the workflows that change the customer, not a workflow of its own: what to send is
exactly what the run's validate step changed in the golden record (``changed_fields``), which only
that run knows; a workflow of its own would need an event the engine makes for itself, a second run
and trace for one business change, and its own lock on the account. As a step it shares the run's
correlation id (one trace: CRM -> ERP -> customer success), its account lock (the ERP write and the
Intercom write for one customer never cross), and its retries; a failed Intercom write is retried
or replayed from this step without repeating the ERP write before it. The write is Intercom's
create-or-update by ``company_id`` (DESIGN: effectively once), so a repeat changes nothing.
"""

from __future__ import annotations

from typing import Any

from canonical.mapper import catalogue
from opsconsole.engine import records
from opsconsole.engine.workflows.base import RunState, Sent, StepSpec

STEP = StepSpec("update_cs_company", "intercom", "POST /companies", build_ahead=True)
CS_CUSTOMER_FIELDS = ("legal_name", "domain")
"""What an Intercom company shows of the customer (data/mappings/intercom/company.v1.toml)."""


def cs_company_of(conn, state: RunState) -> dict:
    """For the validate step's summary (read in the matching commit): the customer's Intercom
    ``company_id``, or None when the customer is not in Intercom."""
    customer_id = state.account_key
    found = customer_id and not state.customer_created
    return {"intercom_company": records.find_xref(conn, customer_id, "intercom", "company") if found else None}


def build(env, state: RunState, customer: dict[str, Any]) -> dict | None:
    """The create-or-update body with the changed fields Intercom shows, or None (step skipped)."""
    if "intercom" not in env.clients:
        return None
    summary = state.results.get("validate") or {}
    company_id = summary.get("intercom_company")
    changed = [name for name in (summary.get("changed") or []) if name in CS_CUSTOMER_FIELDS]
    if not company_id or not changed:
        return None
    body = catalogue().get("intercom/company", state.mapping_version).write(
        {name: customer.get(name) for name in changed}, {"company_id": company_id})
    if "domain" in changed and not customer.get("domain"):
        body["website"] = ""  # the owner cleared the domain
    return body


async def send(env, payload: dict, traceparent: str) -> Sent:
    rec = await env.client("intercom").upsert_company(payload, traceparent=traceparent)
    return Sent(rec)
