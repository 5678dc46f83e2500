"""Intercom REST API 2.14 client (companies, contacts, data events, tickets, tags) on :class:`ApiClient`.

Every request carries ``Authorization: Bearer`` and ``Intercom-Version: 2.14``. Methods return Intercom's
records as Intercom sends them. Idempotency comes from Intercom's own semantics: ``POST /companies``
creates or updates by ``company_id`` (DESIGN: "Intercom: upsert by company_id").

Rate limits: Intercom answers every authenticated request with ``X-RateLimit-Limit`` (requests allowed in
the current 10-second window), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (UNIX seconds when the
window resets); a 429 carries the same headers and no ``Retry-After``. An
:class:`~connectors.ratelimit.IntercomGovernor` (shared per base URL and token) reads them
(:attr:`IntercomClient.rate_limit`): the wait of a 429 is derived from the reset time, and a request is
held back until the reset once the window's budget is down to the reserve.

Paging: :class:`~connectors.pagination.StartingAfterCursor` for lists, and
:class:`~connectors.pagination.ScrollCursor` for ``GET /companies/scroll`` (every company, however many).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import httpx

from connectors.errors import DownstreamError, NotFoundError
from connectors.http import ApiClient, ApiResponse, segment
from connectors.pagination import ScrollCursor, StartingAfterCursor
from connectors.ratelimit import (
    Clock, IntercomGovernor, IntercomRateLimit, credential_fingerprint, shared_governor,
)

API_VERSION = "2.14"
MAX_SEARCH_PER_PAGE = 150
CONTACTS_PER_QUERY = 15


class IntercomClient(ApiClient):
    """Client for one Intercom workspace."""

    system = "intercom"

    def __init__(self, base_url: str, *, token: str, transport: str = "lean", timeout_s: float = 10.0,
                 max_connections: int = 64, max_wait_s: float = 60.0, governor: IntercomGovernor | None = None,
                 clock: Clock | None = None) -> None:
        """``max_wait_s``: upper bound on one governor wait (guards against a skewed clock or a bogus reset
        header; the first client of a credential sets it). ``governor``: the rate-limit governor to spend
        (default: the one shared by every client of this base URL and token; with ``clock``, a private one
        on that clock, for tests)."""
        super().__init__(base_url, token=token, transport=transport, timeout_s=timeout_s,
                         max_connections=max_connections)
        if governor is None:
            def make() -> IntercomGovernor:
                return IntercomGovernor(clock=clock, max_wait_s=max_wait_s)
            governor = make() if clock is not None else shared_governor(
                "intercom", credential_fingerprint(self.base_url, token), make)
        self.governor = governor

    @property
    def rate_limit(self) -> IntercomRateLimit:
        """What the governor last read from the ``X-RateLimit-*`` headers."""
        return self.governor.rate_limit

    @property
    def max_wait_s(self) -> float:
        return self.governor.max_wait_s

    # --- hooks -----------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {**super().auth_headers(), "Intercom-Version": API_VERSION}

    def error_message(self, status: int, body: Any) -> str:
        if isinstance(body, dict) and body.get("type") == "error.list":
            parts = []
            for err in body.get("errors") or []:
                if isinstance(err, dict):
                    message = err.get("message") or err.get("code") or ""
                    if err.get("field"):
                        message = f"{message} ({err['field']})"
                    if message:
                        parts.append(str(message))
            if parts:
                return "; ".join(parts)
        return super().error_message(status, body)

    def retry_after(self, response: httpx.Response) -> float | None:
        return self.governor.retry_after(response.status_code, response.headers)

    def observe(self, response: httpx.Response) -> None:
        self.governor.observe(response.status_code, response.headers)

    async def before_request(self) -> None:
        await self.governor.before_request()

    # --- helpers ---------------------------------------------------------------------------
    def _object(self, response: ApiResponse, kind: str) -> dict:
        body = response.body
        if not isinstance(body, dict):
            raise DownstreamError(f"Intercom answered without a {kind}", system=self.system,
                                  status=response.status, body=body, call=response.call)
        return body

    # --- companies -------------------------------------------------------------------------
    async def upsert_company(self, company: dict, *, traceparent: str = "") -> dict:
        """Create the company, or update it when one with the same ``company_id`` exists.

        ``company`` is Intercom's create-or-update payload: ``company_id`` (your id; the idempotency key),
        ``name``, ``plan``, ``size``, ``website``, ``industry``, ``monthly_spend``, ``remote_created_at`` and
        ``custom_attributes`` (e.g. ``health_score``, ``renewal_date``, ``financial_risk``,
        ``onboarding_stage``; the attributes must exist in the workspace).
        """
        response = await self.request("POST", "/companies", json=company, traceparent=traceparent)
        return self._object(response, "company")

    async def get_company(self, id: str, *, traceparent: str = "") -> dict:  # noqa: A002 - Intercom's name
        """The company with Intercom's ``id``. Raises NotFoundError."""
        response = await self.request("GET", f"/companies/{segment(id)}", traceparent=traceparent)
        return self._object(response, "company")

    async def find_company(self, company_id: str, *, traceparent: str = "") -> dict | None:
        """The company with your ``company_id``, or None when Intercom has none."""
        try:
            response = await self.request("GET", "/companies", params={"company_id": company_id},
                                          traceparent=traceparent)
        except NotFoundError:
            return None
        body = self._object(response, "company")
        if body.get("type") == "company":  # Intercom answers a single lookup with the company itself
            return body
        data = body.get("data") or []
        return data[0] if data else None

    async def list_companies(self, *, per_page: int = 50, starting_after: str | None = None,
                             traceparent: str = "") -> dict:
        """One page of companies: Intercom's ``list`` (``data``, ``total_count``, ``pages``)."""
        cursor = StartingAfterCursor(per_page=per_page, starting_after=starting_after)
        response = await self.request("GET", "/companies", params=cursor.params(), traceparent=traceparent)
        return self._object(response, "list")

    async def iter_companies(self, *, per_page: int = 50, traceparent: str = "") -> AsyncIterator[dict]:
        """Every company, page by page, following ``pages.next.starting_after``."""
        cursor = StartingAfterCursor(per_page=per_page)
        while not cursor.done:
            body = await self.list_companies(per_page=cursor.per_page, starting_after=cursor.starting_after,
                                             traceparent=traceparent)
            cursor.advance(body)
            for record in body.get("data") or []:
                yield record

    async def scroll_companies(self, scroll_param: str | None = None, *, traceparent: str = "") -> dict:
        """One page of ``GET /companies/scroll``: ``{"type": "list", "data", "scroll_param"}``. Without
        ``scroll_param`` a new scroll opens (one per app at a time); an empty ``data`` ends it."""
        cursor = ScrollCursor(scroll_param=scroll_param)
        response = await self.request("GET", "/companies/scroll", params=cursor.params() or None,
                                      traceparent=traceparent)
        return self._object(response, "list")

    async def iter_scroll_companies(self, *, traceparent: str = "") -> AsyncIterator[dict]:
        """Every company through the scroll API (for workspaces too large to page through ``/companies``).
        A scroll cannot resume after a failure: the error propagates and the caller starts again."""
        cursor = ScrollCursor()
        while not cursor.done:
            body = await self.scroll_companies(cursor.scroll_param, traceparent=traceparent)
            cursor.advance(body)
            for record in body.get("data") or []:
                yield record

    # --- contacts --------------------------------------------------------------------------
    async def create_contact(self, contact: dict, *, traceparent: str = "") -> dict:
        """Create a contact (needs ``email``, ``external_id`` or ``role``). A duplicate is a 409 (FatalError)."""
        response = await self.request("POST", "/contacts", json=contact, traceparent=traceparent)
        return self._object(response, "contact")

    async def search_contacts(self, email: str, *, per_page: int = 50, field: str = "email",
                              traceparent: str = "") -> list[dict]:
        """Contacts whose ``field`` (``email`` by default, or e.g. ``external_id``) is exactly the value
        given (first page)."""
        body = {"query": {"field": field, "operator": "=", "value": email},
                "pagination": {"per_page": per_page}}
        response = await self.request("POST", "/contacts/search", json=body, traceparent=traceparent)
        return list(self._object(response, "list").get("data") or [])

    async def get_contact(self, id: str, *, traceparent: str = "") -> dict:  # noqa: A002 - Intercom's name
        """The contact with Intercom's ``id``. Raises NotFoundError."""
        response = await self.request("GET", f"/contacts/{segment(id)}", traceparent=traceparent)
        return self._object(response, "contact")

    async def update_contact(self, id: str, changes: dict, *, traceparent: str = "") -> dict:  # noqa: A002
        """``PUT /contacts/{id}`` with only the fields to change (``email``, ``name``, ``phone``,
        ``external_id``, ...); returns the updated contact. Raises NotFoundError."""
        response = await self.request("PUT", f"/contacts/{segment(id)}", json=changes, traceparent=traceparent)
        return self._object(response, "contact")

    async def attach_contact_to_company(self, contact_id: str, company_id: str, *, traceparent: str = "") -> dict:
        """Attach the contact (Intercom ``id``) to the company (Intercom ``id``, not your ``company_id``);
        returns the company. Attaching twice changes nothing. Raises NotFoundError."""
        response = await self.request("POST", f"/contacts/{segment(contact_id)}/companies", json={"id": company_id},
                                      traceparent=traceparent)
        return self._object(response, "company")

    # --- data events -----------------------------------------------------------------------
    async def create_data_event(self, event_name: str, created_at: int, *, user_id: str | None = None,
                                email: str | None = None, id: str | None = None,  # noqa: A002
                                metadata: dict[str, Any] | None = None, traceparent: str = "") -> None:
        """Submit a data event for a contact (by ``user_id``, ``email`` or Intercom ``id``). Intercom
        answers 202 with no body."""
        if not (user_id or email or id):
            raise ValueError("a data event needs user_id, email or id")
        event: dict[str, Any] = {"event_name": event_name, "created_at": int(created_at)}
        for key, value in (("user_id", user_id), ("email", email), ("id", id)):
            if value:
                event[key] = value
        if metadata:
            event["metadata"] = metadata
        await self.request("POST", "/events", json=event, traceparent=traceparent)

    # --- tickets ---------------------------------------------------------------------------
    async def create_ticket(self, ticket_type_id: str, contacts: list[dict], *, title: str | None = None,
                            description: str | None = None, company_id: str | None = None,
                            attributes: dict[str, Any] | None = None, traceparent: str = "") -> dict:
        """Create a ticket of ``ticket_type_id`` for ``contacts`` (``[{"id"|"external_id"|"email": ..}]``);
        ``company_id`` is Intercom's company ``id``."""
        ticket_attributes = dict(attributes or {})
        if title is not None:
            ticket_attributes["_default_title_"] = title
        if description is not None:
            ticket_attributes["_default_description_"] = description
        body: dict[str, Any] = {"ticket_type_id": ticket_type_id, "contacts": contacts}
        if company_id:
            body["company_id"] = company_id
        if ticket_attributes:
            body["ticket_attributes"] = ticket_attributes
        response = await self.request("POST", "/tickets", json=body, traceparent=traceparent)
        return self._object(response, "ticket")

    async def update_ticket(self, id: str, changes: dict, *, traceparent: str = "") -> dict:  # noqa: A002
        """``PUT /tickets/{id}`` with only the fields to change (Intercom 2.14's ``update_ticket_request``:
        ``ticket_state_id``, ``open``, ``ticket_attributes``, ``snoozed_until``, ``assignee_id``, ...).
        ``{"open": False}`` closes the ticket; 2.14 has no ``state`` field (a state is set by its
        ``ticket_state_id``). Returns the ticket. Raises NotFoundError; FatalError for a bad state id."""
        response = await self.request("PUT", f"/tickets/{segment(id)}", json=changes, traceparent=traceparent)
        return self._object(response, "ticket")

    async def search_tickets(self, query: dict, *, per_page: int = 50, starting_after: str | None = None,
                             traceparent: str = "") -> dict:
        """One page of ``POST /tickets/search``: Intercom's ``ticket.list`` (``tickets``, ``total_count``,
        ``pages`` with ``next.starting_after`` while more remain). ``query`` is one filter
        ``{"field", "operator", "value"}`` or ``{"operator": "AND"|"OR", "value": [...]}`` (at most 2
        levels, 15 filters a group). A query Intercom refuses raises FatalError (400)."""
        cursor = StartingAfterCursor(per_page=per_page, starting_after=starting_after)
        response = await self.request("POST", "/tickets/search", json={"query": query, "pagination": cursor.params()},
                                      traceparent=traceparent)
        return self._object(response, "ticket.list")

    async def iter_search_tickets(self, query: dict, *, per_page: int = 50,
                                  traceparent: str = "") -> AsyncIterator[dict]:
        """Every ticket matching ``query``, page by page (``pages.next.starting_after``)."""
        cursor = StartingAfterCursor(per_page=per_page)
        while not cursor.done:
            body = await self.search_tickets(query, per_page=cursor.per_page, starting_after=cursor.starting_after,
                                             traceparent=traceparent)
            cursor.advance(body)
            for ticket in body.get("tickets") or []:
                yield ticket

    async def count_open_tickets(self, contact_ids: list[str], created_from: int, created_to: int, *,
                                 traceparent: str = "") -> int:
        """How many open tickets of any of ``contact_ids`` were created in ``[created_from, created_to)``
        (UNIX seconds), across every page; 0 without a request for no contacts or an empty window.

        Intercom documents ``>``/``<`` as "greater/lower (or equal) than", so the window is sent as
        ``created_at >= created_from`` and ``created_at <= created_to - 1``, exact whichever way they
        compare. Contacts go ``IN`` groups of 15; a ticket of several of them counts once."""
        ids = list(dict.fromkeys(str(c) for c in contact_ids if c))
        if not ids or created_to <= created_from:
            return 0
        seen: set[str] = set()
        for i in range(0, len(ids), CONTACTS_PER_QUERY):
            query = {"operator": "AND", "value": [
                {"field": "open", "operator": "=", "value": True},
                {"field": "created_at", "operator": ">=", "value": int(created_from)},
                {"field": "created_at", "operator": "<=", "value": int(created_to) - 1},
                {"field": "contact_ids", "operator": "IN", "value": ids[i:i + CONTACTS_PER_QUERY]},
            ]}
            async for ticket in self.iter_search_tickets(query, per_page=MAX_SEARCH_PER_PAGE, traceparent=traceparent):
                seen.add(str(ticket.get("id")))
        return len(seen)

    # --- tags ------------------------------------------------------------------------------
    async def create_tag(self, name: str, *, traceparent: str = "") -> dict:
        """Create the tag ``name`` (or return the existing one: names are case insensitive)."""
        response = await self.request("POST", "/tags", json={"name": name}, traceparent=traceparent)
        return self._object(response, "tag")

    async def tag_companies(self, name: str, company_ids: list[str], *, traceparent: str = "") -> dict:
        """Tag companies (Intercom ``id``s) with ``name``, creating the tag if needed."""
        body = {"name": name, "companies": [{"id": cid} for cid in company_ids]}
        response = await self.request("POST", "/tags", json=body, traceparent=traceparent)
        return self._object(response, "tag")


__all__ = ["API_VERSION", "IntercomClient", "IntercomRateLimit", "ScrollCursor", "StartingAfterCursor"]
# IntercomRateLimit and the cursors now live in connectors.ratelimit and connectors.pagination
