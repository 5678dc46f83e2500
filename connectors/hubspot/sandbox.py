"""The HubSpot CRM v3 sandbox: a Starlette app, in memory, faithful to the subset the connector uses.

Vendor routes (bearer token, rate-limit headers on every answer, HubSpot's error bodies)::

    GET   /crm/v3/objects/{type}                      list, ``after`` paging, ``archived``
    POST  /crm/v3/objects/{type}                      create, ``properties`` + ``associations`` (sandbox_create)
    GET   /crm/v3/objects/{type}/{id}                 ``properties``, ``associations``, ``archived``, ``idProperty``
    PATCH /crm/v3/objects/{type}/{id}                 ``{"properties": {...}}``
    POST  /crm/v3/objects/{type}/batch/read           ``{"inputs": [{"id"}], "properties": [...]}`` (207 on missing ids)
    POST  /crm/v3/objects/{type}/batch/upsert         ``{"inputs": [{"idProperty", "id", "properties"}]}``; the id
                                                      property must be a unique-value one (400 otherwise)
    POST  /crm/v3/objects/{type}/search               filterGroups, sorts, ``after`` offsets
    POST  /crm/v3/objects/{type}/merge                ``{"primaryObjectId", "objectIdToMerge"}`` (companies, contacts,
                                                      deals): the primary, the other archived as its alias; ``*.merge``
    DELETE /crm/v3/objects/{type}/{id}                archive (204); fires ``*.deletion``
    GET   /crm/v4/objects/{from}/{id}/associations/{to}

Control routes under ``/_sandbox/`` (no auth, never faulted): faults, webhooks, quotes/{id}/approve
(``?deliver=false`` withholds the webhook; ``?at=<epoch ms | ISO datetime>`` backdates the approval:
``hs_lastmodifieddate`` and the event's ``occurredAt``, a sandbox control with no HubSpot equivalent),
objects/{type}/{id}/restore (the recycle bin: fires ``*.restore``),
approve, seed, bulk-quotes, state, deliveries, reset. Profile ``vendor`` enforces HubSpot's 100
requests per 10 s per token; ``demo`` counts against a generous limit; ``unthrottled`` counts nothing.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator


from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.hubspot import seed as seeding
from connectors.hubspot.delivery import WebhookDispatcher
from connectors.hubspot.sandbox_controls import ControlRoutes
from connectors.hubspot.sandbox_wire import JSONResponse, hubspot_error, render_429, render_5xx
from connectors.hubspot.sandbox_create import CreateRoutes
from connectors.hubspot.store import (
    ASSOCIATION_TYPE_IDS, OBJECT_TYPE_IDS, QUOTE_STATUSES, CrmStore, StoreError, iso, object_type,
)
from connectors.sandbox import Faults, SlidingWindow, faults_endpoint, serve_in_thread

VENDOR_LIMIT = 100
DEMO_LIMIT = 10_000
INTERVAL_MS = 10_000
DAILY_LIMIT = 500_000
AUTH_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")


class _FixedWindow:
    """A cheap per-key counter over fixed windows: the demo profile counts and reports, never refuses."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> tuple[bool, int, float]:
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        self._windows[key] = (start, count + 1)
        return True, max(0, self.limit - count - 1), 0.0


def _csv(request: Request, name: str) -> list[str]:
    return [p for v in request.query_params.getlist(name) for p in v.split(",") if p.strip()]


def _flag(value: str | None) -> bool:
    return str(value).lower() == "true"


class HubSpotSandbox(CreateRoutes, ControlRoutes):
    """In-memory HubSpot with webhooks; ``.app`` is the Starlette app."""

    def __init__(self, *, token: str = "sandbox-hubspot-token", webhook_secret: str = "sandbox-hubspot-secret",
                 portal_id: int = 62515, app_id: int = 1160452, profile: str = "demo") -> None:
        self.token = token
        self.portal_id = portal_id
        self.store = CrmStore()
        self.faults = Faults()
        self.faults.configure({"profile": profile})
        self.webhooks = WebhookDispatcher(secret=webhook_secret, portal_id=portal_id, app_id=app_id)
        self._rng = random.Random(7)
        self._base_ms = seeding.BASE_MS
        self._windows = {VENDOR_LIMIT: SlidingWindow(VENDOR_LIMIT, INTERVAL_MS / 1000),
                         DEMO_LIMIT: _FixedWindow(DEMO_LIMIT, INTERVAL_MS / 1000)}
        self._daily: dict[tuple[str, int], int] = {}
        v = self._vendor
        self.app = Starlette(routes=[
            Route("/crm/v3/objects/{type}/search", v(self._search), methods=["POST"]),
            Route("/crm/v3/objects/{type}/batch/read", v(self._batch_read), methods=["POST"]),
            Route("/crm/v3/objects/{type}/batch/upsert", v(self._batch_upsert), methods=["POST"]),
            Route("/crm/v3/objects/{type}/merge", v(self._merge), methods=["POST"]),
            Route("/crm/v3/objects/{type}/{id}", v(self._get), methods=["GET"]),
            Route("/crm/v3/objects/{type}/{id}", v(self._patch), methods=["PATCH"]),
            Route("/crm/v3/objects/{type}/{id}", v(self._archive), methods=["DELETE"]),
            Route("/crm/v3/objects/{type}", v(self._list), methods=["GET"]),
            Route("/crm/v3/objects/{type}", v(self._create), methods=["POST"]),
            Route("/crm/v4/objects/{type}/{id}/associations/{to}", v(self._associations), methods=["GET"]),
            Route("/_sandbox/faults", faults_endpoint(self.faults), methods=["GET", "POST"]),
            Route("/_sandbox/webhooks", self._ctl_webhooks, methods=["GET", "POST"]),
            Route("/_sandbox/quotes/{id}/approve", self._ctl_approve_one, methods=["POST"]),
            Route("/_sandbox/objects/{type}/{id}/restore", self._ctl_restore, methods=["POST"]),
            Route("/_sandbox/approve", self._ctl_approve, methods=["POST"]),
            Route("/_sandbox/seed", self._ctl_seed, methods=["POST"]),
            Route("/_sandbox/bulk-quotes", self._ctl_bulk, methods=["POST"]),
            Route("/_sandbox/state", self._ctl_state, methods=["GET"]),
            Route("/_sandbox/deliveries", self._ctl_deliveries, methods=["GET"]),
            Route("/_sandbox/reset", self._ctl_reset, methods=["POST"]),
        ], lifespan=self._lifespan)

    # --- Python API (the Connector contract, tests, the demo) --------------------------------
    @property
    def target_url(self) -> str | None:
        return self.webhooks.target_url

    @target_url.setter
    def target_url(self, url: str | None) -> None:
        self.webhooks.target_url = url

    def seed(self, companies: int = 50, *, scenario: bool = True, seed: int = 7, base_ms: int | None = None) -> dict:
        """Replace the data with a deterministic seed; return counts and the scenario's ids.

        ``base_ms``: the time seeded records are dated back from (default: a fixed date)."""
        self.reset()
        self._base_ms = base_ms or seeding.BASE_MS
        self._rng = seeding.seed(self.store, companies=companies, scenario=scenario, seed=seed, base_ms=self._base_ms)
        return {"companies": len(self.store.objects["companies"]), "quotes": len(self.store.objects["quotes"]),
                "scenario": self.scenario_ids()}

    def scenario_ids(self) -> dict:
        return seeding.scenario_ids(self.store)

    def reset(self) -> None:
        self.store = CrmStore()
        self.webhooks.clear()
        self._windows = {k: type(w)(w.limit, w.window_s) for k, w in self._windows.items()}

    def export_state(self) -> dict:
        """Everything a restart must keep (records, associations, id counters, the webhook target,
        the event-id counter and the delivery log), JSON-ready; :mod:`connectors.sandbox_state`."""
        version, internal, gauss = self._rng.getstate()
        return {"store": self.store.export_state(), "webhooks": self.webhooks.export_state(),
                "base_ms": self._base_ms, "rng": [version, list(internal), gauss]}

    def import_state(self, state: dict) -> None:
        """Replace this sandbox's state with one :meth:`export_state` gave (rate windows start afresh)."""
        store = CrmStore()
        store.import_state(state["store"])
        rng = random.Random()
        version, internal, gauss = state["rng"]
        rng.setstate((version, tuple(internal), gauss))
        self.webhooks.clear()
        self.webhooks.import_state(state["webhooks"])
        self.store, self._rng, self._base_ms = store, rng, int(state["base_ms"])

    def set_status(self, quote_id: str, status: str, *, deliver: bool = True, source: str = "CRM_UI",
                   at: int | str | None = None) -> list[dict]:
        """Change a quote's hs_status; a change fires a propertyChange event (inside the server loop).

        ``at`` (a sandbox control, not HubSpot behaviour: a real portal stamps the change with the time
        it happens): when the change happened, as epoch milliseconds or an ISO 8601 datetime (UTC when
        it names no offset); it becomes the quote's ``hs_lastmodifieddate`` and the event's
        ``occurredAt``, so a demo or test can have a quote approved, say, 40 days ago. Default: now.
        ValueError for a value that is neither."""
        rec = self.store.get("quotes", quote_id)
        if rec["properties"].get("hs_status") == status:
            return []
        if at is None or at == "":
            now = int(time.time() * 1000)
        elif isinstance(at, int) or str(at).isdigit():
            now = int(at)
        else:
            from datetime import datetime, timezone

            try:
                when = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"at must be epoch milliseconds or an ISO 8601 datetime, not {at!r}") from None
            now = int((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp() * 1000)
        self.store.update("quotes", quote_id, {"hs_status": status}, at_ms=now)
        event = self.webhooks.property_change("0-14", quote_id, "hs_status", status, occurred_ms=now, source=source)
        if deliver:
            self.webhooks.dispatch([event])
        return [event]

    @contextlib.contextmanager
    def serving(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on loopback in a thread; yield the base URL."""
        server, thread, url = serve_in_thread(self.app, host, port)
        try:
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        yield
        await self.webhooks.aclose()

    # --- the vendor pipeline: faults, auth, rate limit, errors --------------------------------
    def _rate(self, token: str) -> tuple[bool, dict[str, str], float]:
        day = int(time.time() // 86_400)
        used = self._daily.get((token, day), 0)
        profile = self.faults.profile
        if profile == "unthrottled":
            limit, allowed, remaining, wait = DEMO_LIMIT, True, DEMO_LIMIT, 0.0
        else:
            limit = VENDOR_LIMIT if profile == "vendor" else DEMO_LIMIT
            allowed, remaining, wait = self._windows[limit].hit(token)
        if allowed:
            self._daily[(token, day)] = used = used + 1
        headers = {
            "X-HubSpot-RateLimit-Daily": str(DAILY_LIMIT),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, DAILY_LIMIT - used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
        }
        return allowed, headers, wait

    def _vendor(self, handler):
        async def endpoint(request: Request) -> Response:
            faulted = await self.faults.intercept(request, render_429, render_5xx)
            if faulted is not None:
                return faulted
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            if token != self.token:
                return hubspot_error(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")
            allowed, headers, wait = self._rate(token)
            if not allowed:
                response = render_429(wait)
            else:
                try:
                    response = await handler(request, object_type(request.path_params["type"]))
                except StoreError as exc:
                    response = hubspot_error(exc.status, exc.message, exc.category)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    response = hubspot_error(400, f"Invalid input JSON on line 1: {exc}", "VALIDATION_ERROR")
                response = await self.faults.after(request, response)  # malformed, commit_then_timeout
            response.headers.update(headers)
            return response

        return endpoint

    # --- vendor handlers ------------------------------------------------------------------------
    async def _list(self, request: Request, type_: str) -> Response:
        limit = int(request.query_params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise StoreError(400, "VALIDATION_ERROR", f"limit must be between 1 and 100, got {limit}")
        page, after = self.store.page(type_, after=request.query_params.get("after"), limit=limit,
                                      archived=_flag(request.query_params.get("archived")))
        props, assoc = _csv(request, "properties"), _csv(request, "associations")
        body: dict = {"results": [self.store.render(type_, r, props, assoc) for r in page]}
        if after:
            body["paging"] = {"next": {"after": after, "link": str(request.url.include_query_params(after=after))}}
        return JSONResponse(body)

    def _find(self, request: Request, type_: str) -> dict:
        rid, id_prop = request.path_params["id"], request.query_params.get("idProperty")
        archived = _flag(request.query_params.get("archived"))
        if id_prop and id_prop != "hs_object_id":
            for rec in self.store.objects[type_].values():
                if rec["properties"].get(id_prop) == rid and rec["archived"] == archived:
                    return rec
            raise StoreError(404, "OBJECT_NOT_FOUND", "resource not found")
        return self.store.get(type_, rid, archived=archived)

    async def _get(self, request: Request, type_: str) -> Response:
        rec = self._find(request, type_)
        return JSONResponse(self.store.render(type_, rec, _csv(request, "properties"), _csv(request, "associations")))

    async def _patch(self, request: Request, type_: str) -> Response:
        rec = self._find(request, type_)
        props = (await request.json())["properties"]
        self.store.check_properties(type_, props)
        for name, value in props.items():
            if type_ == "quotes" and name == "hs_status" and value not in QUOTE_STATUSES:
                raise StoreError(400, "VALIDATION_ERROR", f'Property values were not valid: [{{"isValid":false,"message":"{value} was not one of the allowed options","error":"INVALID_OPTION","name":"hs_status"}}]')
        status = props.get("hs_status") if type_ == "quotes" else None
        if status:
            self.set_status(rec["id"], status, source="INTEGRATION")
        now = int(time.time() * 1000)
        changed = {k: v for k, v in props.items() if rec["properties"].get(k) != (None if v is None else str(v))}
        rec = self.store.update(type_, rec["id"], props, at_ms=now)
        if type_ in ("companies", "contacts") and changed:  # subscribed properties fire propertyChange
            self.webhooks.dispatch([
                self.webhooks.property_change(OBJECT_TYPE_IDS[type_], rec["id"], name, "" if value is None else str(value),
                                              occurred_ms=now, source="INTEGRATION")
                for name, value in changed.items()])
        return JSONResponse(self.store.render(type_, rec, list(props)))

    async def _batch_read(self, request: Request, type_: str) -> Response:
        body = await request.json()
        inputs = body["inputs"]
        if len(inputs) > 100:
            raise StoreError(400, "VALIDATION_ERROR", f"Batch input is limited to 100 inputs, got {len(inputs)}")
        started = iso(int(time.time() * 1000))
        results, missing = [], []
        for item in inputs:
            rec = self.store.objects[type_].get(str(item["id"]))
            if rec is None or rec["archived"] != bool(body.get("archived", False)):
                missing.append(str(item["id"]))
            else:
                results.append(self.store.render(type_, rec, body.get("properties") or None))
        out: dict = {"status": "COMPLETE", "results": results}
        if missing:
            kind = type_.rstrip("s").upper() if type_ != "companies" else "COMPANY"
            out["numErrors"] = 1
            out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                              "message": f"Could not get some {kind} objects, they may be deleted or not exist. Check that ids are valid.",
                              "context": {"ids": missing}}]
        out["startedAt"], out["completedAt"] = started, iso(int(time.time() * 1000))
        return JSONResponse(out, status_code=207 if missing else 200)

    async def _batch_upsert(self, request: Request, type_: str) -> Response:
        body = await request.json()
        inputs = body["inputs"]
        unique = self.store.unique_properties(type_)
        for item in inputs:
            prop = item.get("idProperty")
            if prop and prop not in unique:
                raise StoreError(400, "VALIDATION_ERROR", f"Unable to perform update/upsert by non-unique "
                                 f"{OBJECT_TYPE_IDS[type_]} property {prop} in portal ID {self.portal_id}")
        started = iso(int(time.time() * 1000))
        done = self.store.upsert(type_, inputs, at_ms=int(time.time() * 1000))
        results = []
        for (rec, created), item in zip(done, inputs):
            rendered = self.store.render(type_, rec, list(item.get("properties") or {}) + [item["idProperty"]])
            results.append({**rendered, "new": created})
        return JSONResponse({"status": "COMPLETE", "results": results, "startedAt": started,
                             "completedAt": iso(int(time.time() * 1000))})

    async def _search(self, request: Request, type_: str) -> Response:
        body = await request.json()
        page, total, next_after = self.store.search(type_, body)
        props = body.get("properties") or None
        out: dict = {"total": total, "results": [self.store.render(type_, r, props) for r in page]}
        if next_after is not None:
            out["paging"] = {"next": {"after": str(next_after)}}
        return JSONResponse(out)

    async def _associations(self, request: Request, type_: str) -> Response:
        to_type = object_type(request.path_params["to"])
        ids = self.store.associated(type_, request.path_params["id"], to_type)
        limit = int(request.query_params.get("limit", 500))
        start = int(request.query_params.get("after") or 0)
        type_id = ASSOCIATION_TYPE_IDS.get((type_, to_type), 0)
        out: dict = {"results": [{"toObjectId": int(i), "associationTypes": [
            {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]} for i in ids[start:start + limit]]}
        if start + limit < len(ids):
            nxt = str(start + limit)
            out["paging"] = {"next": {"after": nxt, "link": str(request.url.include_query_params(after=nxt))}}
        return JSONResponse(out)

    async def _merge(self, request: Request, type_: str) -> Response:
        """POST /crm/v3/objects/{type}/merge: answer the merged (primary) record; fire ``*.merge``."""
        body = await request.json()
        primary, to_merge = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if primary in (None, "") or to_merge in (None, ""):
            raise StoreError(400, "VALIDATION_ERROR",
                             "Invalid input JSON on line 1: primaryObjectId and objectIdToMerge are required")
        now = int(time.time() * 1000)
        rec, merged, moved = self.store.merge(type_, str(primary), str(to_merge), at_ms=now)
        self.webhooks.dispatch([self.webhooks.merge(OBJECT_TYPE_IDS[type_], rec["id"], [merged["id"]], moved=moved,
                                                    occurred_ms=now, source="INTEGRATION")])
        return JSONResponse(self.store.render(type_, rec))

    async def _archive(self, request: Request, type_: str) -> Response:
        """DELETE /crm/v3/objects/{type}/{id}: archive, 204; fire ``*.deletion`` (not again when already archived)."""
        now = int(time.time() * 1000)
        rec = self.store.archive(type_, request.path_params["id"], at_ms=now)
        if rec is not None:
            self.webhooks.dispatch([self.webhooks.deletion(OBJECT_TYPE_IDS[type_], rec["id"], occurred_ms=now,
                                                           source="INTEGRATION")])
        return Response(status_code=204)


__all__ = ["HubSpotSandbox", "OBJECT_TYPE_IDS", "hubspot_error", "render_429", "render_5xx"]
