"""onboarding: after financial approval, customer success gets the onboarding plan and the
entitlement becomes active.

Opened by the engine itself (engine/lifecycle.py ``approve_order``), exactly once per order, in the
commit that saw the ERP's approval: the order ACCEPTED and its first invoice AUTHORISED or PAID
(data/lifecycle.toml), whether quote_to_order's own invoice step or a later Xero invoice webhook
(invoice_feedback) saw it. Business key ``onboarding:<quote_to_order business key>``.

validate (the onboarding's plan, the customer's Intercom company and contact; the order's CRM
contact when none is in Intercom) -> upsert_cs_company (Intercom company by ``company_id``: the
``onboarding_stage`` attribute set to the first stage, the go-live due date, and the payment
position of the customer's riskiest open invoice, which invoice_feedback could not send before the
customer was in Intercom) -> onboarding_event
(the ``onboarding-started`` data event for the customer's contact) -> implementation_ticket (an
Intercom ticket of the policy's type for that contact, on the company). The run's last commit
activates the entitlement and marks the onboarding started; milestones are then followed by the
scheduled onboarding watch (engine/lifecycle_jobs.py).

Without an Intercom connection every Intercom step is skipped and the entitlement is still
activated (there is no customer success to tell). Without a contact of the customer in Intercom
or the CRM, the event and the ticket are skipped.

Known limit: Intercom takes no idempotency key; the company write is an upsert and the ticket is
cross-referenced once created, but a ticket whose confirmation was lost (a timeout after Intercom
created it) is created again on the retry.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from connectors.hubspot.client import associated_ids
from opsconsole.engine import lifecycle, provisioning, records
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow


class Onboarding(Workflow):
    name = "onboarding"
    triggers = ("confirmed", "webhook")
    steps = (
        StepSpec("validate", "engine", "read the onboarding plan and the customer's Intercom records"),
        StepSpec("upsert_cs_company", "intercom", "POST /companies"),
        StepSpec("onboarding_event", "intercom", "POST /events"),
        StepSpec("implementation_ticket", "intercom", "POST /tickets"),
    )

    @staticmethod
    def order_key(state: RunState) -> str:
        return state.business_key.split(":", 1)[1]

    async def load(self, env, state: RunState) -> dict:
        order_key = self.order_key(state)

        def read(conn):
            row = lifecycle.load_onboarding(conn, order_key)
            if row is None:
                return None, None, None
            return (row, provisioning.intercom_contact(conn, row["customer_id"]),
                    lifecycle.worst_position(conn, row["customer_id"]))

        row, person, finance = env.read(read)
        email = None
        if row is not None and person is None and "hubspot" in env.clients and order_key.startswith("hubspot:quote:"):
            # nobody of the customer is in Intercom yet: the CRM contact on the quote, by email
            tp = env.traceparent(state)
            hubspot = env.client("hubspot")
            quote = await hubspot.get_quote(order_key.rsplit(":", 1)[-1], associations=("contacts",), traceparent=tp)
            contacts = associated_ids(quote, "contacts")
            if contacts:
                email = ((await hubspot.get_contact(contacts[0], traceparent=tp)).get("properties") or {}).get("email")
        return {"onboarding": row, "contact": person, "email": email or None, "finance": finance}

    def identity(self, state: RunState) -> dict | None:
        return None  # the customer is the order's, recorded when the ERP accepted it

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        from canonical.mapper import MappingError

        row = (state.source or {}).get("onboarding")
        if row is None:
            err = MappingError([f"no order {self.order_key(state)} awaits onboarding"])
            err.title = "Unknown order"
            raise err
        plan = row["plan"] or []
        go_live = max((m["due_on"] for m in plan), default=None)
        return Prepared(row["customer_id"], {
            "customer_id": row["customer_id"], "matched_by": "order", "order_key": row["order_key"],
            "order_number": row["order_number"], "legal_name": row["legal_name"], "milestones": len(plan),
            "go_live_due_on": go_live, "first_stage": lifecycle.policy().stages[0],
            "contact": state.source.get("contact"), "email": state.source.get("email"),
        })

    def _who(self, summary: dict) -> dict | None:
        if summary.get("contact"):
            return {"id": summary["contact"]}
        if summary.get("email"):
            return {"email": summary["email"]}
        return None

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        summary = state.results.get("validate") or {}
        if step.name == "validate" or "intercom" not in env.clients:
            return None
        policy = lifecycle.policy()
        if step.name == "upsert_cs_company":
            attributes = {"onboarding_stage": summary["first_stage"], "order_number": summary["order_number"],
                          # customer success meets the customer knowing where finance stands
                          **((state.source or {}).get("finance") or {})}
            if summary.get("go_live_due_on"):
                attributes["onboarding_due_on"] = summary["go_live_due_on"]
            return {"company_id": summary["customer_id"], "name": summary["legal_name"] or summary["customer_id"],
                    "custom_attributes": attributes}
        who = self._who(summary)
        if who is None:
            return None
        if step.name == "onboarding_event":
            return {"event_name": policy.event_name, "created_at": int(datetime.now(timezone.utc).timestamp()),
                    **who, "metadata": {"order_number": summary["order_number"],
                                        "milestones": summary["milestones"],
                                        "go_live_due_on": summary.get("go_live_due_on") or ""}}
        if step.name == "implementation_ticket":
            company = state.results.get("upsert_cs_company") or {}
            plan = ", ".join(f"{m['name']} by {m['due_on']}" for m in
                             ((state.source or {}).get("onboarding") or {}).get("plan") or [])
            return {"ticket_type_id": policy.ticket_type_id, "contacts": [who],
                    "title": policy.ticket(summary["legal_name"], summary["order_number"]),
                    "description": f"Onboarding plan: {plan}" if plan else "Onboarding plan: no milestones",
                    "company_id": company.get("id")}
        raise KeyError(step.name)

    def already_in_target(self, step: StepSpec, env, state: RunState) -> Any | None:
        if step.name != "implementation_ticket":
            return None
        found = env.read(lambda c: records.find_xref(c, f"ticket:{state.business_key}", "intercom", "ticket"))
        return {"id": found, "note": "already in Intercom (cross-reference)"} if found else None

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        intercom = env.client("intercom")
        if step.name == "upsert_cs_company":
            rec = await intercom.upsert_company(payload, traceparent=traceparent)
            return Sent(rec, [("intercom", "company", payload["company_id"], state.account_key)])
        if step.name == "onboarding_event":
            body = dict(payload)
            await intercom.create_data_event(body.pop("event_name"), body.pop("created_at"), traceparent=traceparent,
                                             **body)
            return Sent({"event_name": payload["event_name"], "accepted": True})
        if step.name == "implementation_ticket":
            rec = await intercom.create_ticket(payload["ticket_type_id"], payload["contacts"], title=payload["title"],
                                               description=payload["description"],
                                               company_id=payload.get("company_id"), traceparent=traceparent)
            return Sent({"id": rec.get("id"), "ticket_id": rec.get("ticket_id"), "open": rec.get("open")},
                        [("intercom", "ticket", str(rec.get("id")), f"ticket:{state.business_key}")])
        raise KeyError(step.name)

    def finish(self, conn, env, state: RunState) -> None:
        order_key = self.order_key(state)
        lifecycle.activate_entitlement(conn, order_key, event_id=f"run:{state.run_id}")
        lifecycle.mark_started(conn, order_key, lifecycle.policy().stages[0])
