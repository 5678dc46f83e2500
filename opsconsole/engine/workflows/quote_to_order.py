"""quote_to_order: an approved CRM quote becomes an ERP customer, sales order and invoice.

validate (mandatory fields, identity) -> upsert_contact -> create_sales_order (a Xero Quote, SENT)
-> accept_sales_order (moved to ACCEPTED) -> create_invoice. One account's runs are serialised by
the runner, so customer -> order -> invoice never run out of order for it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from canonical.mapping import mapping
from connectors.hubspot.client import associated_ids
from opsconsole.engine import records
from opsconsole.engine.workflows.base import (
    CRM_CUSTOMER_FIELDS, Prepared, RunState, Sent, StepSpec, Workflow, changed_fields, company_identity,
    erp_confirmed, govern_customer, known_contact, prefetch_contact,
)


def _today():
    return datetime.now(timezone.utc).date()


def placeholder(step: str, field: str) -> str:
    return f"<{field} from {step}>"


class QuoteToOrder(Workflow):
    name = "quote_to_order"
    steps = (
        StepSpec("validate", "engine", "validate and match customer"),
        StepSpec("upsert_contact", "xero", "POST /Contacts"),
        StepSpec("create_sales_order", "xero", "PUT /Quotes"),
        StepSpec("accept_sales_order", "xero", "POST /Quotes/{QuoteID}"),
        StepSpec("create_invoice", "xero", "PUT /Invoices"),
    )

    @staticmethod
    def quote_id(state: RunState) -> str:
        return state.business_key.rsplit(":", 1)[-1]

    async def load(self, env, state: RunState) -> dict:
        hubspot = env.client("hubspot")
        tp = env.traceparent(state)
        quote = await hubspot.get_quote(self.quote_id(state), traceparent=tp)
        company_ids = associated_ids(quote, "companies")
        line_ids = associated_ids(quote, "line_items")

        async def company():
            return await hubspot.get_company(company_ids[0], traceparent=tp) if company_ids else None

        async def lines():
            return await hubspot.batch_read_line_items(line_ids, traceparent=tp) if line_ids else []

        company_rec, line_items = await asyncio.gather(company(), lines())
        return {"quote": quote, "company": company_rec, "line_items": line_items}

    def identity(self, state: RunState) -> dict | None:
        company = (state.source or {}).get("company")
        return company_identity(company) if company else None

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        fns = mapping(state.mapping_version)
        src = state.source or {}
        quote = fns["quote"](src["quote"], src.get("company"), src.get("line_items") or [], customer_id)
        state.mapped["quote"] = quote
        return Prepared(customer_id, {
            "customer_id": customer_id, "matched_by": matched_by, "company": str(src["company"]["id"]),
            "legal_name": quote.customer.legal_name, "lines": len(quote.lines), "total": str(quote.total),
        })

    def prefetch(self, conn, state: RunState) -> None:
        prefetch_contact(conn, state)

    def confirmed(self, conn, env, state: RunState, step: StepSpec, payload: Any) -> None:
        erp_confirmed(conn, state, step, payload)

    def govern(self, conn, state: RunState) -> dict:
        return govern_customer(conn, state, "hubspot", state.mapped["quote"].customer, CRM_CUSTOMER_FIELDS,
                               event_id=state.business_key)

    def _contact_id(self, env, state: RunState) -> str | None:
        done = state.results.get("upsert_contact")
        if done and done.get("ContactID"):
            return done["ContactID"]
        return known_contact(env, state)  # also when upsert_contact had nothing to send

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        fns = mapping(state.mapping_version)
        quote = state.mapped["quote"]
        today = _today()
        if step.name == "validate":
            return None
        if step.name == "upsert_contact":
            contact_id, changed = self._contact_id(env, state), changed_fields(state)
            if contact_id is not None and changed is not None:
                # the contact exists: send only what changed in the golden record (conflicts are not)
                if not changed:
                    return None
                return fns["contact"]({n: quote.customer.model_dump()[n] for n in changed}, contact_id)
            return fns["contact"](quote.customer, contact_id)
        contact_id = self._contact_id(env, state) or placeholder("upsert_contact", "ContactID")
        if step.name == "create_sales_order":
            return fns["sales_order"](quote, contact_id, today)
        order = state.results.get("create_sales_order") or {}
        if step.name == "accept_sales_order":
            body = fns["accept"](order, contact_id, today)
            body["QuoteID"] = order.get("QuoteID") or placeholder("create_sales_order", "QuoteID")
            return body
        if step.name == "create_invoice":
            return fns["invoice"](quote, contact_id, order.get("QuoteNumber", ""), today)
        raise KeyError(step.name)

    def already_in_target(self, step: StepSpec, env, state: RunState) -> Any | None:
        kinds = {"create_sales_order": ("quote", "order"), "create_invoice": ("invoice", "invoice")}
        if step.name not in kinds:
            return None
        object_type, prefix = kinds[step.name]
        external = env.read(lambda c: records.find_xref(c, f"{prefix}:{state.business_key}", "xero", object_type))
        if external is None:
            return None
        field = "QuoteID" if object_type == "quote" else "InvoiceID"
        return {field: external, "note": "already in the ERP (cross-reference)"}

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        xero = env.client("xero")
        if step.name == "upsert_contact":
            rec = await xero.upsert_contact(payload, idempotency_key=idempotency_key, traceparent=traceparent)
            return Sent(rec, [("xero", "contact", rec["ContactID"], state.account_key)])
        if step.name == "create_sales_order":
            rec = await xero.create_quote(payload, idempotency_key=idempotency_key, traceparent=traceparent)
            return Sent(rec, [("xero", "quote", rec["QuoteID"], f"order:{state.business_key}")])
        if step.name == "accept_sales_order":
            body = dict(payload)
            quote_id = body.pop("QuoteID")
            rec = await xero.update_quote(quote_id, body, idempotency_key=idempotency_key, traceparent=traceparent)
            return Sent(rec)
        if step.name == "create_invoice":
            rec = await xero.create_invoice(payload, idempotency_key=idempotency_key, traceparent=traceparent)
            return Sent(rec, [("xero", "invoice", rec["InvoiceID"], f"invoice:{state.business_key}")])
        raise KeyError(step.name)
