"""``ContractMiddleware``: a sandbox that checks every answer it gives against the vendor's description.

A pure ASGI middleware around a sandbox's app. For each request to a vendor route (the validator's
scope: never ``/_sandbox/`` control routes, nor Xero's identity routes) it reads the request body,
lets the sandbox answer into a buffer, checks request and response with
:class:`~connectors.contract.validator.ExchangeValidator`, records every violation, and sends the
answer on. In strict mode an answer that violates the description is replaced by a 500 whose body
names the operation, where the violation is (JSON pointer, or header) and why, so whatever provoked
it fails loudly; an exception the sandbox raised is recorded the same way.

``GET /_sandbox/contract`` answers what was recorded (``{"vendor", "strict", "checked",
"violations": [...]}``); ``DELETE /_sandbox/contract`` answers the same and clears the record. The
middleware serves that path itself, so no sandbox's route table changes.

The product never adds it unless asked (``opsconsole sandbox serve --validate-responses``); it needs
the test extra (openapi-core, PyYAML).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

from connectors.contract.validator import ExchangeValidator, Violation

CONTROL_PATH = "/_sandbox/contract"


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class ContractMiddleware:
    """Validate every vendor-route exchange of ``app`` against ``vendor``'s description.

    Args:
        app: the sandbox's ASGI app.
        vendor: ``hubspot``, ``xero`` or ``intercom``.
        validator: an :class:`ExchangeValidator` (built for ``vendor`` from ``specs`` when omitted).
        strict: replace a violating answer with a 500 naming the violation.
        specs: the folder holding the vendors' descriptions (see ``connectors.contract.specs``).
    Raises:
        SpecError: the description cannot be found or loaded (or needs the test extra).
    """

    def __init__(self, app, vendor: str, validator: ExchangeValidator | None = None, *, strict: bool = True,
                 specs: str | None = None) -> None:
        self.app = app
        self.vendor = vendor
        self.validator = validator or ExchangeValidator(vendor, specs)
        self.strict = strict
        self.violations: list[Violation] = []
        self.checked = 0
        self._lock = threading.Lock()

    def take(self) -> list[Violation]:
        """The violations recorded so far, clearing the record."""
        with self._lock:
            taken, self.violations = self.violations, []
        return taken

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"vendor": self.vendor, "strict": self.strict, "checked": self.checked,
                    "violations": [v.as_dict() for v in self.violations]}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == CONTROL_PATH:
            return await self._control(scope, send)
        if not self.validator.covers(path):
            return await self.app(scope, receive, send)

        body = await _read_body(receive)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict | None = None
        chunks: list[bytes] = []

        async def capture(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            else:  # pragma: no cover - trailers and extensions pass through untouched
                await send(message)

        raised: BaseException | None = None
        try:
            await self.app(scope, replay, capture)
        except Exception as exc:  # recorded, answered, then re-raised for the server to log
            raised = exc
        if start is None:
            if raised is not None:
                raise raised
            return
        status = start["status"]
        response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        response_body = b"".join(chunks)
        if raised is None and any(k.lower() == "x-sandbox-fault" for k, _ in response_headers):
            # spoiled on purpose by a fault profile (connectors.sandbox, e.g. ``malformed``): not a contract break
            await send(start)
            await send({"type": "http.response.body", "body": response_body, "more_body": False})
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        violations = self.validator.check(scope["method"], path, scope.get("query_string", b"").decode("latin-1"),
                                          headers, body, status, response_headers, response_body)
        if raised is not None:
            found = self.validator.operation(scope["method"], path)
            name = (found[1].get("operationId") if found else None) or f"{scope['method']} {path}"
            violations.append(Violation(self.vendor, name, scope["method"], path, status, "sandbox", "",
                                        f"the sandbox raised {type(raised).__name__}: {raised}"))
        with self._lock:
            self.checked += 1
            self.violations.extend(violations)
        if violations and self.strict:
            start, response_body = self._replacement(violations)
        await send({**start, "headers": [(k, v) for k, v in start.get("headers", [])
                                          if k.lower() != b"content-length"]
                    + [(b"content-length", str(len(response_body)).encode())]})
        await send({"type": "http.response.body", "body": response_body, "more_body": False})
        if raised is not None:
            raise raised

    def _replacement(self, violations: list[Violation]) -> tuple[dict, bytes]:
        first = violations[0]
        body = orjson.dumps({
            "message": f"contract violation: {first}",
            "contract_violation": {"vendor": self.vendor, "operation": first.operation, "method": first.method,
                                   "path": first.path, "status": first.status,
                                   "violations": [{"where": v.where, "pointer": v.pointer, "message": v.message,
                                                   "schema": v.schema} for v in violations]},
        })
        start = {"type": "http.response.start", "status": 500,
                 "headers": [(b"content-type", b"application/json"),
                             (b"x-contract-violation", str(len(violations)).encode())]}
        return start, body

    async def _control(self, scope, send) -> None:
        method = scope["method"]
        if method == "GET":
            status, payload = 200, self.describe()
        elif method == "DELETE":
            payload = self.describe()
            self.take()
            status = 200
        else:
            status, payload = 405, {"error": "GET or DELETE"}
        body = orjson.dumps(payload)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


__all__ = ["CONTROL_PATH", "ContractMiddleware"]
