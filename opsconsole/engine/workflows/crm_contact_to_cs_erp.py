"""crm_contact_to_cs_erp: a CRM contact created or changed reaches customer success and the ERP.

validate: re-read the HubSpot contact and its (first) associated company, match the company's
customer as company_to_contact does, map the contact (``hubspot/contact``), resolve the canonical
contact (cross-reference, else e-mail within the customer, else new) and apply its values to the
golden record as the CRM, which owns e-mail, names and role (``[contact.*]`` in ownership.toml).
Then, following ownership, only what changed goes on:

- ``upsert_cs_contact``: when the customer is in Intercom (an ``intercom/company`` cross-reference)
  and Intercom is connected. A contact the engine already linked is updated with the changed fields
  (``PUT /contacts/{id}``); one it has not is found by ``external_id`` (the canonical contact id),
  else by e-mail, and updated with what differs, or created; then attached to the customer's Intercom
  company. Finding before creating is the idempotency: a retry after a crash finds what the first
  attempt made.
- ``update_erp_contact_persons``: when the customer has an ERP contact. Xero keeps the people of a
  contact as its ``ContactPersons`` list and replaces the whole list on update, so the step reads the
  contact's list just before writing, changes the one person (matched by e-mail, the one before the
  change too) in it, or appends it, and writes it back with the step's Idempotency-Key; an unchanged
  person is not written. A cross-reference ``xero/contact_person`` (``<ContactID>/<contact id>``)
  remembers that the person is there, so a later run sends only what changed.

Each change event is its own run (the key carries HubSpot's occurredAt). A PATCH of several
properties fires one event per property: the first run changes the golden record and writes, the
others find nothing changed and skip (the account lock orders them, and the steps read the
cross-references when they build, after the earlier run's writes committed).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.mapper import catalogue
from canonical.mapping import MappingError
from connectors.hubspot.client import associated_ids
from opsconsole.engine import records
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow, company_identity
from opsconsole.engine.workflows.people import CONTACT_FIELDS, NEW_CONTACT, govern_contact

CS_CONTACT_FIELDS = ("email", "first_name", "last_name", "phone")
"""What an Intercom contact shows (data/mappings/intercom/contact.v1.toml)."""
PERSON_FIELDS = ("first_name", "last_name", "email")
"""What a Xero ContactPerson shows (data/mappings/xero/contact_person.v1.toml)."""
CS_STEP = StepSpec("upsert_cs_contact", "intercom", "POST /contacts or PUT /contacts/{id}")
ERP_STEP = StepSpec("update_erp_contact_persons", "xero", "POST /Contacts (ContactPersons)")


class CrmContactToCsErp(Workflow):
    name = "crm_contact_to_cs_erp"
    dedupe_by_business_key = False
    steps = (
        StepSpec("validate", "engine", "map the CRM contact, match its customer and contact"),
        CS_STEP,
        ERP_STEP,
    )

    @staticmethod
    def _key(state: RunState) -> tuple[str, str]:
        _, _, contact_id, occurred = (state.business_key.split(":") + ["", ""])[:4]
        return contact_id, occurred

    async def load(self, env, state: RunState) -> dict:
        hubspot = env.client("hubspot")
        contact = await hubspot.get_contact(self._key(state)[0], associations=("companies",),
                                            traceparent=env.traceparent(state))
        companies = associated_ids(contact, "companies")
        company = await hubspot.get_company(companies[0], traceparent=env.traceparent(state)) if companies else None
        return {"contact": contact, "company": company}

    def identity(self, state: RunState) -> dict | None:
        company = (state.source or {}).get("company")
        return company_identity(company) if company else None

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        contact = (state.source or {}).get("contact")
        if not contact:
            raise MappingError(["the contact no longer exists in the CRM"])
        done = state.results.get("validate") or {}
        state.mapped["contact"] = catalogue().get("hubspot/contact", state.mapping_version).read(
            contact, {"contact_id": done.get("contact_id") or NEW_CONTACT, "customer_id": customer_id})
        return Prepared(customer_id, {"customer_id": customer_id, "matched_by": matched_by,
                                      "hubspot_contact": str(contact["id"])})

    def govern(self, conn, state: RunState) -> dict:
        contact = state.mapped["contact"]
        contact_id, how = records.resolve_contact(conn, system="hubspot", external_id=contact.source_ids["hubspot"],
                                                  customer_id=state.account_key, email=contact.email)
        state.mapped["contact"] = contact = contact.model_copy(update={"contact_id": contact_id})
        occurred = self._key(state)[1]
        at = datetime.fromtimestamp(int(occurred) / 1000, tz=timezone.utc) if occurred.isdigit() else None
        out = govern_contact(conn, contact_id, "hubspot", {n: getattr(contact, n) for n in CONTACT_FIELDS},
                             event_id=state.business_key, at=at)
        out["contact_matched_by"] = how
        out["intercom_company"] = records.find_xref(conn, state.account_key, "intercom", "company") \
            if state.account_key else None
        return out

    # --- the steps ----------------------------------------------------------------------------
    def build(self, step: StepSpec, env, state: RunState) -> Any:
        if step.name == "validate":
            return None
        summary = state.results.get("validate") or {}
        if not state.account_key or not summary.get("contact_id"):
            return None  # a contact with no customer: nothing else shows it
        if step.name == CS_STEP.name:
            return self._cs_payload(env, state, summary)
        return self._erp_payload(env, state, summary)

    def _cs_payload(self, env, state: RunState, summary: dict) -> dict | None:
        if "intercom" not in env.clients or not summary.get("intercom_company"):
            return None  # no Intercom connection, or the customer is not in Intercom
        golden, contact_id = summary.get("golden") or {}, summary["contact_id"]
        known = env.read(lambda c: records.find_xref(c, contact_id, "intercom", "contact"))
        changed = [n for n in summary.get("changed") or [] if n in CS_CONTACT_FIELDS]
        if known:
            if not changed:
                return None
            if {"first_name", "last_name"} & set(changed):  # Intercom keeps one name: send it whole
                changed = sorted({*changed, "first_name", "last_name"})
            values = {n: golden.get(n, "") for n in changed}
        else:  # not in Intercom yet (or not linked): find or create it with everything it shows
            values = {"contact_id": contact_id, **{n: golden.get(n, "") for n in CS_CONTACT_FIELDS}}
        changes = catalogue().get("intercom/contact", state.mapping_version).write(values)
        if known and "phone" in changed and not golden.get("phone"):
            changes["phone"] = None  # cleared
        return {"contact": known, "company_id": summary["intercom_company"], "changes": changes}

    def _erp_payload(self, env, state: RunState, summary: dict) -> dict | None:
        golden, contact_id = summary.get("golden") or {}, summary["contact_id"]
        if not golden.get("email"):
            return None  # a Xero contact person is found by e-mail
        xero_id = env.read(lambda c: records.find_xref(c, state.account_key, "xero", "contact"))
        if not xero_id:
            return None  # the customer has no ERP contact
        known = env.read(lambda c: records.xref_canonical(c, "xero", "contact_person", f"{xero_id}/{contact_id}"))
        fields = [n for n in summary.get("changed") or [] if n in PERSON_FIELDS] if known else list(PERSON_FIELDS)
        if not fields:
            return None
        person = catalogue().get("xero/contact_person", state.mapping_version)
        return {"ContactID": xero_id,
                "match": sorted({summary.get("previous_email") or "", golden["email"]} - {""}),
                "changes": person.write({n: golden.get(n, "") for n in fields}),
                "new_person": person.write({n: golden.get(n, "") for n in PERSON_FIELDS}, {"include_in_emails": True})}

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        contact_id = (state.results.get("validate") or {})["contact_id"]
        if step.name == CS_STEP.name:
            rec = await _upsert_cs_contact(env.client("intercom"), payload, traceparent)
            return Sent(rec, [("intercom", "contact", str(rec["id"]), contact_id)])
        rec = await _update_contact_persons(env.client("xero"), payload, idempotency_key, traceparent)
        return Sent(rec, [("xero", "contact_person", f"{payload['ContactID']}/{contact_id}", contact_id)])


async def _upsert_cs_contact(intercom, payload: dict, traceparent: str) -> dict:
    changes = payload["changes"]
    if payload["contact"]:
        return await intercom.update_contact(payload["contact"], changes, traceparent=traceparent)
    found = None
    for field in ("external_id", "email"):
        if changes.get(field):
            hits = await intercom.search_contacts(changes[field], field=field, traceparent=traceparent)
            found = next(iter(sorted(hits, key=lambda c: c.get("role") != "user")), None)
            if found:
                break
    if found is None:
        rec = await intercom.create_contact(changes, traceparent=traceparent)
    else:
        differs = {k: v for k, v in changes.items() if found.get(k) != v}
        rec = await intercom.update_contact(found["id"], differs, traceparent=traceparent) if differs else found
    company = await intercom.find_company(payload["company_id"], traceparent=traceparent)
    if company is not None:
        await intercom.attach_contact_to_company(rec["id"], company["id"], traceparent=traceparent)
    return rec


async def _update_contact_persons(xero, payload: dict, idempotency_key: str, traceparent: str) -> dict:
    current = await xero.get_contact(payload["ContactID"], traceparent=traceparent)
    persons = [dict(p) for p in current.get("ContactPersons") or []]
    match = {m.lower() for m in payload["match"]}
    person = next((p for p in persons if (p.get("EmailAddress") or "").lower() in match), None)
    if person is None:
        persons.append(payload["new_person"])
    elif any(person.get(k) != v for k, v in payload["changes"].items()):
        person.update(payload["changes"])
    else:
        return current  # Xero already shows this person as it is
    return await xero.upsert_contact({"ContactID": payload["ContactID"], "ContactPersons": persons},
                                     idempotency_key=idempotency_key, traceparent=traceparent)
