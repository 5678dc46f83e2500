"""The Intercom sandbox's ticket search and ticket updates, as a part of
:class:`connectors.intercom.sandbox.IntercomSandbox`.

``POST /tickets/search`` (searchTickets): a query is one filter ``{field, operator, value}`` or a group
``{operator: AND|OR, value: [...]}`` whose members are all filters or all groups (the description's
``multiple_filter_search_request``); groups nest at most 2 deep and hold at most 15 members
("Nesting & Limitations"). Fields (of the "Accepted Fields" table the sandbox's tickets carry): ``id``,
``created_at``, ``updated_at``, ``title``, ``description``, ``category`` (searched by Intercom's terms
``request``/``task``/``tracker``), ``ticket_type_id``, ``contact_ids``, ``admin_assignee_id``,
``team_assignee_id``, ``open``, ``state`` (the state's category: submitted, in_progress,
waiting_on_customer, resolved) and ``snoozed_until``. Operators per "Accepted Operators": ``=``, ``!=``,
``IN``, ``NIN`` on every type; ``>``/``<`` on dates ("Greater (or equal) than", "Lower (or equal) than",
as documented: inclusive); ``<=``/``>=`` on ``created_at``; ``~``, ``!~``, ``^``, ``$`` on strings. A
list-valued field (``contact_ids``) matches ``=``/``IN`` when any of its values does, ``!=``/``NIN``
when none does. Paging: ``pagination: {per_page (default 20, at most 150), starting_after}``; the
answer is a ``ticket.list`` with ``pages.next.starting_after`` while more remain.

``PUT /tickets/{ticket_id}`` (updateTicket): ``ticket_attributes``, ``ticket_state_id`` (the sandbox's
states: 1 submitted, 2 in progress, 3 waiting on customer, 4 resolved; a resolved state closes the
ticket, another reopens it; an unknown id is Intercom's 400 ``ticket_state_id_invalid``), ``open``
(false closes the ticket and resolves it; true reopens a resolved one as submitted), ``is_shared``,
``snoozed_until``, ``company_id``, ``assignee_id``, ``admin_id``, ``skip_notifications``.

Control route (not Intercom's API): ``POST /_sandbox/tickets/{id}`` with ``{"created_at": <unix s>}``
(and optionally ``updated_at``) ages a ticket for tests and the demo.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.intercom.sandbox_wire import (
    MAX_PER_PAGE,
    _decode_cursor,
    _encode_cursor,
    _error,
    _json,
)

SEARCH_DEFAULT_PER_PAGE = 20
MAX_NESTING = 2
MAX_GROUP_FILTERS = 15
TICKET_STATES = {
    "1": ("submitted", "Submitted"), "2": ("in_progress", "In progress"),
    "3": ("waiting_on_customer", "Waiting on customer"), "4": ("resolved", "Resolved"),
}
RESOLVED_STATE, SUBMITTED_STATE = "4", "1"
UPDATE_FIELDS = {"ticket_attributes", "ticket_state_id", "company_id", "open", "is_shared", "snoozed_until",
                 "admin_id", "assignee_id", "skip_notifications"}
_CATEGORY_TERMS = {"Customer": "request", "Back-office": "task", "Tracker": "tracker"}

# field -> (type, reader)
_FIELDS: dict[str, tuple[str, Callable[[dict], Any]]] = {
    "id": ("string", lambda t: t.get("id")),
    "created_at": ("date", lambda t: t.get("created_at")),
    "updated_at": ("date", lambda t: t.get("updated_at")),
    "snoozed_until": ("date", lambda t: t.get("snoozed_until")),
    "title": ("string", lambda t: (t.get("ticket_attributes") or {}).get("_default_title_")),
    "description": ("string", lambda t: (t.get("ticket_attributes") or {}).get("_default_description_")),
    "category": ("string", lambda t: _CATEGORY_TERMS.get(t.get("category") or "")),
    "ticket_type_id": ("string", lambda t: (t.get("ticket_type") or {}).get("id")),
    "contact_ids": ("string", lambda t: [c.get("id") for c in (t.get("contacts") or {}).get("contacts") or []]),
    "admin_assignee_id": ("string", lambda t: t.get("admin_assignee_id")),
    "team_assignee_id": ("string", lambda t: t.get("team_assignee_id")),
    "open": ("boolean", lambda t: t.get("open")),
    "state": ("string", lambda t: (t.get("ticket_state") or {}).get("category")),
}
_OPERATORS = {
    "string": {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"},
    "boolean": {"=", "!=", "IN", "NIN"},
    "date": {"=", "!=", "IN", "NIN", ">", "<"},
}
_EXTRA_OPERATORS = {"created_at": {">=", "<="}}
_ALL_OPERATORS = {"=", "!=", "IN", "NIN", "<", "<=", ">", ">=", "~", "!~", "^", "$"}


class QueryError(ValueError):
    """A search query Intercom refuses: its error ``code`` and message (answered 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _scalar(kind: str, field: str, value: Any) -> Any:
    """``value`` as ``field``'s type, or QueryError (Intercom: the value has to match the accepted type)."""
    if kind == "date":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise QueryError("invalid_field", f"{field} must be a UNIX timestamp")
        return int(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise QueryError("invalid_field", f"{field} must be a boolean")
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise QueryError("invalid_field", f"{field} must be a string")


def _filter(query: dict) -> Callable[[dict], bool]:
    field, operator, value = query.get("field"), query.get("operator"), query.get("value")
    if not isinstance(field, str) or not field:
        raise QueryError("invalid_field", "field must be specified")
    if field not in _FIELDS:
        raise QueryError("invalid_field", f"{field} is not a searchable field")
    if operator not in _ALL_OPERATORS:
        raise QueryError("invalid_operator", f"Operator {operator!r} is not supported")
    kind, read = _FIELDS[field]
    if operator not in _OPERATORS[kind] | _EXTRA_OPERATORS.get(field, set()):
        raise QueryError("invalid_operator", f"Operator {operator!r} is not valid for {field} ({kind})")
    if operator in ("IN", "NIN"):
        if not isinstance(value, list):
            raise QueryError("invalid_field", f"{operator} needs an array value")
        wanted = [_scalar(kind, field, v) for v in value]
    else:
        wanted = _scalar(kind, field, value)

    def values(ticket: dict) -> list:
        got = read(ticket)
        return [v for v in (got if isinstance(got, list) else [got]) if v is not None]

    tests: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == wanted, "IN": lambda v: v in wanted,
        ">": lambda v: v >= wanted, ">=": lambda v: v >= wanted,  # documented "Greater (or equal) than"
        "<": lambda v: v <= wanted, "<=": lambda v: v <= wanted,  # documented "Lower (or equal) than"
        "~": lambda v: wanted in v, "^": lambda v: v.startswith(wanted), "$": lambda v: v.endswith(wanted),
    }
    if operator in ("!=", "NIN", "!~"):
        positive = tests[{"!=": "=", "NIN": "IN", "!~": "~"}[operator]]
        return lambda ticket: not any(positive(v) for v in values(ticket))
    test = tests[operator]
    return lambda ticket: any(test(v) for v in values(ticket))


def ticket_predicate(query: Any, depth: int = 0) -> Callable[[dict], bool]:
    """A filter for tickets from Intercom's search ``query``; QueryError for one Intercom refuses."""
    if not isinstance(query, dict):
        raise QueryError("parameter_invalid", "query must be an object")
    operator = query.get("operator")
    if "field" in query or operator not in ("AND", "OR") and not isinstance(query.get("value"), list):
        return _filter(query)
    if operator not in ("AND", "OR"):
        raise QueryError("invalid_operator", "Composite operators must be of type AND or OR")
    if depth >= MAX_NESTING:
        raise QueryError("parameter_invalid", f"Search queries can be nested at most {MAX_NESTING} levels deep")
    members = query.get("value")
    if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
        raise QueryError("parameter_invalid", f"An {operator} query needs a non-empty array of filters")
    if len(members) > MAX_GROUP_FILTERS:
        raise QueryError("parameter_invalid",
                         f"An {operator} query can have at most {MAX_GROUP_FILTERS} filters, got {len(members)}")
    groups = [m.get("operator") in ("AND", "OR") and "field" not in m for m in members]
    if any(groups) and not all(groups):  # the description: all filters or all groups
        raise QueryError("parameter_invalid", f"An {operator} query must hold only filters or only nested queries")
    parts = [ticket_predicate(m, depth + 1) for m in members]
    combine = all if operator == "AND" else any
    return lambda ticket: combine(p(ticket) for p in parts)


class TicketRoutes:
    """Ticket search, ticket updates and the ticket-ageing control route (mixed into the sandbox)."""

    async def _search_tickets(self, request: Request, body: dict) -> Response:
        if "query" not in body:
            return _error(400, "parameter_not_found", "query not specified", "query")
        try:
            predicate = ticket_predicate(body["query"])
        except QueryError as exc:
            return _error(400, exc.code, exc.message, "query" if exc.code == "parameter_invalid" else None)
        pagination = body.get("pagination") or {}
        if not isinstance(pagination, dict):
            return _error(400, "parameter_invalid", "pagination must be an object", "pagination")
        per_page = pagination.get("per_page", SEARCH_DEFAULT_PER_PAGE)
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            return _error(400, "parameter_invalid", f"per_page must be between 1 and {MAX_PER_PAGE}", "per_page")
        offset = 0
        if pagination.get("starting_after"):
            offset = _decode_cursor(str(pagination["starting_after"]))
            if offset is None:
                return _error(400, "parameter_invalid", "Invalid starting_after value", "starting_after")
        matches = [t for t in self.tickets.values() if predicate(t)]
        pages: dict[str, Any] = {"type": "pages", "page": offset // per_page + 1, "per_page": per_page,
                                 "total_pages": max(1, math.ceil(len(matches) / per_page))}
        if offset + per_page < len(matches):
            pages["next"] = {"per_page": per_page, "starting_after": _encode_cursor(offset + per_page)}
        return _json({"type": "ticket.list", "tickets": matches[offset:offset + per_page],
                      "total_count": len(matches), "pages": pages})

    async def _update_ticket(self, request: Request, body: dict) -> Response:
        ticket = self.tickets.get(request.path_params["id"])
        if ticket is None:
            return _error(404, "ticket_not_found", "Ticket not found")
        unknown = sorted(set(body) - UPDATE_FIELDS)
        if unknown:
            return _error(400, "bad_request", f"bad '{unknown[0]}' parameter")
        state_id = body.get("ticket_state_id")
        if "ticket_state_id" in body and str(state_id) not in TICKET_STATES:
            return _error(400, "ticket_state_id_invalid",
                          "Ticket state id is not valid or is not associated with the ticket type")
        if "open" in body and not isinstance(body["open"], bool):
            return _error(400, "parameter_invalid", "open must be a boolean", "open")
        if body.get("company_id") and body["company_id"] not in self.companies:
            return _error(404, "company_not_found", "Company Not Found")
        before = orjson.dumps(ticket)
        if isinstance(body.get("ticket_attributes"), dict):
            ticket["ticket_attributes"].update(body["ticket_attributes"])
        if "is_shared" in body:
            ticket["is_shared"] = bool(body["is_shared"])
        if "company_id" in body:
            if body["company_id"]:
                ticket["company_id"] = body["company_id"]
            else:
                ticket.pop("company_id", None)
        if body.get("assignee_id") is not None:
            ticket["admin_assignee_id"] = str(body["assignee_id"])
        if "ticket_state_id" in body:
            _set_state(ticket, str(state_id))
        if body.get("open") is False:
            _set_state(ticket, RESOLVED_STATE)
        elif body.get("open") is True and not ticket["open"]:
            _set_state(ticket, SUBMITTED_STATE if "ticket_state_id" not in body else str(state_id))
            ticket["open"] = True
        if "snoozed_until" in body and ticket["open"]:
            ticket["snoozed_until"] = body["snoozed_until"]
        if not ticket["open"]:
            ticket.pop("snoozed_until", None)  # closing a ticket also unsnoozes it
        if orjson.dumps(ticket) != before:
            ticket["updated_at"] = max(int(time.time()), int(ticket.get("created_at") or 0))
        return _json(ticket)

    async def _ctl_ticket(self, request: Request) -> Response:
        """``POST /_sandbox/tickets/{id}`` ``{"created_at", "updated_at"}``: age a ticket (not Intercom's API)."""
        ticket = self.tickets.get(request.path_params["id"])
        if ticket is None:
            return JSONResponse({"error": "no such ticket"}, status_code=404)
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not body or set(body) - {"created_at", "updated_at"} or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in body.values()):
            return JSONResponse({"error": "send {\"created_at\": <unix seconds>} (and optionally updated_at)"},
                                status_code=400)
        ticket.update(body)
        return _json(ticket)


def _set_state(ticket: dict, state_id: str) -> None:
    category, label = TICKET_STATES[state_id]
    ticket["ticket_state"] = {"type": "ticket_state", "id": state_id, "category": category,
                              "internal_label": label, "external_label": label}
    ticket["open"] = state_id != RESOLVED_STATE


__all__ = [
    "MAX_GROUP_FILTERS",
    "MAX_NESTING",
    "SEARCH_DEFAULT_PER_PAGE",
    "TICKET_STATES",
    "QueryError",
    "TicketRoutes",
    "ticket_predicate",
]
