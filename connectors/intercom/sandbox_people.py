"""The Intercom sandbox's people and activity: contacts (create, read, update, attach to a company,
search), data events, tickets and tags, as a part of :class:`connectors.intercom.sandbox.IntercomSandbox`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from connectors.intercom.sandbox_wire import APP_ID, CONTACT_FIELDS, EVENT_FIELDS, TICKET_TYPES, _error, _hex_id, _json


class PeopleRoutes:
    """Contacts, data events, tickets and tags (mixed into the sandbox, which owns the state)."""

    # --- contacts ------------------------------------------------------------------------------
    async def _create_contact(self, request: Request, body: dict) -> Response:
        unknown = sorted(set(body) - CONTACT_FIELDS)
        if unknown:
            return _error(400, "bad_request", f"bad '{unknown[0]}' parameter")
        if not any(body.get(k) for k in ("email", "external_id", "role")):
            return _error(400, "parameter_not_found", "email, external_id or role must be specified")
        role = body.get("role") or "user"
        if role not in ("user", "lead"):
            return _error(400, "parameter_invalid", "role must be user or lead", "role")
        for existing in self.contacts.values():
            if (body.get("email") and existing["email"] == body["email"] and existing["role"] == role) or \
                    (body.get("external_id") and existing["external_id"] == body["external_id"]):
                return _error(409, "conflict", f"A contact matching those details already exists with id={existing['id']}")
        now = int(time.time())
        email = body.get("email") or ""
        contact = {
            "type": "contact", "id": _hex_id(), "workspace_id": APP_ID, "external_id": body.get("external_id"),
            "role": role, "email": email, "email_domain": email.partition("@")[2], "phone": body.get("phone"),
            "name": body.get("name"), "owner_id": body.get("owner_id"), "has_hard_bounced": False,
            "marked_email_as_spam": False, "unsubscribed_from_emails": bool(body.get("unsubscribed_from_emails")),
            "created_at": now, "updated_at": now, "signed_up_at": body.get("signed_up_at"),
            "last_seen_at": body.get("last_seen_at"), "custom_attributes": dict(body.get("custom_attributes") or {}),
            "tags": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "companies": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
        }
        self.contacts[contact["id"]] = contact
        self.webhooks.notify(f"contact.{role}.created", contact)
        return _json(contact)

    async def _get_contact(self, request: Request, body: Any) -> Response:
        contact = self.contacts.get(request.path_params["id"])
        if contact is None:
            return _error(404, "not_found", "User Not Found")
        return _json(contact)

    async def _update_contact(self, request: Request, body: dict) -> Response:
        """``PUT /contacts/{id}``: only the fields given change; an email or external_id another
        contact holds is a 409, as on create."""
        contact = self.contacts.get(request.path_params["id"])
        if contact is None:
            return _error(404, "not_found", "User Not Found")
        unknown = sorted(set(body) - CONTACT_FIELDS)
        if unknown:
            return _error(400, "bad_request", f"bad '{unknown[0]}' parameter")
        role = body.get("role") or contact["role"]
        if role not in ("user", "lead"):
            return _error(400, "parameter_invalid", "role must be user or lead", "role")
        for other in self.contacts.values():
            if other["id"] != contact["id"] and (
                    (body.get("email") and other["email"] == body["email"] and other["role"] == role)
                    or (body.get("external_id") and other["external_id"] == body["external_id"])):
                return _error(409, "conflict", f"A contact matching those details already exists with id={other['id']}")
        before = orjson.dumps(contact)
        for key in ("external_id", "email", "phone", "name", "owner_id", "signed_up_at", "last_seen_at"):
            if key in body:
                contact[key] = body[key]
        if "unsubscribed_from_emails" in body:
            contact["unsubscribed_from_emails"] = bool(body["unsubscribed_from_emails"])
        if isinstance(body.get("custom_attributes"), dict):
            contact["custom_attributes"].update(body["custom_attributes"])
        contact["role"] = role
        contact["email_domain"] = (contact.get("email") or "").partition("@")[2]
        if orjson.dumps(contact) != before:
            contact["updated_at"] = int(time.time())
            self.webhooks.notify(f"contact.{role}.updated", contact)  # fired once the subscription offers the topic
        return _json(contact)

    async def _attach_company(self, request: Request, body: dict) -> Response:
        """``POST /contacts/{id}/companies`` with ``{"id": <company id>}``: the company, its user count
        counting the contact once however often it is attached."""
        contact = self.contacts.get(request.path_params["id"])
        if contact is None:
            return _error(404, "not_found", "User Not Found")
        if not body.get("id"):
            return _error(400, "parameter_not_found", "company not specified")
        company = self.companies.get(str(body["id"]))
        if company is None:
            return _error(404, "company_not_found", "Company Not Found")
        attached = contact["companies"]["data"]
        if all(ref["id"] != company["id"] for ref in attached):
            attached.append({"type": "company", "id": company["id"], "url": f"/companies/{company['id']}"})
            contact["companies"]["total_count"] = len(attached)
            company["user_count"] = company.get("user_count", 0) + 1
        return _json(company)

    async def _search_contacts(self, request: Request, body: dict) -> Response:
        query = body.get("query")
        if not isinstance(query, dict):
            return _error(400, "parameter_not_found", "query not specified", "query")
        try:
            predicate = _predicate(query)
        except ValueError as exc:
            return _error(400, "invalid_field", str(exc))
        records = [c for c in self.contacts.values() if predicate(c)]
        pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
        return self._page(request, records, pagination)

    # --- data events ---------------------------------------------------------------------------
    async def _create_event(self, request: Request, body: dict) -> Response:
        unknown = sorted(set(body) - EVENT_FIELDS)
        if unknown:
            return _error(400, "bad_request", f"bad '{unknown[0]}' parameter")
        if not body.get("event_name"):
            return _error(400, "parameter_not_found", "event_name not specified", "event_name")
        if not isinstance(body.get("created_at"), int):
            return _error(400, "parameter_invalid", "created_at must be a UNIX timestamp", "created_at")
        if not any(body.get(k) for k in ("user_id", "email", "id")):
            return _error(400, "parameter_not_found", "user_id, email or id must be specified")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 10:
            return _error(400, "parameter_invalid", "metadata must be an object of at most 10 keys", "metadata")
        self.events.append({**body, "received_at": time.time()})
        self.webhooks.notify("event.created", {"type": "event", **body})  # the data_event object
        return Response(b"", status_code=202)

    # --- tickets -------------------------------------------------------------------------------
    async def _create_ticket(self, request: Request, body: dict) -> Response:
        type_id = body.get("ticket_type_id")
        if not type_id:
            return _error(400, "parameter_not_found", "ticket_type_id not specified", "ticket_type_id")
        if str(type_id) not in TICKET_TYPES:
            return _error(404, "not_found", "Ticket type not found")
        contacts = body.get("contacts")
        if not isinstance(contacts, list) or len(contacts) != 1 or not isinstance(contacts[0], dict):
            return _error(400, "parameter_invalid", "Exactly one contact is required", "contacts")
        ref = contacts[0]
        contact = next((c for c in self.contacts.values()
                        if (ref.get("id") and c["id"] == ref["id"])
                        or (ref.get("external_id") and c["external_id"] == ref["external_id"])
                        or (ref.get("email") and c["email"] == ref["email"])), None)
        if contact is None:
            if not ref.get("email"):
                return _error(404, "not_found", "User Not Found")
            created = await self._create_contact(request, {"email": ref["email"]})
            contact = orjson.loads(created.body)
        if body.get("company_id") and body["company_id"] not in self.companies:
            return _error(404, "company_not_found", "Company Not Found")
        now = int(time.time())
        self._ticket_seq += 1
        ticket = {
            "type": "ticket", "id": str(100 + self._ticket_seq), "ticket_id": str(self._ticket_seq),
            "category": "Back-office", "ticket_attributes": dict(body.get("ticket_attributes") or {}),
            "ticket_state": {"type": "ticket_state", "id": "1", "category": "submitted",
                             "internal_label": "Submitted", "external_label": "Submitted"},
            "ticket_type": {"type": "ticket_type", "id": str(type_id), "category": "Back-office",
                            "name": TICKET_TYPES[str(type_id)], "description": "", "icon": "",
                            "workspace_id": APP_ID, "archived": False, "created_at": 0, "updated_at": 0,
                            "is_internal": False, "ticket_type_attributes": {"type": "list", "data": []}},
            "contacts": {"type": "contact.list", "contacts": [
                {"type": "contact", "id": contact["id"], "external_id": contact["external_id"],
                 "email": contact["email"]}]},
            "admin_assignee_id": "0", "team_assignee_id": "0", "created_at": body.get("created_at") or now,
            "updated_at": now, "open": True, "is_shared": False,
            "linked_objects": {"type": "list", "total_count": 0, "has_more": False, "data": []},
        }
        if body.get("company_id"):
            ticket["company_id"] = body["company_id"]
        self.tickets[ticket["id"]] = ticket
        self.webhooks.notify("ticket.created", ticket)
        return _json(ticket)

    # --- tags ----------------------------------------------------------------------------------
    async def _tags(self, request: Request, body: dict) -> Response:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return _error(400, "parameter_not_found", "name not specified", "name")
        key = name.strip().lower()
        tag = self.tags.get(key)
        if tag is None:
            tag = {"type": "tag", "id": str(1000 + len(self.tags)), "name": name.strip()}
            self.tags[key] = tag
        companies = body.get("companies")
        if companies is not None:
            if not isinstance(companies, list):
                return _error(400, "parameter_invalid", "companies must be a list", "companies")
            targets = []
            for ref in companies:
                cid = ref.get("id") if isinstance(ref, dict) else None
                if cid is None and isinstance(ref, dict) and ref.get("company_id"):
                    cid = self.company_ids.get(ref["company_id"])
                if cid not in self.companies:
                    return _error(404, "company_not_found", "Company Not Found")
                targets.append(self.companies[cid])
            untag = any(isinstance(r, dict) and r.get("untag") for r in companies)
            for company in targets:
                tags = company["tags"]["tags"]
                tags[:] = [t for t in tags if t["id"] != tag["id"]]
                if not untag:
                    tags.append(dict(tag))
        return _json(tag)


def _predicate(query: dict) -> Callable[[dict], bool]:
    """A filter from Intercom's search query (single filters and AND/OR of them; common operators)."""
    operator = query.get("operator")
    if operator in ("AND", "OR"):
        parts = [_predicate(q) for q in query.get("value") or [] if isinstance(q, dict)]
        combine = all if operator == "AND" else any
        return lambda record: combine(p(record) for p in parts)
    field, value = query.get("field"), query.get("value")
    if not isinstance(field, str):
        raise ValueError("field must be specified")

    def get(record: dict) -> Any:
        if field.startswith("custom_attributes."):
            return record.get("custom_attributes", {}).get(field.partition(".")[2])
        return record.get(field)

    ops: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == value, "!=": lambda v: v != value,
        "IN": lambda v: v in (value or []), "NIN": lambda v: v not in (value or []),
        "~": lambda v: isinstance(v, str) and str(value) in v, "!~": lambda v: not (isinstance(v, str) and str(value) in v),
        "^": lambda v: isinstance(v, str) and v.startswith(str(value)),
        "$": lambda v: isinstance(v, str) and v.endswith(str(value)),
        "<": lambda v: v is not None and v < value, ">": lambda v: v is not None and v > value,
        "<=": lambda v: v is not None and v <= value, ">=": lambda v: v is not None and v >= value,
    }
    test = ops.get(operator)  # type: ignore[arg-type]
    if test is None:
        raise ValueError(f"operator {operator!r} is not supported")
    return lambda record: test(get(record))
