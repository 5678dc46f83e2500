"""Intercom REST API 2.14 client (companies, contacts, data events, tickets, tags) on :class:`ApiClient`.

Every request carries ``Authorization: Bearer`` and ``Intercom-Version: 2.14``. Methods return Intercom's
records as Intercom sends them. Idempotency comes from Intercom's own semantics: ``POST /companies``
creates or updates by ``company_id`` (DESIGN: "Intercom: upsert by company_id").

Rate limits: Intercom answers every authenticated request with ``X-RateLimit-Limit`` (requests allowed in
the current 10-second window), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (UNIX seconds when the
window resets); a 429 carries the same headers and no ``Retry-After``. They are kept on
:attr:`IntercomClient.rate_limit`; the wait of a 429 is derived from the reset time, and a request is held
back until the reset while the window is known to be exhausted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx

from connectors.errors import DownstreamError, NotFoundError
from connectors.http import ApiClient, ApiResponse, parse_retry_after

API_VERSION = "2.14"


@dataclass
class IntercomRateLimit:
    """The last rate-limit state Intercom reported, for display and for the governor."""

    limit: int | None = None
    """``X-RateLimit-Limit``: requests allowed in the current window (10 s)."""
    remaining: int | None = None
    """``X-RateLimit-Remaining``: requests left in the current window."""
    reset_at: float | None = None
    """``X-RateLimit-Reset``: UNIX time (seconds) when the window resets."""
    throttled: int = 0
    """429s seen by this client."""
    last_429_at: float | None = None
    updated_at: float | None = None

    def wait_s(self, now: float | None = None) -> float:
        """Seconds until the reset, when the window is exhausted; else 0."""
        if self.remaining != 0 or self.reset_at is None:
            return 0.0
        return max(0.0, self.reset_at - (time.time() if now is None else now))


@dataclass
class StartingAfterCursor:
    """Intercom's cursor pagination: ``?per_page=N&starting_after=CURSOR``.

    The next cursor is the response's ``pages.next.starting_after``; no ``pages.next`` means the last page.
    """

    per_page: int = 50
    starting_after: str | None = None
    done: bool = False
    pages: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"per_page": self.per_page}
        if self.starting_after:
            params["starting_after"] = self.starting_after
        return params

    def advance(self, body: Any) -> None:
        """Record one page's ``pages`` object and move to the next cursor (or finish)."""
        pages = body.get("pages") if isinstance(body, dict) else None
        self.pages = pages if isinstance(pages, dict) else None
        nxt = (self.pages or {}).get("next")
        cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
        if cursor and cursor != self.starting_after:
            self.starting_after = cursor
        else:
            self.done = True


class IntercomClient(ApiClient):
    """Client for one Intercom workspace."""

    system = "intercom"

    def __init__(self, base_url: str, *, token: str, transport: str = "aiohttp", timeout_s: float = 10.0,
                 max_connections: int = 64, max_wait_s: float = 60.0) -> None:
        super().__init__(base_url, token=token, transport=transport, timeout_s=timeout_s,
                         max_connections=max_connections)
        self.rate_limit = IntercomRateLimit()
        self.max_wait_s = max_wait_s
        """Upper bound on one governor wait (guards against a skewed clock or a bogus reset header)."""

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
        explicit = parse_retry_after(response.headers.get("Retry-After"))
        if explicit is not None:
            return explicit
        reset = _int(response.headers.get("X-RateLimit-Reset"))
        if reset is None:
            return None
        return min(self.max_wait_s, max(0.0, reset - time.time()))

    def observe(self, response: httpx.Response) -> None:
        h = response.headers
        rl = self.rate_limit
        limit, remaining, reset = (_int(h.get(n)) for n in
                                   ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))
        if limit is not None:
            rl.limit = limit
        if remaining is not None:
            rl.remaining = remaining
        if reset is not None:
            rl.reset_at = float(reset)
        rl.updated_at = time.time()
        if response.status_code == 429:
            rl.throttled += 1
            rl.last_429_at = time.time()
            if remaining is None:
                rl.remaining = 0

    async def before_request(self) -> None:
        while True:
            wait = min(self.rate_limit.wait_s(), self.max_wait_s)
            if wait <= 0:
                return
            await asyncio.sleep(wait)
            # the window has reset (or the wait was capped): allow requests until told otherwise
            if self.rate_limit.reset_at is not None and self.rate_limit.reset_at <= time.time() + 0.001:
                self.rate_limit.remaining = None
            elif wait >= self.max_wait_s:
                self.rate_limit.remaining = None

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
        response = await self.request("GET", f"/companies/{id}", traceparent=traceparent)
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

    # --- contacts --------------------------------------------------------------------------
    async def create_contact(self, contact: dict, *, traceparent: str = "") -> dict:
        """Create a contact (needs ``email``, ``external_id`` or ``role``). A duplicate is a 409 (FatalError)."""
        response = await self.request("POST", "/contacts", json=contact, traceparent=traceparent)
        return self._object(response, "contact")

    async def search_contacts(self, email: str, *, per_page: int = 50, traceparent: str = "") -> list[dict]:
        """Contacts whose email is exactly ``email`` (first page)."""
        body = {"query": {"field": "email", "operator": "=", "value": email},
                "pagination": {"per_page": per_page}}
        response = await self.request("POST", "/contacts/search", json=body, traceparent=traceparent)
        return list(self._object(response, "list").get("data") or [])

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


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


__all__ = ["API_VERSION", "IntercomClient", "IntercomRateLimit", "StartingAfterCursor"]
