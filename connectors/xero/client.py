"""Xero Accounting API client (Contacts, Quotes, Invoices) on the shared :class:`ApiClient`.

Every request carries ``Authorization: Bearer`` and ``xero-tenant-id``; every write an
``Idempotency-Key``. Methods return the vendor record exactly as Xero returns it inside its envelope.
An :class:`~connectors.ratelimit.XeroGovernor` (shared per base URL and tenant) reads Xero's rate-limit
headers (:attr:`XeroClient.rate_limit`), waits out a 429's ``Retry-After``, slows down before the
tenant's minute budget runs out and, when asked (``respect_concurrency``), keeps at most 5 requests in
flight per tenant. Lists page with :class:`~connectors.pagination.XeroPages` (``page`` + ``If-Modified-Since``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, AsyncIterator

import httpx

from connectors.errors import DownstreamError
from connectors.http import ApiClient, ApiResponse, segment
from connectors.pagination import XeroPages, format_modified_since
from connectors.ratelimit import (
    XERO_MAX_CONCURRENT, Clock, XeroGovernor, XeroRateLimit, credential_fingerprint, shared_governor,
)

MAX_CONCURRENT_PER_TENANT = XERO_MAX_CONCURRENT
CONTACT_IDS_PER_REQUEST = 50
"""ContactIDs sent in one GET /Invoices (keeps the URL short)."""


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
        transport: str = "lean",
        timeout_s: float = 10.0,
        max_connections: int = 64,
        respect_concurrency: bool = False,
        governor: XeroGovernor | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``respect_concurrency``: hold one of the governor's 5 per-tenant slots while a request is in
        flight. ``governor``: the rate-limit governor to spend (default: the one shared by every client of
        this base URL and tenant, as Xero's limits are per tenant and access tokens rotate; with ``clock``,
        a private one on that clock, for tests)."""
        super().__init__(base_url, token=token, transport=transport, timeout_s=timeout_s,
                         max_connections=max_connections)
        self.tenant_id = tenant_id
        self.respect_concurrency = respect_concurrency
        if governor is None:
            governor = XeroGovernor(clock=clock) if clock is not None else shared_governor(
                "xero", credential_fingerprint(self.base_url, tenant_id), XeroGovernor)
        self.governor = governor

    @property
    def rate_limit(self) -> XeroRateLimit:
        """What the governor last read from Xero's rate-limit headers."""
        return self.governor.rate_limit

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
        return self.governor.retry_after(response.status_code, response.headers)

    def observe(self, response: httpx.Response) -> None:
        self.governor.observe(response.status_code, response.headers)

    async def before_request(self) -> None:
        await self.governor.before_request()

    def request_slot(self) -> Any:
        return self.governor.slot() if self.respect_concurrency else None

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
        return await self._read(f"/Contacts/{segment(contact_id)}", "Contacts", traceparent)

    async def list_contacts(self, *, page: int = 1, where: str | None = None,
                            modified_since: datetime | None = None, page_size: int = 100,
                            traceparent: str = "") -> list[dict]:
        """One page (up to ``page_size``, default 100) of contacts."""
        pages = XeroPages(page=page, page_size=page_size, where=where, modified_since=modified_since)
        records, _ = await self._page("/Contacts", "Contacts", pages, traceparent)
        return records

    async def iter_contacts(self, *, where: str | None = None, modified_since: datetime | None = None,
                            page_size: int = 100, pages: XeroPages | None = None,
                            traceparent: str = "") -> AsyncIterator[dict]:
        """Every contact (changed since ``modified_since``), page by page.

        Pass ``pages`` (a :class:`XeroPages`) to keep the paginator: afterwards its ``latest_modified``
        is the next incremental sync's ``modified_since``."""
        if pages is None:
            pages = XeroPages(page_size=page_size, where=where, modified_since=modified_since)
        while not pages.done:
            records, _ = await self._page("/Contacts", "Contacts", pages, traceparent)
            for record in records:
                yield record

    async def _page(self, path: str, collection: str, pages: XeroPages, traceparent: str,
                    params: dict[str, Any] | None = None) -> tuple[list[dict], XeroPages]:
        response = await self.request("GET", path, params={**(params or {}), **pages.params()},
                                      headers=pages.headers(), traceparent=traceparent)
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
        return await self._write("POST", f"/Quotes/{segment(quote_id)}", "Quotes", quote,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_quote(self, quote_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Quotes/{segment(quote_id)}", "Quotes", traceparent)

    # --- invoices ------------------------------------------------------------------------------
    async def create_invoice(self, invoice: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        return await self._write("PUT", "/Invoices", "Invoices", invoice,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_invoice(self, invoice_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Invoices/{segment(invoice_id)}", "Invoices", traceparent)

    async def iter_invoices(self, *, contact_ids: list[str] | None = None, statuses: list[str] | None = None,
                            traceparent: str = "") -> AsyncIterator[dict]:
        """Every invoice (of ``contact_ids``, in ``statuses``), 100 a page until a short or last page
        (:class:`XeroPages`), through getInvoices' ``ContactIDs`` and ``Statuses`` filters (comma-separated).
        A PAID invoice carries ``FullyPaidOnDate``. Many contacts go
        :data:`CONTACT_IDS_PER_REQUEST` to a request (an invoice has one contact: none comes twice)."""
        params: dict[str, Any] = {}
        if statuses:
            params["Statuses"] = ",".join(str(s).upper() for s in statuses)
        chunks: list[list[str] | None] = [None]
        if contact_ids is not None:  # an empty list: no contacts, no invoices (and no request)
            ids = list(dict.fromkeys(str(c) for c in contact_ids))
            chunks = [ids[i:i + CONTACT_IDS_PER_REQUEST] for i in range(0, len(ids), CONTACT_IDS_PER_REQUEST)]
        for chunk in chunks:
            query = {**params, **({"ContactIDs": ",".join(chunk)} if chunk else {})}
            pages = XeroPages()
            while not pages.done:
                records, _ = await self._page("/Invoices", "Invoices", pages, traceparent, query)
                for record in records:
                    yield record

    # --- payments ------------------------------------------------------------------------------
    async def create_payment(self, payment: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        """Apply a payment to an AUTHORISED invoice (``Invoice``, ``Account``, ``Amount``, ``Date``).

        Xero reduces the invoice's ``AmountDue`` and marks it PAID once settled; paying more than is
        outstanding is a ValidationException (raised as a ``FatalError``).
        """
        return await self._write("PUT", "/Payments", "Payments", payment,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_payment(self, payment_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/Payments/{segment(payment_id)}", "Payments", traceparent)

    # --- credit notes --------------------------------------------------------------------------
    async def create_credit_note(self, credit_note: dict, *, idempotency_key: str, traceparent: str = "") -> dict:
        return await self._write("PUT", "/CreditNotes", "CreditNotes", credit_note,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_credit_note(self, credit_note_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/CreditNotes/{segment(credit_note_id)}", "CreditNotes", traceparent)

    # --- repeating invoices --------------------------------------------------------------------
    async def create_repeating_invoice(self, repeating_invoice: dict, *, idempotency_key: str,
                                       traceparent: str = "") -> dict:
        """Create a template; ``Schedule`` = {Period, Unit (WEEKLY|MONTHLY), DueDate, DueDateType, StartDate}."""
        return await self._write("PUT", "/RepeatingInvoices", "RepeatingInvoices", repeating_invoice,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def get_repeating_invoice(self, repeating_invoice_id: str, *, traceparent: str = "") -> dict:
        return await self._read(f"/RepeatingInvoices/{segment(repeating_invoice_id)}", "RepeatingInvoices", traceparent)

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

    # --- updates of credit notes and repeating invoices ------------------------------------------
    async def update_credit_note(self, credit_note_id: str, credit_note: dict, *, idempotency_key: str,
                                 traceparent: str = "") -> dict:
        """POST /CreditNotes/{CreditNoteID}: edit a DRAFT or SUBMITTED note, authorise it, delete it, or
        void an AUTHORISED one (``{"Status": "VOIDED"}``; refused while credit is allocated).

        Raises:
            FatalError: 400 ValidationException (e.g. "Credit Note not of valid status for modification");
            NotFoundError: no such credit note.
        """
        return await self._write("POST", f"/CreditNotes/{segment(credit_note_id)}", "CreditNotes", credit_note,
                                 idempotency_key=idempotency_key, traceparent=traceparent)

    async def update_repeating_invoice(self, repeating_invoice_id: str, repeating_invoice: dict, *,
                                       idempotency_key: str, traceparent: str = "") -> dict:
        """POST /RepeatingInvoices/{RepeatingInvoiceID}: change a template (Schedule, LineItems, Reference,
        ...), approve it (``{"Status": "AUTHORISED"}``) or delete it (``{"Status": "DELETED"}``, final).

        Raises:
            FatalError: 400 ValidationException (a deleted template, a status it cannot take);
            NotFoundError: no such template.
        """
        return await self._write("POST", f"/RepeatingInvoices/{segment(repeating_invoice_id)}", "RepeatingInvoices",
                                 repeating_invoice, idempotency_key=idempotency_key, traceparent=traceparent)


__all__ = ["XeroClient", "XeroPages", "XeroRateLimit", "format_modified_since"]
# XeroPages, format_modified_since and XeroRateLimit now live in connectors.pagination and connectors.ratelimit
