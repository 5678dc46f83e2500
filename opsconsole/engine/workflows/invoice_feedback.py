"""invoice_feedback: an ERP invoice's payment position flows to the CRM and customer success.

Routed from Xero INVOICE CREATE/UPDATE webhooks (business key ``xero:invoice:<InvoiceID>:<event
time>``, one run per event). Xero's webhooks are thin (the invoice id only), so ``load`` re-fetches
the invoice: the status sent on is always the one the ERP holds now ("only after the ERP confirmed
it"), never anything carried by the event. The invoice maps to a canonical PaymentStatus (status,
amount due, days overdue, aging bucket; :mod:`canonical.receivables`) and the credit-hold rules
(``data/credit_hold.toml``) give its financial-risk level (none / watch / high).

Steps: validate (re-fetch, map, find the customer through the ERP contact's cross-reference and the
deal through the quote that created the invoice) -> update_crm_company (HubSpot company
``financial_risk``) -> update_crm_deal (the deal's ``financial_risk``; skipped without a deal) ->
update_cs_company (Intercom company custom attributes; skipped when the customer is not in
Intercom). An invoice whose contact the engine does not know skips every step.

Out of order and duplicated webhooks change nothing twice:

- a redelivered webhook (same resource, type and event time) is dropped by the inbox;
- every other event re-reads the current invoice, so an UPDATE (paid) before the CREATE sends
  "paid" once and the CREATE, read later, computes the same status;
- each step sends only when what it would send differs from what it last sent for this invoice,
  recorded when the target confirmed the write (golden record, entity ``invoice_feedback``, one
  field per step: the body sent and the invoice's UpdatedDateUTC). A run that read an older
  version of the invoice than the one last sent sends nothing (two runs racing: the newer read
  wins). Steps run under the account lock, so two runs for one customer never compare and send
  at once.

A DRAFT or SUBMITTED (awaiting approval) invoice sends nothing. Every read is recorded as the
invoice's payment position (``payment_positions``, engine/lifecycle.py), and when the invoice is the
first of an order, an approving status starts the order's onboarding (once).

Known limits: the risk is per invoice (the last invoice's position sets the company's flag; a
customer-level roll-up over all open invoices is not done yet); HubSpot receives only
``financial_risk`` (the portal has no payment-status property); a time passing (an invoice
becoming overdue without a webhook) needs a scheduled poll, not built yet.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.mapper import MappingError
from canonical.receivables import CreditHoldRules, payment_status, risk_level
from connectors.hubspot.client import associated_ids
from opsconsole.engine import governance, records
from opsconsole.engine.rulebook import Rulebook
from opsconsole.engine.workflows import writeback
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow

ENTITY = "invoice_feedback"
CREDIT_HOLD = Rulebook(CreditHoldRules.load)
credit_hold_rules = CREDIT_HOLD.get
use_credit_hold_rules = CREDIT_HOLD.use
"""``use_credit_hold_rules(rules)``: an organisation's own rules (None: the shipped data/credit_hold.toml)."""


def _today():
    return datetime.now(timezone.utc).date()


def _updated_ms(invoice: dict) -> int:
    from connectors.pagination import parse_xero_date

    at = parse_xero_date(invoice.get("UpdatedDateUTC"))
    return int(at.timestamp() * 1000) if at else 0


class InvoiceFeedback(Workflow):
    name = "invoice_feedback"
    triggers = ("confirmed",)
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "re-read the ERP invoice, map its payment status, find the customer"),
        *writeback.STEPS,
    )

    @staticmethod
    def invoice_id(state: RunState) -> str:
        return state.business_key.split(":")[2]

    async def load(self, env, state: RunState) -> dict:
        tp = env.traceparent(state)
        invoice = await env.client("xero").get_invoice(self.invoice_id(state), traceparent=tp)
        contact_id = str((invoice.get("Contact") or {}).get("ContactID") or "")
        invoice_key = str(invoice.get("InvoiceID") or self.invoice_id(state))

        def find(conn):
            customer = records.xref_canonical(conn, "xero", "contact", contact_id) if contact_id else None
            return customer, records.xref_canonical(conn, "xero", "invoice", invoice_key)

        customer_id, origin = env.read(find)
        deal = None
        # quote_to_order's invoice: cross-reference "invoice:hubspot:quote:<id>" -> the quote's deal
        if origin and origin.startswith("invoice:hubspot:quote:") and "hubspot" in env.clients:
            quote = await env.client("hubspot").get_quote(origin.rsplit(":", 1)[-1], traceparent=tp)
            deals = associated_ids(quote, "deals")
            deal = deals[0] if deals else None
        return {"invoice": invoice, "customer_id": customer_id, "deal": deal}

    def identity(self, state: RunState) -> dict | None:
        return None  # the customer is found by cross-reference in load; an invoice never creates one

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        src = state.source or {}
        invoice = src["invoice"]
        customer = src.get("customer_id") or ""
        try:
            status = payment_status(invoice, customer, _today())
        except ValueError as exc:  # no InvoiceID, unknown currency, unreadable amounts
            raise MappingError([f"Xero invoice {invoice.get('InvoiceID', '?')}: {exc}"]) from exc
        risk = risk_level(status, credit_hold_rules())
        state.mapped["status"], state.mapped["risk"] = status, risk
        account = customer or f"xero:contact:{(invoice.get('Contact') or {}).get('ContactID', '')}"
        return Prepared(account, {
            "customer_id": customer, "matched_by": "xref" if customer else "unknown contact",
            "invoice": status.invoice_id, "invoice_status": str(invoice.get("Status") or ""),
            "status": status.status, "amount_due": str(status.amount_due), "days_overdue": status.days_overdue,
            "aging_bucket": status.aging_bucket, "financial_risk": risk, "invoice_updated": _updated_ms(invoice),
            "deal": src.get("deal"),
        })

    def govern(self, conn, state: RunState) -> dict:
        from opsconsole.engine import lifecycle

        src = state.source or {}
        customer, invoice = src.get("customer_id"), src.get("invoice") or {}
        status = state.mapped["status"]
        lifecycle.record_position(conn, status, invoice, state.mapped["risk"], _updated_ms(invoice))
        order_key = lifecycle.order_key_of_invoice(conn, status.invoice_id)
        onboarding = None
        if order_key:  # the first invoice of an order: is this finance's approval?
            onboarding = lifecycle.approve_order(conn, order_key, "ACCEPTED", str(invoice.get("Status") or ""))
        if not customer:
            return {"company": None, "intercom_company": None, "onboarding_run": onboarding}
        return {"company": records.find_xref(conn, customer, "hubspot", "company"),
                "intercom_company": records.find_xref(conn, customer, "intercom", "company"),
                "onboarding_run": onboarding}

    def _body(self, step: StepSpec, env, state: RunState) -> dict | None:
        summary = state.results.get("validate") or {}
        if summary.get("status") == "awaiting_approval":
            return None  # finance has not approved the invoice in the ERP: nothing is owed yet
        risk = summary.get("financial_risk")
        if step.name == "update_crm_company" and summary.get("company"):
            return {"company": summary["company"], "properties": {"financial_risk": risk}}
        if step.name == "update_crm_deal" and summary.get("deal"):
            return {"deal": summary["deal"], "properties": {"financial_risk": risk}}
        if step.name == "update_cs_company" and summary.get("intercom_company") and "intercom" in env.clients:
            return {"company_id": summary["intercom_company"], "custom_attributes": {
                "payment_status": summary["status"], "amount_due": summary["amount_due"],
                "days_overdue": summary["days_overdue"], "aging_bucket": summary["aging_bucket"],
                "financial_risk": risk}}
        return None

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == "validate":
            return None
        body = self._body(step, env, state)
        if body is None:
            return None
        summary = state.results.get("validate") or {}
        last = env.read(lambda c: governance.load_golden(c, ENTITY, summary["invoice"])).fields.get(step.name)
        if last is not None:
            sent = last.value or {}
            if sent.get("body") == body or summary["invoice_updated"] < int(sent.get("updated") or 0):
                return None  # already sent, or this run read an older invoice than the one sent
        return body

    def confirmed(self, conn, env, state: RunState, step: StepSpec, payload: Any) -> None:
        if payload is None or step.name == "validate":
            return
        from canonical.ownership import FieldState, GoldenRecord

        summary = state.results.get("validate") or {}
        record = GoldenRecord(ENTITY, summary["invoice"])
        record.fields[step.name] = FieldState({"body": payload, "updated": summary["invoice_updated"]},
                                              "xero", state.business_key, datetime.now(timezone.utc))
        governance.save_golden(conn, record, [step.name])

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        return await writeback.send(step, payload, env, traceparent)
