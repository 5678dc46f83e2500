"""quote_to_order: an approved CRM quote becomes an ERP customer, sales order, billing schedule and invoice.

validate (mandatory fields, identity) -> upsert_contact -> create_sales_order (a Xero Quote, SENT)
-> accept_sales_order (moved to ACCEPTED) -> create_billing_schedule (a Xero RepeatingInvoice from the
subscription lines; skipped when there are none, or under mapping version 1) -> create_invoice (in the status data/lifecycle.toml gives: by default SUBMITTED, awaiting finance's
approval in Xero) -> notify_onboarding (an Intercom ``order-provisioned`` data event; skipped when Intercom is not
configured or none of the customer's contacts is in Intercom). The entitlement is recorded in the
commit of accept_sales_order, when the ERP confirmed the order (engine/provisioning.py).
Steps run in sequence and a step runs only once every step before it succeeded (or was skipped),
so the invoice is never sent before the ERP confirmed the order. One account's runs are serialised by
the runner, so customer -> order -> invoice never run out of order for it.

Tax: from mapping version 2 each line carries a Xero TaxType chosen by the customer's country
(data/tax.toml) among the organisation's TaxRates, read once per engine and cached for
``TAX_RATES_TTL`` seconds, and kept in the run's source snapshot (a retry reuses it).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from datetime import datetime, timezone
from typing import Any

from canonical.mapping import billing_schedule, mapping, tax_type
from connectors.hubspot.client import associated_ids
from opsconsole.engine import lifecycle, provisioning, records
from opsconsole.engine.workflows.base import (
    CRM_CUSTOMER_FIELDS, Prepared, RunState, Sent, StepSpec, Workflow, changed_fields, company_identity,
    erp_confirmed, govern_customer, known_contact, prefetch_contact,
)


def _today():
    return datetime.now(timezone.utc).date()


def placeholder(step: str, field: str) -> str:
    return f"<{field} from {step}>"


TAX_RATES_TTL = 300.0
# per Xero client (one per engine): (expires at, TaxRates)
_tax_rates: "weakref.WeakKeyDictionary[Any, tuple[float, list[dict]]]" = weakref.WeakKeyDictionary()


async def cached_tax_rates(xero: Any, traceparent: str) -> list[dict]:
    """The organisation's TaxRates (GET /TaxRates), read at most once per ``TAX_RATES_TTL`` per client."""
    hit = _tax_rates.get(xero)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    rates = [{k: r.get(k) for k in ("TaxType", "Status", "CanApplyToRevenue", "EffectiveRate")}
             for r in await xero.get_tax_rates(traceparent=traceparent)]
    _tax_rates[xero] = (time.monotonic() + TAX_RATES_TTL, rates)
    return rates


class QuoteToOrder(Workflow):
    name = "quote_to_order"
    steps = (
        StepSpec("validate", "engine", "validate and match customer"),
        StepSpec("upsert_contact", "xero", "POST /Contacts"),
        StepSpec("create_sales_order", "xero", "PUT /Quotes"),
        StepSpec("accept_sales_order", "xero", "POST /Quotes/{QuoteID}"),
        StepSpec("create_billing_schedule", "xero", "PUT /RepeatingInvoices"),
        StepSpec("create_invoice", "xero", "PUT /Invoices"),
        StepSpec("notify_onboarding", "intercom", "POST /events", build_ahead=True),
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

        async def taxes():
            return await cached_tax_rates(env.client("xero"), tp)

        company_rec, line_items, tax_rates = await asyncio.gather(company(), lines(), taxes())
        return {"quote": quote, "company": company_rec, "line_items": line_items, "tax_rates": tax_rates}

    def identity(self, state: RunState) -> dict | None:
        company = (state.source or {}).get("company")
        return company_identity(company) if company else None

    def premap(self, env, state: RunState) -> None:
        src = state.source or {}
        quote = mapping(state.mapping_version)["quote"](src["quote"], src.get("company"), src.get("line_items") or [],
                                                        self.UNMATCHED)
        state.mapped["quote_draft"] = quote
        state.mapped["tax_type"] = tax_type(quote.customer, src.get("tax_rates"))

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        draft = self.premapped(env, state, "quote_draft")
        quote = draft.model_copy(update={"customer": draft.customer.model_copy(update={"customer_id": customer_id})})
        state.mapped["quote"] = quote
        state.mapped["schedule"] = billing_schedule(quote, quote.quote_id, _today())  # validates the frequencies
        return Prepared(customer_id, {
            "customer_id": customer_id, "matched_by": matched_by, "company": str(state.source["company"]["id"]),
            "legal_name": quote.customer.legal_name, "lines": len(quote.lines), "total": str(quote.total),
        })

    def prefetch(self, conn, state: RunState) -> None:
        prefetch_contact(conn, state)

    def confirmed(self, conn, env, state: RunState, step: StepSpec, payload: Any) -> None:
        erp_confirmed(conn, state, step, payload)
        if step.name == "accept_sales_order":  # the ERP confirmed the order: provision it
            quote = state.mapped["quote"]
            order = state.results.get("create_sales_order") or {}
            provisioning.record_entitlement(conn, state.business_key, quote, order, _today(),
                                            event_id=f"run:{state.run_id}:{step.name}")
            ordered_on = quote.approved_at.date() if quote.approved_at else _today()
            lifecycle.record_order(conn, state.business_key, state.account_key, str(order.get("QuoteNumber") or ""),
                                   quote.customer.legal_name, ordered_on)
        elif step.name == "create_invoice":  # the invoice as the ERP holds it: approved already?
            invoice = state.results.get("create_invoice") or {}
            accepted = state.results.get("accept_sales_order") or {}
            if invoice.get("InvoiceID"):
                lifecycle.record_invoice(conn, invoice, state.account_key, _today())
            lifecycle.approve_order(conn, state.business_key, str(accepted.get("Status") or "ACCEPTED"),
                                    str(invoice.get("Status") or ""))

    previews_govern = True  # govern_customer, and reads

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
        tax = state.mapped.get("tax_type", "NONE")
        if step.name == "create_sales_order":
            return fns["sales_order"](quote, contact_id, today, tax)
        order = state.results.get("create_sales_order") or {}
        if step.name == "accept_sales_order":
            body = fns["accept"](order, contact_id, today)
            body["QuoteID"] = order.get("QuoteID") or placeholder("create_sales_order", "QuoteID")
            return body
        if step.name == "create_billing_schedule":
            order_id = order.get("QuoteID") or placeholder("create_sales_order", "QuoteID")
            schedule = billing_schedule(quote, order_id, today)
            if schedule is None:
                return None  # no subscription lines: nothing to schedule
            return fns["repeating_invoice"](schedule, contact_id, order.get("QuoteNumber", ""), tax)
        if step.name == "create_invoice":
            return fns["invoice"](quote, contact_id, order.get("QuoteNumber", ""), today, tax=tax,
                                  status=lifecycle.policy().new_invoice_status)
        if step.name == "notify_onboarding":
            return self._onboarding_event(env, state, order)
        raise KeyError(step.name)

    def _onboarding_event(self, env, state: RunState, order: dict) -> dict | None:
        if "intercom" not in env.clients or not state.account_key:
            return None  # no Intercom connection
        person = env.read(lambda c: provisioning.intercom_contact(c, state.account_key))
        if person is None:
            return None  # the customer is not in Intercom
        quote = state.mapped["quote"]
        at = quote.approved_at or datetime.now(timezone.utc)
        invoice = state.results.get("create_invoice") or {}
        metadata = {"order_number": order.get("QuoteNumber") or "", "quote_id": quote.quote_id,
                    "invoice_number": invoice.get("InvoiceNumber") or "", "currency": quote.currency,
                    "subscription_lines": sum(1 for line in quote.lines if line.billing_frequency)}
        return {"event_name": provisioning.EVENT_NAME, "created_at": int(at.timestamp()), "id": person,
                "metadata": metadata}

    def already_in_target(self, step: StepSpec, env, state: RunState) -> Any | None:
        kinds = {"create_sales_order": ("quote", "order"), "create_invoice": ("invoice", "invoice"),
                 "create_billing_schedule": ("repeating_invoice", "schedule")}
        if step.name not in kinds:
            return None
        object_type, prefix = kinds[step.name]
        external = env.read(lambda c: records.find_xref(c, f"{prefix}:{state.business_key}", "xero", object_type))
        if external is None:
            return None
        field = {"quote": "QuoteID", "invoice": "InvoiceID", "repeating_invoice": "RepeatingInvoiceID"}[object_type]
        return {field: external, "note": "already in the ERP (cross-reference)"}

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        if step.name == "notify_onboarding":
            body = dict(payload)
            await env.client("intercom").create_data_event(body.pop("event_name"), body.pop("created_at"),
                                                           traceparent=traceparent, **body)
            return Sent({"event_name": payload["event_name"], "id": payload["id"], "accepted": True})
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
        if step.name == "create_billing_schedule":
            rec = await xero.create_repeating_invoice(payload, idempotency_key=idempotency_key, traceparent=traceparent)
            return Sent(rec, [("xero", "repeating_invoice", rec["RepeatingInvoiceID"], f"schedule:{state.business_key}")])
        if step.name == "create_invoice":
            rec = await xero.create_invoice(payload, idempotency_key=idempotency_key, traceparent=traceparent)
            return Sent(rec, [("xero", "invoice", rec["InvoiceID"], f"invoice:{state.business_key}")])
        raise KeyError(step.name)
