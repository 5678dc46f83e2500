"""The webhook ingress: verify, write to the inbox, then answer.

Nothing lost: a 200 is sent only after the event is committed to the inbox. A bad signature is
answered 401 and counted (its body is untrusted, so it is not stored); a correctly signed but
malformed body is stored and becomes a validation exception.
"""

from __future__ import annotations

import logging
from typing import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.webhooks import SignatureError, verify_hubspot_v3
from opsconsole.engine import records
from opsconsole.engine.events import parse_hubspot
from opsconsole.engine.lease import LeaseLost
from opsconsole.engine.runtime import EngineEnv
from opsconsole.engine.tracing import new_correlation_id

log = logging.getLogger("opsconsole.ingress")

_KEPT_HEADERS = ("x-hubspot-request-timestamp", "content-type", "user-agent")


def build_ingress(env: EngineEnv, *, public_url: Callable[[], str], secrets: list[str],
                  on_runs: Callable[[list], None], health: Callable[[], dict]) -> Starlette:
    stats = {"accepted": 0, "duplicates": 0, "rejected": 0, "malformed": 0}

    async def hubspot(request: Request) -> Response:
        body = await request.body()
        uri = public_url().rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            verify_hubspot_v3(
                secrets, request.method, uri, body,
                request.headers.get("x-hubspot-signature-v3", ""),
                request.headers.get("x-hubspot-request-timestamp", ""),
            )
        except SignatureError as err:
            stats["rejected"] += 1
            remote = request.client.host if request.client else ""
            try:
                await env.writer.run(lambda c: records.count_rejected(c, "hubspot", err.reason, remote))
            except Exception:  # counting must never turn a 401 into a 500
                log.exception("could not count a rejected webhook")
            return JSONResponse({"status": "error", "message": f"signature rejected: {err.reason}"}, status_code=401)
        headers = {k: v for k, v in request.headers.items() if k in _KEPT_HEADERS}
        events = parse_hubspot(body, headers)
        corr = [new_correlation_id() for _ in events]
        try:
            accepted = await env.writer.run(lambda c: records.accept_events(c, events, corr))
        except LeaseLost:
            return JSONResponse({"status": "error", "message": "engine is shutting down"}, status_code=503)
        env.faults.hit("after_inbox_write")
        stats["accepted"] += sum(1 for a in accepted if a.new)
        stats["duplicates"] += sum(1 for a in accepted if not a.new)
        stats["malformed"] += sum(1 for e in events if e.problem)
        new_runs = [a for a in accepted if a.new_run and a.run_id is not None]
        if new_runs:
            on_runs(new_runs)
        return Response(status_code=200)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({**health(), "ingress": dict(stats)})

    app = Starlette(routes=[
        Route("/webhooks/hubspot", hubspot, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
    app.state.stats = stats
    return app
