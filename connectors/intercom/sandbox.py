"""A faithful emulation of the Intercom 2.14 API subset the engine speaks, as a Starlette app.

Paths as at ``https://api.intercom.io``: ``POST/GET /companies`` (create-or-update by ``company_id``;
lookup by ``company_id`` or ``name``; cursor pagination with ``per_page``/``starting_after``),
``GET /companies/{id}``, ``GET /companies/scroll`` (``scroll_param``; 100 a page, one open scroll per app,
expiring after a minute unused or at its end), ``POST /contacts``, ``POST /contacts/search``,
``POST /events`` (202, no body), ``POST /tickets``, ``POST /tickets/search``, ``PUT /tickets/{id}``
(:mod:`connectors.intercom.sandbox_tickets`), ``POST /tags``. Errors are Intercom's ``error.list`` bodies: 401 ``unauthorized``
for a bad bearer token (without rate-limit headers, as Intercom), 404 ``company_not_found``, 400
``parameter_not_found``/``parameter_invalid``/``bad_request``, 409 for a duplicate contact, 429
``rate_limit_exceeded``, 5xx ``server_error``/``service_unavailable``.

Rate limits (developers.intercom.com, "Rate Limiting"): every authenticated answer carries
``X-RateLimit-Limit`` (requests allowed per 10-second window), ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (UNIX seconds of the next window). Intercom's default for an app is 10,000 calls
a minute, distributed over 10-second windows: ``ceil(10000 / 6) = 1667`` per window (their docs round
1,000/minute to 167 per window the same way). The ``vendor`` profile enforces that (fixed windows
aligned to 10 s); ``demo``, ``unthrottled`` and the fault profiles report a generous limit and never
enforce it. Control routes under ``/_sandbox/`` are never faulted and need no auth.

Webhooks (:mod:`connectors.intercom.delivery`): a change made through the API notifies the app's
subscription — ``company.created``/``company.updated`` (an upsert that changed the company),
``contact.user.created``/``contact.lead.created`` (and ``.updated``), ``ticket.created``,
``event.created`` — signed with ``X-Hub-Signature`` and retried as Intercom does.
``GET/POST /_sandbox/webhooks`` shows and sets the
subscription (``target_url``, ``secret``, ``topics``, ``retry_delays``, ``throttle_delays``);
``GET /_sandbox/webhooks/deliveries`` lists the notifications and their attempts.
``POST /_sandbox/tickets/{id}`` ``{"created_at": ...}`` ages a ticket (for tests and the demo).
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
import zlib
from typing import Any, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.intercom.delivery import DEFAULT_SECRET, IntercomWebhookDispatcher
from connectors.sandbox import Faults, faults_endpoint

from connectors.intercom.sandbox_wire import (  # noqa: F401 (re-exported: the sandbox's wire)
    APP_ID, COLLECTIONS, COMPANY_FIELDS, CONTACT_FIELDS, DEFAULT_PER_PAGE, DEMO_LIMIT, EVENT_FIELDS, MAX_PER_PAGE, RateWindow, SCROLL_IDLE_S, SCROLL_PAGE_SIZE, TICKET_TYPES, VENDOR_LIMIT, VENDOR_LIMIT_PER_MINUTE, WINDOW_S, _decode_cursor, _encode_cursor, _error, _hex_id, _json, error_body, rate_limit_headers, rate_limited, unavailable,
)
from connectors.intercom.sandbox_people import PeopleRoutes, _predicate  # noqa: F401
from connectors.intercom.sandbox_tickets import TicketRoutes


class IntercomSandbox(PeopleRoutes, TicketRoutes):
    """In-memory Intercom workspace served as a Starlette app (``.app``)."""

    def __init__(self, *, token: str = "sandbox-intercom-token", profile: str = "demo",
                 webhook_secret: str = DEFAULT_SECRET) -> None:
        self.token = token
        self.webhooks = IntercomWebhookDispatcher(app_id=APP_ID, secret=webhook_secret)
        self.faults = Faults()
        self.faults.configure({"profile": profile})
        self.window = RateWindow()
        self._reset_state()
        v = self._vendor
        routes = [
            Route("/_sandbox/faults", faults_endpoint(self.faults), methods=["GET", "POST"]),
            Route("/_sandbox/state", self._state, methods=["GET"]),
            Route("/_sandbox/records/{collection}", self._records, methods=["GET"]),
            Route("/_sandbox/reset", self._reset, methods=["POST"]),
            Route("/_sandbox/webhooks", self._webhooks_config, methods=["GET", "POST"]),
            Route("/_sandbox/webhooks/deliveries", self._webhooks_deliveries, methods=["GET"]),
            Route("/_sandbox/tickets/{id}", self._ctl_ticket, methods=["POST"]),
            Route("/companies", v(self._upsert_company), methods=["POST"]),
            Route("/companies", v(self._list_companies), methods=["GET"]),
            Route("/companies/scroll", v(self._scroll_companies), methods=["GET"]),
            Route("/companies/{id}", v(self._get_company), methods=["GET"]),
            Route("/contacts", v(self._create_contact), methods=["POST"]),
            Route("/contacts/search", v(self._search_contacts), methods=["POST"]),
            Route("/contacts/{id}", v(self._get_contact), methods=["GET"]),
            Route("/contacts/{id}", v(self._update_contact), methods=["PUT"]),
            Route("/contacts/{id}/companies", v(self._attach_company), methods=["POST"]),
            Route("/events", v(self._create_event), methods=["POST"]),
            Route("/tickets", v(self._create_ticket), methods=["POST"]),
            Route("/tickets/search", v(self._search_tickets), methods=["POST"]),
            Route("/tickets/{id}", v(self._update_ticket), methods=["PUT"]),
            Route("/tags", v(self._tags), methods=["POST"]),
        ]
        self.app = Starlette(routes=routes, lifespan=self._lifespan)
        self.app.state.sandbox = self

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        yield
        await self.webhooks.aclose()

    # --- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.companies: dict[str, dict] = {}
        self.company_ids: dict[str, str] = {}  # company_id -> id
        self.contacts: dict[str, dict] = {}
        self.events: list[dict] = []
        self.tickets: dict[str, dict] = {}
        self.tags: dict[str, dict] = {}  # lower-cased name -> tag
        self._ticket_seq = 0
        self.window.reset()
        self._scroll: dict[str, Any] | None = None  # the app's one open scroll
        self.scroll_page_size = SCROLL_PAGE_SIZE

    _STATE = ("companies", "company_ids", "contacts", "events", "tickets", "tags")

    def export_state(self) -> dict[str, Any]:
        """Every collection, the ticket sequence and the webhook subscription with its delivery log,
        JSON-ready (:mod:`connectors.sandbox_state`)."""
        return {**{name: getattr(self, name) for name in self._STATE}, "ticket_seq": self._ticket_seq,
                "webhooks": self.webhooks.export_state()}

    def import_state(self, state: dict[str, Any]) -> None:
        """Replace this workspace's state with one :meth:`export_state` gave (rate window afresh)."""
        fresh = {name: state[name] for name in self._STATE}
        for name, value in fresh.items():
            if not isinstance(value, list if name == "events" else dict):
                raise ValueError(f"{name} must be a {'list' if name == 'events' else 'object'}")
        ticket_seq = int(state["ticket_seq"])
        self._reset_state()
        for name, value in fresh.items():
            setattr(self, name, value)
        self._ticket_seq = ticket_seq
        self.webhooks.clear()
        if "webhooks" in state:  # a snapshot saved before the sandbox had webhooks has none
            self.webhooks.import_state(state["webhooks"])

    def seed(self) -> list[dict[str, Any]]:
        """Add two demo companies (the engine creates its own; the sandbox starts empty)."""
        demo = [{"company_id": "DEMO-1", "name": "Ridgeway Outfitters", "plan": "Growth",
                 "custom_attributes": {"health_score": 82, "onboarding_stage": "live"}},
                {"company_id": "DEMO-2", "name": "Kestrel Analytics", "plan": "Enterprise",
                 "custom_attributes": {"health_score": 64, "financial_risk": False}}]
        return [self.upsert_company(item)[1] for item in demo if item["company_id"] not in self.company_ids]

    def describe(self) -> dict[str, Any]:
        return {"profile": self.faults.profile,
                "counts": {name: len(self._collection(name)) for name in COLLECTIONS},
                "rate_limited": self.window.rejected, "faults": self.faults.describe()["counts"],
                "webhooks": self.webhooks.state_counts()}

    def _collection(self, name: str) -> list[dict]:
        store = {"companies": self.companies, "contacts": self.contacts, "tickets": self.tickets,
                 "tags": self.tags}.get(name)
        return list(store.values()) if store is not None else list(self.events)

    # --- control routes ----------------------------------------------------------------------
    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.describe())

    async def _records(self, request: Request) -> Response:
        collection = request.path_params["collection"]
        if collection not in COLLECTIONS:
            return JSONResponse({"error": f"unknown collection; one of {', '.join(COLLECTIONS)}"}, status_code=404)
        return _json({collection: self._collection(collection)})

    async def _reset(self, request: Request) -> Response:
        self._reset_state()
        self.webhooks.clear()  # the delivery log; the subscription stays
        return JSONResponse(self.describe())

    async def _webhooks_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = orjson.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                return JSONResponse(self.webhooks.configure(body))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.webhooks.describe())

    async def _webhooks_deliveries(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", 100))
        recent = self.webhooks.deliveries[-limit:] if limit > 0 else []
        return _json({"deliveries": [d.describe() for d in recent], "counts": self.webhooks.state_counts()})

    # --- the vendor pipeline: auth, rate limit, injected faults, handler ------------------------
    def _vendor(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            if request.headers.get("authorization", "") != f"Bearer {self.token}":
                return _error(401, "unauthorized", "Access Token Invalid")
            version = request.headers.get("intercom-version")
            if version is not None and version not in ("2.14", "Unstable"):
                return _error(400, "intercom_version_invalid",
                              f"Requested resource is not available in current API version: {version}")
            allowed, limit, remaining, reset = self.window.hit(self.faults.profile == "vendor")
            if not allowed:
                return rate_limited(limit, reset)
            headers = rate_limit_headers(limit, remaining, reset)
            faulted = await self.faults.intercept(request, self._fault_429, unavailable)
            if faulted is not None:
                for name, value in headers.items():
                    faulted.headers.setdefault(name, value)
                return faulted
            body: Any = None
            if request.method in ("POST", "PUT"):
                raw = await request.body()
                try:
                    body = orjson.loads(raw) if raw else None
                except orjson.JSONDecodeError:
                    return _error(400, "parameter_invalid", "Invalid JSON body")
                if not isinstance(body, dict):
                    return _error(400, "parameter_invalid", "The request body must be a JSON object")
            response = await handler(request, body)
            response = await self.faults.after(request, response)  # malformed, commit_then_timeout
            response.headers.update(headers)
            return response

        return endpoint

    def _fault_429(self, retry_after: float) -> Response:
        limit = VENDOR_LIMIT if self.faults.profile == "vendor" else DEMO_LIMIT
        return rate_limited(limit, math.ceil(time.time() + retry_after))

    # --- companies -----------------------------------------------------------------------------
    def upsert_company(self, payload: dict) -> tuple[int, dict]:
        """Create or update by ``company_id``: (status, company or error body)."""
        unknown = sorted(set(payload) - COMPANY_FIELDS)
        if unknown:
            return 400, error_body("bad_request", f"bad '{unknown[0]}' parameter")
        company_id = payload.get("company_id")
        if not isinstance(company_id, str) or not company_id:
            return 400, error_body("parameter_not_found", "company_id not specified", "company_id")
        for key in ("size", "remote_created_at", "monthly_spend"):
            if key in payload and payload[key] is not None and not isinstance(payload[key], (int, float)):
                return 400, error_body("parameter_invalid", f"{key} must be an integer", key)
        attrs = payload.get("custom_attributes")
        if attrs is not None:
            if not isinstance(attrs, dict):
                return 400, error_body("parameter_invalid", "custom_attributes must be an object",
                                       "custom_attributes")
            for key, value in attrs.items():
                if isinstance(value, (dict, list)):
                    return 400, error_body("parameter_invalid",
                                           f"Custom attribute '{key}' must be a string, number, boolean or null",
                                           "custom_attributes")
        now = int(time.time())
        existing_id = self.company_ids.get(company_id)
        company = self.companies.get(existing_id) if existing_id else None
        if company is None:
            company = {"type": "company", "company_id": company_id, "id": _hex_id(), "app_id": APP_ID,
                       "name": payload.get("name") or "", "remote_created_at": 0, "created_at": now,
                       "updated_at": now, "last_request_at": 0, "monthly_spend": 0, "session_count": 0,
                       "user_count": 0, "size": 0, "tags": {"type": "tag.list", "tags": []},
                       "segments": {"type": "segment.list", "segments": []}, "plan": {},
                       "custom_attributes": {}}
            self.companies[company["id"]] = company
            self.company_ids[company_id] = company["id"]
        for key in ("name", "website", "industry"):
            if payload.get(key) is not None:
                company[key] = str(payload[key])
        for key in ("size", "remote_created_at", "monthly_spend"):
            if payload.get(key) is not None:
                company[key] = int(payload[key])
        if payload.get("plan"):
            company["plan"] = {"type": "plan", "id": str(zlib.crc32(str(payload["plan"]).encode()) % 1_000_000),
                               "name": str(payload["plan"])}
        if attrs:
            company["custom_attributes"].update(attrs)
        company["updated_at"] = now
        return 200, company

    async def _upsert_company(self, request: Request, body: dict) -> Response:
        existing_id = self.company_ids.get(body.get("company_id")) if isinstance(body.get("company_id"), str) else None
        before = orjson.dumps({**self.companies[existing_id], "updated_at": None}) if existing_id else None
        status, out = self.upsert_company(body)
        if status == 200:
            if before is None:
                self.webhooks.notify("company.created", out)
            elif orjson.dumps({**out, "updated_at": None}) != before:  # an upsert that changed nothing is silent
                self.webhooks.notify("company.updated", out)
        return _json(out, status)

    async def _scroll_companies(self, request: Request, body: Any) -> Response:
        """``GET /companies/scroll``: the first call opens the app's one scroll over a snapshot of the
        companies; each answer names the ``scroll_param`` for the next; an empty page ends it. (Intercom
        documents no error bodies for this operation: the 400s here are the sandbox's own.)"""
        now = time.monotonic()
        scroll = self._scroll
        if scroll is not None and (scroll["done"] or now - scroll["used_at"] > SCROLL_IDLE_S):
            scroll = self._scroll = None  # ended or expired
        param = request.query_params.get("scroll_param")
        if param:
            if scroll is None or scroll["param"] != param:
                return _error(400, "parameter_invalid", "scroll_param is unknown or has expired: start a new scroll",
                              "scroll_param")
        elif scroll is not None:
            return _error(400, "scroll_exists", "Only one scroll may be open per app at a time")
        else:
            scroll = self._scroll = {"param": str(uuid.uuid4()), "ids": list(self.companies), "offset": 0,
                                     "done": False, "used_at": now}
        start = scroll["offset"]
        chunk = [self.companies[i] for i in scroll["ids"][start:start + self.scroll_page_size] if i in self.companies]
        scroll["offset"] = start + self.scroll_page_size
        scroll["used_at"] = now
        scroll["done"] = start >= len(scroll["ids"])
        return _json({"type": "list", "data": chunk, "pages": None, "total_count": None,
                      "scroll_param": scroll["param"]})

    async def _get_company(self, request: Request, body: Any) -> Response:
        company = self.companies.get(request.path_params["id"])
        if company is None:
            return _error(404, "company_not_found", "Company Not Found")
        return _json(company)

    async def _list_companies(self, request: Request, body: Any) -> Response:
        q = request.query_params
        records = list(self.companies.values())
        if q.get("company_id") is not None or q.get("name") is not None:
            if q.get("company_id") is not None:
                cid = self.company_ids.get(q["company_id"])
                records = [self.companies[cid]] if cid else []
            if q.get("name") is not None:
                records = [r for r in records if r.get("name") == q["name"]]
            if not records:
                return _error(404, "company_not_found", "Company Not Found")
        if q.get("tag_id"):
            records = [r for r in records if any(t["id"] == q["tag_id"] for t in r["tags"]["tags"])]
        return self._page(request, records)

    def _page(self, request: Request, records: list[dict], pagination: dict | None = None) -> Response:
        q = request.query_params
        pagination = pagination or {}
        try:
            per_page = int(pagination.get("per_page") or q.get("per_page") or DEFAULT_PER_PAGE)
            page = int(q.get("page") or 1)
        except (TypeError, ValueError):
            return _error(400, "parameter_invalid", "per_page and page must be integers", "per_page")
        if not 1 <= per_page <= MAX_PER_PAGE:
            return _error(400, "parameter_invalid", f"per_page must be between 1 and {MAX_PER_PAGE}", "per_page")
        cursor = pagination.get("starting_after") or q.get("starting_after")
        if cursor:
            offset = _decode_cursor(str(cursor))
            if offset is None:
                return _error(400, "parameter_invalid", "Invalid starting_after value", "starting_after")
        else:
            offset = (max(1, page) - 1) * per_page
        chunk = records[offset: offset + per_page]
        total_pages = max(1, math.ceil(len(records) / per_page))
        pages: dict[str, Any] = {"type": "pages", "page": offset // per_page + 1, "per_page": per_page,
                                 "total_pages": total_pages}
        if offset + per_page < len(records):
            pages["next"] = {"per_page": per_page, "starting_after": _encode_cursor(offset + per_page)}
        return _json({"type": "list", "data": chunk, "total_count": len(records), "pages": pages})

__all__ = ["DEMO_LIMIT", "VENDOR_LIMIT", "IntercomSandbox", "error_body", "rate_limited", "unavailable"]
