"""cs_contact_to_crm: a contact changed in customer success is applied to the golden record as Intercom.

An Intercom ``contact.user.updated`` / ``contact.lead.updated`` / ``contact.email.updated``
notification starts it; the run re-reads the contact (``GET /contacts/{id}``) and maps it
(``intercom/contact``). Only a contact the engine knows is applied (its ``intercom/contact``
cross-reference, or an ``external_id`` that is a canonical contact id the engine made); customer
success never creates contacts or customers here.

Intercom owns no contact field (``[contact.*]`` in ownership.toml): a filled value that differs from
the CRM's e-mail, names or role becomes an ownership conflict and is never written to HubSpot; a
field with no single owner (the phone) follows its survivorship rule, and what the golden record
took from Intercom is written to the HubSpot contact (``update_crm_contact``, only those fields).
Intercom keeps one ``name``: when it reads the same as the golden first and last name joined, the
names are unchanged (so the echo of the engine's own write, or a name split differently, is no
conflict).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.mapper import catalogue
from canonical.mapping import MappingError
from opsconsole.engine import governance, records
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow
from opsconsole.engine.workflows.people import CONTACT_FIELDS, full_name, govern_contact

CRM_STEP = StepSpec("update_crm_contact", "hubspot", "PATCH /crm/v3/objects/contacts/{id}")


class CsContactToCrm(Workflow):
    name = "cs_contact_to_crm"
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "map the customer-success contact, find the golden contact"),
        CRM_STEP,
    )

    @staticmethod
    def _key(state: RunState) -> tuple[str, str]:
        _, _, contact_id, updated = (state.business_key.split(":") + ["", ""])[:4]
        return contact_id, updated

    async def load(self, env, state: RunState) -> dict:
        if "intercom" not in env.clients:
            raise MappingError(["no Intercom connection is configured (settings [intercom] base_url)"])
        contact = await env.client("intercom").get_contact(self._key(state)[0], traceparent=env.traceparent(state))
        return {"contact": contact}

    def identity(self, state: RunState) -> dict | None:
        return None  # a customer-success contact never makes a customer

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        contact = (state.source or {}).get("contact") or {}
        problems: list[str] = []
        values = catalogue().get("intercom/contact", state.mapping_version).read_dict(contact, {}, problems)
        if problems:
            raise MappingError(problems)
        state.mapped["values"] = {n: values.get(n, "") for n in CONTACT_FIELDS if n in values}
        state.mapped["name"] = " ".join(str(contact.get("name") or "").split())
        return Prepared("", {"customer_id": "", "matched_by": "none", "intercom_contact": str(contact.get("id", ""))})

    def govern(self, conn, state: RunState) -> dict:
        contact = (state.source or {}).get("contact") or {}
        contact_id = records.xref_canonical(conn, "intercom", "contact", str(contact.get("id")))
        external = str(contact.get("external_id") or "")
        if contact_id is None and external.startswith("con_") and governance.load_golden(conn, "contact", external).fields:
            contact_id = external  # the engine made it: link it
            records.put_xref(conn, "intercom", "contact", str(contact["id"]), contact_id)
        if contact_id is None:
            return {"contact_id": None, "changed": [], "conflicts": [],
                    "note": "not a contact the engine knows: nothing applied"}
        values = dict(state.mapped["values"])
        golden = governance.load_golden(conn, "contact", contact_id).values()
        if state.mapped["name"] == full_name(golden):
            values.pop("first_name", None)  # one name field, read the same: the names are unchanged
            values.pop("last_name", None)
        updated = self._key(state)[1]
        at = datetime.fromtimestamp(int(updated), tz=timezone.utc) if updated.isdigit() else None
        out = govern_contact(conn, contact_id, "intercom", values, event_id=state.business_key, at=at)
        out["hubspot_contact"] = records.find_xref(conn, contact_id, "hubspot", "contact")
        return out

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == "validate":
            return None
        summary = state.results.get("validate") or {}
        changed = [n for n in summary.get("changed") or [] if n in CONTACT_FIELDS]
        if not summary.get("hubspot_contact") or not changed:
            return None  # not in the CRM, or nothing the golden record took from customer success
        golden = summary.get("golden") or {}
        body = catalogue().get("hubspot/contact", state.mapping_version).write({n: golden.get(n, "") for n in changed})
        properties = body.get("properties") or {}
        return {"contact": summary["hubspot_contact"], "properties": properties} if properties else None

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        rec = await env.client("hubspot").update_properties("contacts", payload["contact"], payload["properties"],
                                                            traceparent=traceparent)
        return Sent(rec)
