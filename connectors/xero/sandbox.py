"""A faithful emulation of the Xero Accounting API subset the engine speaks, as a Starlette app.

Vendor paths live under ``/api.xro/2.0`` (Contacts, Quotes, Invoices, TaxRates) and answer in Xero's
envelopes and error bodies: 400 ValidationException with ``Elements[].ValidationErrors``, 401 for a
bad bearer token, 403 for a wrong ``xero-tenant-id``, 404 for an unknown id, 429 with ``Retry-After``
and ``X-Rate-Limit-Problem``. Writes honour ``Idempotency-Key`` (a repeated key replays the stored
original response). Every vendor response carries ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining``
and ``X-AppMinLimit-Remaining``; the ``vendor`` profile enforces Xero's 60/minute, 5000/day and
5-concurrent limits per tenant. Control routes under ``/_sandbox/`` are never faulted and need no auth.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.sandbox import Faults, faults_endpoint
from connectors.xero.delivery import XeroWebhookDispatcher
from connectors.xero.sandbox_documents import InvoiceBook, QuoteBook, filter_invoices
from connectors.xero.sandbox_finance import CreditNoteBook, PaymentBook, aged_receivables
from connectors.xero.sandbox_repeating import RepeatingInvoiceBook
from connectors.xero.sandbox_identity import XeroIdentity
from connectors.xero.sandbox_limits import DEMO_LIMITS, RateLimits, rate_limited, unavailable
from connectors.xero.sandbox_models import (
    ContactBook, Invalid, Missing, name_key, new_id, now_ms, parse_date, parse_modified_since, render_tax_rates, today,
)

BASE = "/api.xro/2.0"
PAGE_SIZE = 100
NOT_FOUND = "The resource you're looking for cannot be found"
_WHERE = re.compile(r'^\s*(\w+)\s*==\s*"([^"]*)"\s*$')
COLLECTIONS = ("Contacts", "Quotes", "Invoices", "Payments", "CreditNotes", "RepeatingInvoices")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _added_since(records: dict[str, Any], known: int) -> set[str]:
    """The ids a write added to a book that held ``known`` records. A book never removes a record
    (Xero archives, voids and deletes by status) and a dict keeps insertion order, so they are the
    last ones: no copy of the whole book per write, which grew with every record the bench made."""
    return set(islice(reversed(records), len(records) - known))


def _envelope(**collection: Any) -> dict[str, Any]:
    return {"Id": new_id(), "Status": "OK", "ProviderName": "opsconsole sandbox",
            "DateTimeUTC": f"/Date({now_ms()})/", **collection}


def _validation_error(elements: list[dict]) -> dict[str, Any]:
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements}


def _problem(status: int, title: str, detail: str) -> Response:
    """Xero's identity-layer error body (401/403)."""
    return _json({"Type": None, "Title": title, "Status": status, "Detail": detail,
                  "Instance": new_id(), "Extensions": {}}, status)


@dataclass
class _Stored:
    status: int
    content: bytes
    media_type: str


class XeroSandbox:
    """In-memory Xero organisation served as a Starlette app (``.app``)."""

    def __init__(self, *, token: str = "sandbox-xero-token", tenant_id: str = "sandbox-tenant",
                 profile: str = "demo", base_currency: str = "USD") -> None:
        self.token = token
        self.tenant_id = tenant_id
        self.base_currency = base_currency
        self.faults = Faults()
        self.faults.configure({"profile": profile})
        self.limits = RateLimits()
        self.identity = XeroIdentity(tenant_id=tenant_id)
        self.webhooks = XeroWebhookDispatcher(tenant_id=tenant_id)
        self._reset_state()
        routes = [
            *self.identity.routes(),
            Route("/_sandbox/webhooks", self._webhooks_config, methods=["GET", "POST"]),
            Route("/_sandbox/webhooks/intent", self._webhooks_intent, methods=["POST"]),
            Route("/_sandbox/webhooks/deliveries", self._webhooks_deliveries, methods=["GET"]),
            Route("/_sandbox/faults", faults_endpoint(self.faults), methods=["GET", "POST"]),
            Route("/_sandbox/state", self._state, methods=["GET"]),
            Route("/_sandbox/writes", self._writes, methods=["GET"]),
            Route("/_sandbox/records/{collection}", self._records, methods=["GET"]),
            Route("/_sandbox/reset", self._reset, methods=["POST"]),
            Route(f"{BASE}/Contacts", self._vendor(self._list_contacts), methods=["GET"]),
            Route(f"{BASE}/Contacts", self._vendor(self._write_contacts, write=True), methods=["PUT", "POST"]),
            Route(f"{BASE}/Contacts/{{id}}", self._vendor(self._get("Contacts")), methods=["GET"]),
            Route(f"{BASE}/Contacts/{{id}}", self._vendor(self._write_contacts, write=True), methods=["POST"]),
            Route(f"{BASE}/Quotes", self._vendor(self._list("Quotes")), methods=["GET"]),
            Route(f"{BASE}/Quotes", self._vendor(self._write_quotes, write=True), methods=["PUT", "POST"]),
            Route(f"{BASE}/Quotes/{{id}}", self._vendor(self._get("Quotes")), methods=["GET"]),
            Route(f"{BASE}/Quotes/{{id}}", self._vendor(self._write_quotes, write=True), methods=["POST"]),
            Route(f"{BASE}/Invoices", self._vendor(self._list("Invoices")), methods=["GET"]),
            Route(f"{BASE}/Invoices", self._vendor(self._write_invoices, write=True), methods=["PUT", "POST"]),
            Route(f"{BASE}/Invoices/{{id}}", self._vendor(self._get("Invoices")), methods=["GET"]),
            Route(f"{BASE}/Invoices/{{id}}", self._vendor(self._write_invoices, write=True), methods=["POST"]),
            Route(f"{BASE}/TaxRates", self._vendor(self._tax_rates), methods=["GET"]),
            Route(f"{BASE}/Payments", self._vendor(self._list("Payments")), methods=["GET"]),
            Route(f"{BASE}/Payments", self._vendor(self._write_payments, write=True), methods=["PUT"]),
            Route(f"{BASE}/Payments/{{id}}", self._vendor(self._get("Payments")), methods=["GET"]),
            Route(f"{BASE}/CreditNotes", self._vendor(self._list("CreditNotes")), methods=["GET"]),
            Route(f"{BASE}/CreditNotes", self._vendor(self._write_credit_notes, write=True), methods=["PUT", "POST"]),
            Route(f"{BASE}/CreditNotes/{{id}}", self._vendor(self._get("CreditNotes")), methods=["GET"]),
            Route(f"{BASE}/CreditNotes/{{id}}", self._vendor(self._write_credit_notes, write=True), methods=["POST"]),
            Route(f"{BASE}/RepeatingInvoices", self._vendor(self._list_repeating), methods=["GET"]),
            Route(f"{BASE}/RepeatingInvoices", self._vendor(self._write_repeating, write=True), methods=["PUT", "POST"]),
            Route(f"{BASE}/RepeatingInvoices/{{id}}", self._vendor(self._get("RepeatingInvoices")), methods=["GET"]),
            Route(f"{BASE}/RepeatingInvoices/{{id}}", self._vendor(self._write_repeating, write=True),
                  methods=["POST"]),
            Route(f"{BASE}/Reports/AgedReceivablesByContact", self._vendor(self._aged_receivables), methods=["GET"]),
        ]
        self.app = Starlette(routes=routes)
        self.app.state.sandbox = self

    # --- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.contacts = ContactBook()
        self.quotes = QuoteBook(self.contacts, self.base_currency)
        self.invoices = InvoiceBook(self.contacts, self.base_currency)
        self.payments = PaymentBook(self.invoices)
        self.credit_notes = CreditNoteBook(self.contacts, self.base_currency)
        self.repeating = RepeatingInvoiceBook(self.contacts, self.base_currency)
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        # seq stays monotonic across resets, so a poller's ``since`` never goes backwards
        self._log_base = getattr(self, "_log_base", 0) + len(getattr(self, "write_log", []))
        self.write_log: list[dict[str, Any]] = []
        self.writes_received = 0
        self.replays = 0
        self.limits.reset()

    def books(self) -> dict[str, Any]:
        return {"Contacts": self.contacts, "Quotes": self.quotes, "Invoices": self.invoices,
                "Payments": self.payments, "CreditNotes": self.credit_notes, "RepeatingInvoices": self.repeating}

    def export_state(self) -> dict[str, Any]:
        """Everything a restart must keep, JSON-ready (:mod:`connectors.xero.sandbox_snapshot`)."""
        from connectors.xero import sandbox_snapshot

        return sandbox_snapshot.export_state(self)

    def import_state(self, state: dict[str, Any]) -> None:
        """Replace this sandbox's state with one :meth:`export_state` gave."""
        from connectors.xero import sandbox_snapshot

        sandbox_snapshot.import_state(self, state)

    def seed(self) -> list[dict[str, Any]]:
        """Add a few demo contacts (the engine creates its own; the sandbox starts empty)."""
        demo = [{"Name": "Ridgeway Outfitters", "EmailAddress": "accounts@ridgeway.example", "ContactNumber": "DEMO-1"},
                {"Name": "Kestrel Analytics", "EmailAddress": "ap@kestrel.example", "ContactNumber": "DEMO-2"}]
        plans = [self.contacts.plan(item, {}) for item in demo if name_key(item["Name"]) not in self.contacts.by_name]
        return [apply() for apply in plans]

    def describe(self) -> dict[str, Any]:
        return {"profile": self.faults.profile, "tenant_id": self.tenant_id,
                "counts": {"contacts": len(self.contacts.records), "quotes": len(self.quotes.records),
                           "invoices": len(self.invoices.records)},
                "finance_counts": {"payments": len(self.payments.records),
                                   "credit_notes": len(self.credit_notes.records),
                                   "repeating_invoices": len(self.repeating.records)},
                "writes": self.writes_received, "replays": self.replays,
                "rate_limited": self.limits.rejected, "faults": self.faults.describe()["counts"]}

    # --- control routes ----------------------------------------------------------------------
    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.describe())

    async def _writes(self, request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return JSONResponse({"error": "since must be an integer"}, status_code=400)
        return _json(self.write_log[max(0, since - self._log_base):])

    async def _records(self, request: Request) -> Response:
        collection = request.path_params["collection"]
        if collection not in COLLECTIONS:
            return JSONResponse({"error": f"unknown collection; one of {', '.join(COLLECTIONS)}"}, status_code=404)
        return _json({collection: list(self.books()[collection].records.values())})

    async def _reset(self, request: Request) -> Response:
        self._reset_state()
        self.webhooks.clear()
        return JSONResponse(self.describe())

    # --- webhooks ----------------------------------------------------------------------------
    async def _webhooks_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                return JSONResponse(self.webhooks.configure(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.webhooks.describe())

    async def _webhooks_intent(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        target = body.get("target_url") if isinstance(body, dict) else None
        return JSONResponse(await self.webhooks.intent_probe(target))

    async def _webhooks_deliveries(self, request: Request) -> Response:
        return _json([d.describe() for d in self.webhooks.deliveries])

    def _emit(self, collection: str, created: set[str], records: list[dict]) -> None:
        """Queue one webhook delivery for the contacts/invoices a write created or updated."""
        category = {"Contacts": "CONTACT", "Invoices": "INVOICE"}.get(collection)
        if category is None:
            return
        id_field = "ContactID" if category == "CONTACT" else "InvoiceID"
        events = [self.webhooks.event(category, rec[id_field], "CREATE" if rec[id_field] in created else "UPDATE")
                  for rec in records if isinstance(rec, dict) and rec.get(id_field)
                  and rec.get("StatusAttributeString") != "ERROR"]
        self.webhooks.dispatch(events)

    # --- the vendor pipeline: auth, rate limits, injected faults, handler, faults after it -----
    def _vendor(self, handler: Callable, *, write: bool = False) -> Callable:
        async def endpoint(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {self.token}":
                state = self.identity.token_state(auth[7:]) if auth.startswith("Bearer ") else "unknown"
                if state == "expired":
                    return _problem(401, "Unauthorized", "TokenExpired: token expired")
                if state != "valid":
                    return _problem(401, "Unauthorized", "AuthenticationUnsuccessful")
            tenant = request.headers.get("xero-tenant-id", "")
            if tenant != self.tenant_id:
                return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
            problem, wait, headers = self.limits.enter(tenant, self.faults.profile == "vendor",
                                                       unthrottled=self.faults.profile == "unthrottled")
            if problem is not None:
                return rate_limited(wait, problem, headers)
            try:  # a slow (faulted) request holds its concurrency slot, as at Xero
                faulted = await self.faults.intercept(request, self._fault_429, unavailable)
                if faulted is not None:
                    for name, value in headers.items():
                        faulted.headers.setdefault(name, value)
                    return faulted
                response = await (self._write(request, handler) if write else handler(request))
                response = await self.faults.after(request, response, write=write)
            finally:
                self.limits.leave(tenant)
            response.headers.update(headers)
            return response

        return endpoint

    def _fault_429(self, retry_after: float) -> Response:
        return rate_limited(retry_after, "minute", RateLimits.headers(
            {"minute": 0, "day": DEMO_LIMITS["day"], "appminute": DEMO_LIMITS["appminute"]}))

    async def _write(self, request: Request, handler: Callable) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key") or None
        self.writes_received += 1
        stored = self._idempotency.get((self.tenant_id, key)) if key else None
        if stored is not None:
            self.replays += 1
            self._log(request, key, stored.status, replayed=True)
            return Response(stored.content, status_code=stored.status, media_type=stored.media_type)
        if key and len(key) > 128:
            status, body = 400, _validation_error([{"ValidationErrors": [
                {"Message": "The Idempotency-Key header must be 128 characters or fewer."}]}])
        else:
            try:
                payload = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                payload = None
            if not isinstance(payload, dict):
                status, body = 400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                     "Message": "Invalid Json data"}
            else:
                status, body = handler(request, payload)
        if isinstance(body, str):
            stored = _Stored(status, body.encode(), "text/plain")
        else:
            stored = _Stored(status, orjson.dumps(body), "application/json")
        if key and status < 500:
            self._idempotency[(self.tenant_id, key)] = stored
        self._log(request, key, status, replayed=False)
        return Response(stored.content, status_code=status, media_type=stored.media_type)

    def _log(self, request: Request, key: str | None, status: int, *, replayed: bool) -> None:
        self.write_log.append({
            "seq": self._log_base + len(self.write_log) + 1, "at": time.time(), "method": request.method,
            "path": request.scope["path"], "idempotency_key": key, "traceparent": request.headers.get("traceparent", ""),
            "status": status, "replayed": replayed,
        })

    # --- writes -------------------------------------------------------------------------------
    def _batch(self, collection: str, request: Request, payload: dict, plan: Callable) -> tuple[int, Any]:
        items = payload.get(collection)
        if not isinstance(items, list) or not items:
            return 400, _validation_error([{"ValidationErrors": [
                {"Message": f"The request body must contain a non-empty {collection} array."}]}])
        path_id = request.path_params.get("id")
        if path_id is not None and len(items) != 1:
            return 400, _validation_error([{"ValidationErrors": [
                {"Message": f"Exactly one element is expected when updating /{collection}/{path_id}."}]}])
        # (most writes carry no query string: Starlette's parsed QueryParams only when one is there)
        summarize = (not request.scope["query_string"]
                     or request.query_params.get("summarizeErrors", "true").lower() != "false")
        claims: dict = {}
        plans: list[Callable | None] = []
        failed: list[tuple[int, list[str]]] = []
        for i, item in enumerate(items):
            try:
                plans.append(plan(item, claims, path_id))
            except Missing:
                return 404, NOT_FOUND
            except Invalid as exc:
                plans.append(None)
                failed.append((i, exc.messages))
        if failed and summarize:
            errors = dict(failed)
            elements = []
            for i, item in enumerate(items):
                element = dict(item) if isinstance(item, dict) else {}
                element["ValidationErrors"] = [{"Message": m} for m in errors.get(i, [])]
                if collection == "Contacts":
                    element["HasValidationErrors"] = i in errors
                elements.append(element)
            return 400, _validation_error(elements)
        out = []
        records = self.books()[collection].records
        known = len(records)
        for i, apply in enumerate(plans):
            if apply is not None:
                out.append(apply())
            else:
                element = dict(items[i]) if isinstance(items[i], dict) else {}
                element.update(StatusAttributeString="ERROR", ValidationErrors=[
                    {"Message": m} for m in dict(failed)[i]])
                out.append(element)
        self._emit(collection, _added_since(records, known), out)
        return 200, _envelope(**{collection: out})

    def _write_contacts(self, request: Request, payload: dict) -> tuple[int, Any]:
        return self._batch("Contacts", request, payload, self.contacts.plan)

    def _write_quotes(self, request: Request, payload: dict) -> tuple[int, Any]:
        return self._batch("Quotes", request, payload, self.quotes.plan)

    def _write_invoices(self, request: Request, payload: dict) -> tuple[int, Any]:
        by_number = request.method == "POST"

        def plan(item: Any, claims: dict, path_id: str | None) -> Callable:
            return self.invoices.plan(item, claims, path_id, update_by_number=by_number)

        return self._batch("Invoices", request, payload, plan)

    def _write_payments(self, request: Request, payload: dict) -> tuple[int, Any]:
        status, body = self._batch("Payments", request, payload, self.payments.plan)
        if status == 200:  # a payment changes its invoice (AmountDue, Status): Xero notifies INVOICE UPDATE
            paid = [self.invoices.records[p["Invoice"]["InvoiceID"]] for p in body["Payments"]
                    if isinstance(p, dict) and p.get("PaymentID") and p.get("Invoice")]
            self._emit("Invoices", set(), list({r["InvoiceID"]: r for r in paid}.values()))
        return status, body

    def _write_credit_notes(self, request: Request, payload: dict) -> tuple[int, Any]:
        return self._batch("CreditNotes", request, payload, self.credit_notes.plan)

    def _write_repeating(self, request: Request, payload: dict) -> tuple[int, Any]:
        return self._batch("RepeatingInvoices", request, payload, self.repeating.plan)

    # --- reads --------------------------------------------------------------------------------
    def _get(self, collection: str) -> Callable:
        async def handler(request: Request) -> Response:
            rec = self.books()[collection].records.get(request.path_params["id"])
            if rec is None:
                return Response(NOT_FOUND, status_code=404, media_type="text/plain")
            return _json(_envelope(**{collection: [rec]}))

        return handler

    def _page(self, collection: str, request: Request, records: list[dict], paged_meta: bool) -> Response:
        book = self.books()[collection]
        since = parse_modified_since(request.headers.get("if-modified-since"))
        if since is not None:
            records = [r for r in records if book.updated.get(r[book.id_field], 0) >= since]
        page_param = request.query_params.get("page")
        if page_param is None:
            return _json(_envelope(**{collection: records}))
        try:
            page = max(1, int(page_param))
            size = min(1000, max(1, int(request.query_params.get("pageSize", PAGE_SIZE))))
        except ValueError:
            return _json({"ErrorNumber": 16, "Type": "QueryParseException",
                          "Message": "page and pageSize must be integers"}, 400)
        chunk = records[(page - 1) * size: page * size]
        extra = {}
        if paged_meta:
            extra["pagination"] = {"page": page, "pageSize": size, "pageCount": -(-len(records) // size),
                                   "itemCount": len(records)}
        return _json(_envelope(**extra, **{collection: chunk}))

    async def _list_contacts(self, request: Request) -> Response:
        where = request.query_params.get("where")
        records = list(self.contacts.records.values())
        if where:
            clauses = [_WHERE.match(part) for part in re.split(r"\s+AND\s+", where)]
            if not all(clauses):
                return _json({"ErrorNumber": 16, "Type": "QueryParseException",
                              "Message": f"The where clause is not supported by this sandbox: {where}"}, 400)
            for m in clauses:
                field, value = m.group(1), m.group(2)
                if field == "Name" and len(clauses) == 1:
                    cid = self.contacts.by_name.get(name_key(value))
                    records = [self.contacts.records[cid]] if cid else []
                else:
                    records = [r for r in records if str(r.get(field, "")) == value]
        return self._page("Contacts", request, records, paged_meta=True)

    def _list(self, collection: str) -> Callable:
        async def handler(request: Request) -> Response:
            records = list(self.books()[collection].records.values())
            status = request.query_params.get("Status") or request.query_params.get("Statuses")
            if status:
                wanted = {s.strip() for s in status.upper().split(",")}
                records = [r for r in records if r["Status"] in wanted]
            if collection == "Invoices":  # IDs, InvoiceNumbers, ContactIDs (getInvoices)
                try:
                    records = filter_invoices(records, request.query_params)
                except Invalid as exc:
                    return _json({"ErrorNumber": 16, "Type": "QueryParseException", "Message": str(exc)}, 400)
            paged = collection in ("Invoices", "Payments", "CreditNotes")
            return self._page(collection, request, records, paged_meta=paged)

        return handler

    async def _list_repeating(self, request: Request) -> Response:
        """GET /RepeatingInvoices: no paging at Xero; ``where`` supports ``Field=="value"`` clauses."""
        records = list(self.repeating.records.values())
        where = request.query_params.get("where")
        if where:
            clauses = [_WHERE.match(part) for part in re.split(r"\s+AND\s+", where)]
            if not all(clauses):
                return _json({"ErrorNumber": 16, "Type": "QueryParseException",
                              "Message": f"The where clause is not supported by this sandbox: {where}"}, 400)
            for m in clauses:
                records = [r for r in records if str(r.get(m.group(1), "")) == m.group(2)]
        return _json(_envelope(RepeatingInvoices=records))

    async def _aged_receivables(self, request: Request) -> Response:
        cid = request.query_params.get("contactId")
        contact = self.contacts.records.get(cid) if cid else None
        if contact is None:
            return _json(_validation_error([{"ValidationErrors": [
                {"Message": "A valid contactId must be supplied."}]}]), 400)
        try:
            as_of = parse_date(request.query_params["date"], "date") if request.query_params.get("date") else today()
        except Invalid as exc:
            return _json(_validation_error([{"ValidationErrors": [{"Message": m} for m in exc.messages]}]), 400)
        report = aged_receivables(self.invoices, contact, as_of, self.tenant_id)
        return _json(_envelope(Reports=[report]))

    async def _tax_rates(self, request: Request) -> Response:
        return _json(_envelope(TaxRates=render_tax_rates()))


__all__ = ["XeroSandbox", "rate_limited", "unavailable"]
