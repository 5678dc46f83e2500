"""The HubSpot sandbox's control routes (``/_sandbox/...``: approve quotes, seed, state, deliveries,
reset, restore), mixed into :class:`connectors.hubspot.sandbox.HubSpotSandbox`, which owns the state.
Not HubSpot's API: how tests, the demo and ``opsconsole sandbox serve`` drive the sandbox."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from connectors.hubspot import seed as seeding
from connectors.hubspot.sandbox_wire import JSONResponse, hubspot_error
from connectors.hubspot.store import OBJECT_TYPE_IDS, StoreError, object_type


class ControlRoutes:
    # --- control routes ---------------------------------------------------------------------------
    async def _ctl_restore(self, request: Request) -> Response:
        try:
            type_ = object_type(request.path_params["type"])
            now = int(time.time() * 1000)
            rec = self.store.restore(type_, request.path_params["id"], at_ms=now)
        except StoreError as exc:
            return hubspot_error(exc.status, exc.message, exc.category)
        event = self.webhooks.restore(OBJECT_TYPE_IDS[type_], rec["id"], occurred_ms=now)
        if request.query_params.get("deliver", "true") != "false":
            self.webhooks.dispatch([event])
        return JSONResponse({"record": self.store.render(type_, rec), "event_ids": [event["eventId"]]})

    async def _ctl_webhooks(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.webhooks.describe())
        return JSONResponse(self.webhooks.configure(await request.json()))

    async def _ctl_approve_one(self, request: Request) -> Response:
        qid = request.path_params["id"]
        try:
            events = self.set_status(qid, "APPROVED", deliver=request.query_params.get("deliver", "true") != "false",
                                     at=request.query_params.get("at"))
        except StoreError as exc:
            return hubspot_error(exc.status, exc.message, exc.category)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        quote = self.store.render("quotes", self.store.get("quotes", qid), ["hs_status", "hs_lastmodifieddate"])
        return JSONResponse({"quote": quote, "event_ids": [e["eventId"] for e in events]})

    async def _ctl_approve(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        deliver = body.get("deliver", True)
        if "ids" in body:
            ids = [str(i) for i in body["ids"]]
            unknown = [i for i in ids if i not in self.store.objects["quotes"]]
            if unknown:
                return JSONResponse({"error": f"unknown quote ids: {unknown[:10]}"}, status_code=404)
        else:
            ids = [r["id"] for r in sorted(self.store.objects["quotes"].values(), key=lambda r: int(r["id"]))
                   if r["properties"].get("hs_status") != "APPROVED"][:int(body.get("count", 1))]
        events = []
        for qid in ids:
            events += self.set_status(qid, "APPROVED", deliver=False)
        if deliver and events:
            self.webhooks.dispatch(events)
        return JSONResponse({"approved": [str(e["objectId"]) for e in events],
                             "event_ids": [e["eventId"] for e in events]})

    async def _ctl_seed(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        return JSONResponse(self.seed(int(body.get("companies", 50)), scenario=bool(body.get("scenario", True)),
                                      seed=int(body.get("seed", 7)), base_ms=body.get("base_ms")))

    async def _ctl_bulk(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        made = seeding.add_customers(self.store, self._rng, int(body.get("count", 100)), base_ms=self._base_ms)
        items = self.store.objects["line_items"]
        # quotes with a subscription line (a load generator's expected writes depend on it)
        subscription = [q for _, q in made if any((items.get(i) or {}).get("properties", {}).get("recurringbillingfrequency")
                                                  for i in self.store.associated("quotes", q, "line_items"))]
        return JSONResponse({"company_ids": [c for c, _ in made], "quote_ids": [q for _, q in made],
                             "subscription_quote_ids": subscription})

    async def _ctl_state(self, request: Request) -> Response:
        by_status: dict[str, int] = {}
        for rec in self.store.objects["quotes"].values():
            status = rec["properties"].get("hs_status") or "NONE"
            by_status[status] = by_status.get(status, 0) + 1
        return JSONResponse({
            "portal_id": self.portal_id, "profile": self.faults.profile,
            "counts": {t: len(objs) for t, objs in self.store.objects.items()},
            "companies": len(self.store.objects["companies"]), "quotes": by_status,
            "webhooks": self.webhooks.counts(), "target_url": self.webhooks.target_url,
            "scenario": self.scenario_ids(),
        })

    async def _ctl_deliveries(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", 100))
        recent = self.webhooks.deliveries[-limit:]
        return JSONResponse({"deliveries": [d.describe() for d in recent], "counts": self.webhooks.counts()})

    async def _ctl_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

