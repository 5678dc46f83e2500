"""Xero Accounting API client (Contacts, Quotes, Invoices) on the shared :class:`ApiClient`.

Every request carries ``Authorization: Bearer`` and ``xero-tenant-id``; every write an
``Idempotency-Key``. Methods return the vendor record exactly as Xero returns it inside its envelope.
Xero's rate-limit headers are kept on :attr:`XeroClient.rate_limit`; a small governor waits out a
known 429 ``Retry-After`` window and, when asked, keeps at most 5 requests in flight per tenant.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, AsyncIterator

import httpx

from connectors.errors import DownstreamError
from connectors.http import ApiClient, ApiResponse, parse_retry_after

MAX_CONCURRENT_PER_TENANT = 5


@dataclass
class XeroRateLimit:
    """The last rate-limit state Xero reported, for display and for the governor."""

    minute_remaining: int | None = None
    """``X-MinLimit-Remaining``: calls left this minute for the tenant (limit 60)."""
    day_remaining: int | None = None
    """``X-DayLimit-Remaining``: calls left today for the tenant (limit 5000)."""
    app_minute_remaining: int | None = None
    """``X-AppMinLimit-Remaining``: calls left this minute for the app across tenants."""
    problem: str | None = None
    """``X-Rate-Limit-Problem`` of the last 429 (minute, day, appminute, concurrent)."""
    retry_after: float | None = None
    """``Retry-After`` of the last 429, in seconds."""
    blocked_until: float = 0.0
    """time.monotonic() before which the governor will not send (0 when no window is open)."""
    last_429_at: float | None = None
    """Wall-clock time of the last 429."""
    throttled: int = 0
    """429s seen by this client."""
    updated_at: float | None = None


def format_modified_since(when: datetime) -> str:
    """An ``If-Modified-Since`` value Xero accepts (ISO 8601, UTC, milliseconds)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class XeroPages:
    """Xero's paging: ``?page=N`` (100 records a page) plus an optional ``If-Modified-Since``.

    Done when the response's ``pagination.pageCount`` is reached or a page comes back short.
    """

    page: int = 1
    page_size: int = 100
    modified_since: datetime | None = None
    where: str | None = None
    done: bool = False
    pagination: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"page": self.page}
        if self.where:
            params["where"] = self.where
        return params

    def headers(self) -> dict[str, str]:
        return {"If-Modified-Since": format_modified_since(self.modified_since)} if self.modified_since else {}

    def advance(self, records: list[dict], pagination: dict[str, Any] | None) -> None:
        """Record one page's outcome and move to the next."""
        self.pagination = pagination or {}
        page_count = self.pagination.get("pageCount")
        if page_count is not None:
            self.done = self.page >= page_count
        else:
            self.done = len(records) < self.page_size
        self.page += 1


def _validation_messages(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        for err in node.get("ValidationErrors") or []:
            if isinstance(err, dict) and err.get("Message") and err["Message"] not in out:
                out.append(str(err["Message"]))
        for key, value in node.items():
            if key != "ValidationErrors" and isinstance(value, (dict, list)):
                _validation_messages(value, out)
    elif isinstance(node, list):
        for item in node:
            _validation_messages(item, out)


class XeroClient(ApiClient):
    """Client for one Xero tenant (organisation)."""

    system = "xero"

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        tenant_id: str,
        transport: str = "aiohttp",
        timeout_s: float = 10.0,
        max_connections: int = 64,
        respect_concurrency: bool = False,
    ) -> None:
        super().__init__(base_url, token=token, transport=transport, timeout_s=timeout_s,
                         max_connections=max_connections)
        self.tenant_id = tenant_id
        self.rate_limit = XeroRateLimit()
        self.respect_concurrency = respect_concurrency
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    # --- hooks -----------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {**super().auth_headers(), "xero-tenant-id": self.tenant_id}

    def error_message(self, status: int, body: Any) -> str:
        if isinstance(body, dict):
            if body.get("Type") == "ValidationException" or body.get("Elements"):
                messages: list[str] = []
                _validation_messages(body.get("Elements") or [], messages)
                if messages:
                    return "; ".join(messages)
            if body.get("Title") or body.get("Detail"):  # identity layer 401/403
                return ": ".join(str(body[k]) for k in ("Title", "Detail") if body.get(k))
            if body.get("Message"):
                return str(body["Message"])
        if status == 429:
            problem = self.rate_limit.problem or "unknown"
            return f"rate limit exceeded ({problem} limit)"
        if status == 404:
            return str(body).strip()[:300] if body else "not found"
        return super().error_message(status, body)

    def retry_after(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def observe(self, response: httpx.Response) -> None:
        h = response.headers
        rl = self.rate_limit
        for attr, name in (("minute_remaining", "X-MinLimit-Remaining"), ("day_remaining", "X-DayLimit-Remaining"),
                           ("app_minute_remaining", "X-AppMinLimit-Remaining")):
            value = h.get(name)
            if value is not None:
                try:
                    setattr(rl, attr, int(value))
                except ValueError:
                    pass
        rl.updated_at = time.time()
        if response.status_code == 429:
            rl.throttled += 1
            rl.problem = h.get("X-Rate-Limit-Problem")
            rl.retry_after = self.retry_after(response)
            rl.last_429_at = time.time()
            if rl.retry_after:
                rl.blocked_until = max(rl.blocked_until, time.monotonic() + rl.retry_after)

    async def before_request(self) -> None:
        while True:
            wait = self.rate_limit.blocked_until - time.monotonic()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        if not self.respect_concurrency:
            return await super().request(method, path, **kwargs)
        sem = self._semaphores.get(self.tenant_id)
        if sem is None:
            sem = self._semaphores[self.tenant_id] = asyncio.Semaphore(MAX_CONCURRENT_PER_TENANT)
        async with sem:
            return await super().request(method, path, **kwargs)

    # --- helpers ---------------------------------------------------------------------------
    def _one(self, response: ApiResponse, collection: str) -> dict:
        body = response.body
        records = body.get(collection) if isinstance(body, dict) else None
        if not records:
            raise DownstreamError(f"Xero answered without {collection}", system=self.system,
                                  status=response.status, body=body, call=response.call)
        return records[0]

    async def _write(self, method: str, path: str, collection: str, record: dict, *,
                     idempotency_key: str, traceparent: str) -> dict:
        response = await self.request(method, path, json={collection: [record]},
                                      headers={"Idempotency-Key": idempotency_key}, traceparent=traceparent)
        return self._one(response, collection)

    async def _read(self, path: str, collection: str, traceparent: str) -> dict:
        return self._one(await self.request("GET", path, traceparent=traceparent), collection)

    # --- contacts ----------------------------------------------------------------------------
    async def upsert_contact(self, contact: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        """Create a contact, or update it when ``ContactID`` (or a known ``ContactNumber``) is given."""
        return await self._write("POST", "/Contacts", "Contacts", contact,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_contact(self, contact_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Contacts/{contact_id}", "Contacts", traceparent)

    async def list_contacts(self, *, page: int = 1, where: str | None = None,
                            modified_since: datetime | None = None, traceparent: str = "") -> list[dict]:
        """One page (up to 100) of contacts."""
        pages = XeroPages(page=page, where=where, modified_since=modified_since)
        records, _ = await self._page("/Contacts", "Contacts", pages, traceparent)
        return records

    async def iter_contacts(self, *, where: str | None = None, modified_since: datetime | None = None,
                            traceparent: str = "") -> AsyncIterator[dict]:
        """Every contact (changed since ``modified_since``), page by page."""
        pages = XeroPages(where=where, modified_since=modified_since)
        while not pages.done:
            records, _ = await self._page("/Contacts", "Contacts", pages, traceparent)
            for record in records:
                yield record

    async def _page(self, path: str, collection: str, pages: XeroPages, traceparent: str
                    ) -> tuple[list[dict], XeroPages]:
        response = await self.request("GET", path, params=pages.params(), headers=pages.headers(),
                                      traceparent=traceparent)
        body = response.body if isinstance(response.body, dict) else {}
        records = body.get(collection) or []
        pages.advance(records, body.get("pagination"))
        return records, pages

    # --- quotes --------------------------------------------------------------------------------
    async def create_quote(self, quote: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        return await self._write("PUT", "/Quotes", "Quotes", quote,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def update_quote(self, quote_id: str, quote: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        """Update a quote (e.g. its Status). Xero requires ``Contact`` and ``Date`` in every update."""
        return await self._write("POST", f"/Quotes/{quote_id}", "Quotes", quote,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_quote(self, quote_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Quotes/{quote_id}", "Quotes", traceparent)

    # --- invoices ------------------------------------------------------------------------------
    async def create_invoice(self, invoice: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        return await self._write("PUT", "/Invoices", "Invoices", invoice,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_invoice(self, invoice_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Invoices/{invoice_id}", "Invoices", traceparent)


    # --- payments ------------------------------------------------------------------------------
    async def create_payment(self, payment: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        """Apply a payment to an AUTHORISED invoice (``Invoice``, ``Account``, ``Amount``, ``Date``).

        Xero reduces the invoice's ``AmountDue`` and marks it PAID once settled; paying more than is
        outstanding is a ValidationException (raised as a ``FatalError``).
        """
        return await self._write("PUT", "/Payments", "Payments", payment,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_payment(self, payment_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Payments/{payment_id}", "Payments", traceparent)

    # --- credit notes --------------------------------------------------------------------------
    async def create_credit_note(self, credit_note: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        return await self._write("PUT", "/CreditNotes", "CreditNotes", credit_note,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_credit_note(self, credit_note_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/CreditNotes/{credit_note_id}", "CreditNotes", traceparent)

    # --- repeating invoices --------------------------------------------------------------------
    async def create_repeating_invoice(self, repeating_invoice: dict, *, idempotency_key: str,
                                       traceparent: str = "") -> dict:
        """Create a template; ``Schedule`` = {Period, Unit (WEEKLY|MONTHLY), DueDate, DueDateType, StartDate}."""
        return await self._write("PUT", "/RepeatingInvoices", "RepeatingInvoices", repeating_invoice,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_repeating_invoice(self, repeating_invoice_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/RepeatingInvoices/{repeating_invoice_id}", "RepeatingInvoices", traceparent)

    async def list_repeating_invoices(self, *, where: str | None = None, traceparent: str = "") -> list[dict]:
        """Every repeating invoice template (Xero does not page this endpoint)."""
        response = await self.request("GET", "/RepeatingInvoices", params={"where": where} if where else None,
                                      traceparent=traceparent)
        body = response.body if isinstance(response.body, dict) else {}
        return body.get("RepeatingInvoices") or []

    # --- settings and reports ------------------------------------------------------------------
    async def get_tax_rates(self, *, traceparent: str = "") -> list[dict]:
        response = await self.request("GET", "/TaxRates", traceparent=traceparent)
        body = response.body if isinstance(response.body, dict) else {}
        return body.get("TaxRates") or []

    async def get_aged_receivables_by_contact(self, contact_id: str, *, date: str | None = None,
                                              traceparent: str = "") -> dict:
        """The AgedReceivablesByContact report (``ReportWithRow``) for one contact, as of ``date``."""
        params = {"contactId": contact_id, **({"date": date} if date else {})}
        response = await self.request("GET", "/Reports/AgedReceivablesByContact", params=params,
                                      traceparent=traceparent)
        return self._one(response, "Reports")


__all__ = ["XeroClient", "XeroPages", "XeroRateLimit", "format_modified_since"]
