"""The webhook ingress: verify, write to the inbox, then answer.

Nothing lost: a 200 is sent only after the event is committed to the inbox. A bad signature is
answered 401 and counted (its body is untrusted, so it is not stored); a correctly signed but
malformed body is stored and becomes a validation exception.

A bare ASGI app rather than a framework's: it has two routes, and every webhook of every event
passes through it, so routing and middleware layers would be pure per-request cost.
"""

from __future__ import annotations

import logging
from typing import Callable

import orjson

from connectors.webhooks import (
    INTERCOM_SIGNATURE_HEADER, XERO_SIGNATURE_HEADER, SignatureError, verify_hubspot_v3, verify_intercom, verify_xero,
)
from opsconsole.engine import crm_lifecycle, records
from opsconsole.engine.events import parse_hubspot, parse_intercom, parse_xero
from opsconsole.engine.lease import LeaseLost
from opsconsole.engine.runtime import EngineEnv
from opsconsole.engine.tracing import new_correlation_id

log = logging.getLogger("opsconsole.ingress")

_KEPT_HEADERS = ("x-hubspot-request-timestamp", "content-type", "user-agent")
ROUTES = {"/webhooks/hubspot": "hubspot", "/webhooks/xero": "xero", "/webhooks/intercom": "intercom"}
MAX_BODY = 5 * 1024 * 1024  # HubSpot batches at most 100 events; anything near this is not a webhook


class Ingress:
    """ASGI app: ``POST /webhooks/{hubspot,xero,intercom}``, ``GET /healthz`` and ``GET /metrics``."""

    def __init__(self, env: EngineEnv, *, public_url: Callable[[], str], secrets: list[str],
                 on_runs: Callable[[list], None], health: Callable[[], dict],
                 xero_secrets: list[str] | None = None, intercom_secrets: list[str] | None = None,
                 audit=None, metrics: Callable[[], bytes] | None = None) -> None:
        self.env = env
        self.metrics = metrics
        """``GET /metrics``: Prometheus text exposition (None: 404)."""
        self.public_url = public_url
        self.secrets = secrets
        self.xero_secrets = xero_secrets or []
        self.intercom_secrets = intercom_secrets or []
        self.on_runs = on_runs
        self.health = health
        self.audit = audit
        """The engine's AuditLog: CRM merges, deletions and restores are recorded in it."""
        self.stats = {"accepted": 0, "duplicates": 0, "rejected": 0, "malformed": 0}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        source = ROUTES.get(path)
        if source is not None:
            if method != "POST":
                return await _respond(send, 405, {"status": "error", "message": "POST only"})
            body = await _read_body(receive)
            if body is None:
                return await _respond(send, 413, {"status": "error", "message": "body too large"})
            handler = {"hubspot": self.hubspot, "xero": self.xero, "intercom": self.intercom}[source]
            status, payload = await handler(scope, body)
            return await _respond(send, status, payload)
        if path == "/healthz" and method == "GET":
            return await _respond(send, 200, {**self.health(), "ingress": dict(self.stats)})
        if path == "/metrics" and method == "GET" and self.metrics is not None:
            import asyncio

            body = await asyncio.to_thread(self.metrics)  # reads the store: off the event loop
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-length", str(len(body)).encode()), (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]})
            return await send({"type": "http.response.body", "body": body})
        return await _respond(send, 404, {"status": "error", "message": f"no route {path}"})

    async def hubspot(self, scope, body: bytes) -> tuple[int, dict | None]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        uri = self.public_url().rstrip("/") + scope["path"] + (f"?{query}" if query else "")
        try:
            verify_hubspot_v3(self.secrets, "POST", uri, body, headers.get("x-hubspot-signature-v3", ""),
                              headers.get("x-hubspot-request-timestamp", ""))
        except SignatureError as err:
            return await self._rejected(scope, "hubspot", err)
        kept = {k: v for k, v in headers.items() if k in _KEPT_HEADERS}
        return await self._accept(parse_hubspot(body, kept))

    async def xero(self, scope, body: bytes) -> tuple[int, dict | None]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            verify_xero(self.xero_secrets, body, headers.get(XERO_SIGNATURE_HEADER, ""))
        except SignatureError as err:
            # also Xero's intent-to-receive check: it must see a 401 for a bad signature
            return await self._rejected(scope, "xero", err)
        events = parse_xero(body, {k: v for k, v in headers.items() if k in _KEPT_HEADERS})
        if events is None:  # intent to receive: a correctly signed empty delivery, nothing to keep
            return 200, None
        return await self._accept(events)

    async def intercom(self, scope, body: bytes) -> tuple[int, dict | None]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            verify_intercom(self.intercom_secrets, body, headers.get(INTERCOM_SIGNATURE_HEADER.lower(), ""))
        except SignatureError as err:
            return await self._rejected(scope, "intercom", err)
        return await self._accept(parse_intercom(body, {k: v for k, v in headers.items() if k in _KEPT_HEADERS}))

    async def _rejected(self, scope, source: str, err: SignatureError) -> tuple[int, dict]:
        self.stats["rejected"] += 1
        remote = (scope.get("client") or ("",))[0]
        try:
            await self.env.writer.run(lambda c: records.count_rejected(c, source, err.reason, remote))
        except Exception:  # counting must never turn a 401 into a 500
            log.exception("could not count a rejected webhook")
        return 401, {"status": "error", "message": f"signature rejected: {err.reason}"}

    async def _accept(self, events: list) -> tuple[int, dict | None]:
        corr = [new_correlation_id() for _ in events]
        try:
            accepted = await self.env.writer.run(lambda c: self._write_events(c, events, corr))
        except LeaseLost:
            return 503, {"status": "error", "message": "engine is shutting down"}
        self.env.faults.hit("after_inbox_write")
        self.stats["accepted"] += sum(1 for a in accepted if a.new)
        self.stats["duplicates"] += sum(1 for a in accepted if not a.new)
        self.stats["malformed"] += sum(1 for e in events if e.problem)
        new_runs = [a for a in accepted if a.new_run and a.run_id is not None]
        if new_runs:
            self.on_runs(new_runs)
        return 200, None

    def _write_events(self, conn, events: list, corr: list[str]) -> list:
        """Write the events to the inbox; apply the CRM merges, deletions and restores among the new ones
        in the same commit (they start no run: :mod:`opsconsole.engine.crm_lifecycle`)."""
        accepted = records.accept_events(conn, events, corr)
        for ev, acc, cid in zip(events, accepted, corr):
            if acc.new and acc.inbox_id is not None and ev.identity_change is not None:
                crm_lifecycle.apply(conn, ev, acc.inbox_id, cid, self.audit)
        return accepted


async def _read_body(receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send, status: int, payload: dict | None) -> None:
    body = orjson.dumps(payload, default=str) if payload is not None else b""
    headers = [(b"content-length", str(len(body)).encode())]
    if payload is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_ingress(env: EngineEnv, **kwargs) -> Ingress:
    return Ingress(env, **kwargs)
