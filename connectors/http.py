"""The httpx-based client every connector builds on.

One pooled transport per connector instance (connections reused): the lean transport by default
(:mod:`connectors.lean_transport`; httpx-aiohttp and httpx's own can be chosen), a W3C
``traceparent`` on every request, and errors classified into Retriable / Auth / Fatal / Skippable.
A 2xx answer whose JSON body does not parse raises :class:`MalformedResponseError` (retriable) rather
than handing the vendor method a string where it expects a record.
Vendors customise through small hooks (``auth_headers``, ``error_message``, ``retry_after``), and a
rate-limit governor (:mod:`connectors.ratelimit`) plugs in through ``before_request``, ``observe`` and
``request_slot``.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from connectors.errors import (
    CallRecord, ConnectorError, DownstreamError, MalformedResponseError, TimeoutError, classify_status,
)


# The engine sets a list here per step; every request made in that context appends its CallRecord,
# so spans are recorded without vendor methods having to return them.
call_recorder: contextvars.ContextVar[list[CallRecord] | None] = contextvars.ContextVar("call_recorder", default=None)


def _record(call: CallRecord) -> None:
    recorder = call_recorder.get()
    if recorder is not None:
        recorder.append(call)


class _NoCookies(httpx.Cookies):
    """Vendor APIs authenticate by token, never by cookie; httpx's per-response cookie extraction
    (a urllib request object per response) costs more CPU than the rest of a small request."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


@dataclass
class ApiResponse:
    status: int
    headers: httpx.Headers
    body: Any
    call: CallRecord


def make_transport(kind: str, max_connections: int) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if kind == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=limits, trust_env=False)
    if kind == "lean":
        from connectors.lean_transport import LeanTransport

        return LeanTransport(max_connections=max_connections)
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    raise ValueError(f"unknown HTTP transport {kind!r}: lean, aiohttp or httpx")


def segment(value: Any) -> str:
    """One path segment from an id: percent-encoded whole, so an id (from a webhook, a vendor's answer,
    an operator) can only ever name that one resource: ``../``, ``?`` or ``#`` in it would otherwise
    change which resource, or which query, the request addresses."""
    return quote(str(value), safe="")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), as of now."""
    from connectors.ratelimit import parse_delay

    return parse_delay(value, time.time())


def _parse(content: bytes, content_type: str) -> tuple[Any, str | None]:
    """The decoded body, and why it is malformed when the content-type says JSON but it does not parse
    (the body is then its text)."""
    if not content:
        return None, None
    if "json" in content_type:
        try:
            return orjson.loads(content), None
        except orjson.JSONDecodeError as exc:
            return content.decode("utf-8", "replace"), str(exc)
    return content.decode("utf-8", "replace"), None


class ApiClient:
    """Base HTTP client. Subclasses set ``system`` and override the hooks."""

    system = "http"

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        transport: str = "lean",
        timeout_s: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._host = httpx.URL(self.base_url).netloc.decode("ascii")  # what httpx.Request would send as Host
        self._token = token
        self._transport = make_transport(transport, max_connections)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            transport=self._transport,
            timeout=httpx.Timeout(timeout_s),
        )
        self._client._cookies = _NoCookies()
        self._timeout = httpx.Timeout(timeout_s).as_dict()
        self._lean = self._transport if transport == "lean" else None
        self.transport_name = transport
        self._urls: dict[tuple, httpx.URL] = {}
        self._queries: dict[tuple, str] = {}

    # --- hooks -----------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request."""
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def error_message(self, status: int, body: Any) -> str:
        """A one-line message from a vendor's error body."""
        if isinstance(body, dict):
            for key in ("message", "Message", "Detail", "detail", "error"):
                if body.get(key):
                    return str(body[key])
        return str(body)[:300] if body else f"HTTP {status}"

    def retry_after(self, response: httpx.Response) -> float | None:
        """How long the vendor asked us to wait."""
        return parse_retry_after(response.headers.get("Retry-After"))

    def observe(self, response: httpx.Response) -> None:
        """Called with every response (rate-limit governors read headers here)."""

    async def before_request(self) -> None:
        """Called before every request (a governor may wait here)."""

    def request_slot(self) -> Any:
        """A limiter held while a request is in flight (``acquire()``/``release()``, e.g. an
        ``asyncio.Semaphore``: Xero's 5 concurrent per tenant), or None for no cap."""
        return None

    def _url(self, path: str, params: dict[str, Any] | None) -> httpx.URL:
        """The absolute URL, built without httpx re-parsing and re-merging it on every request:
        query strings are encoded once per parameter set, and whole URLs cached per path (most
        write paths never change; httpx's URL handling is a large share of a request's CPU)."""
        pkey = tuple((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()) if params else ()
        key = (path, pkey)
        url = self._urls.get(key)
        if url is None:
            query = self._queries.get(pkey)
            if query is None and pkey:
                query = self._queries[pkey] = str(httpx.QueryParams(params))
            url = httpx.URL(f"{self.base_url}{path}" + (f"?{query}" if query else ""))
            if len(self._urls) > 512:  # ids make most read paths unique: keep the cache small
                self._urls.clear()
            self._urls[key] = url
        return url

    # --- the one request loop -------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        traceparent: str = "",
    ) -> ApiResponse:
        """Send one request; return the decoded response or raise a classified ConnectorError."""
        await self.before_request()
        hdrs = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
        if traceparent:
            hdrs["traceparent"] = traceparent
        content = None
        if json is not None:
            content = orjson.dumps(json)
            hdrs["Content-Type"] = "application/json"
        started = time.time()
        t0 = time.perf_counter()
        url = f"{self.base_url}{path}"
        safe_req_headers = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
        full_url = self._url(path, params)
        slot = self.request_slot()
        if slot is not None:
            await slot.acquire()
        try:
            resp = await self._send(method, full_url, content, hdrs)
        except httpx.TimeoutException as exc:
            call = CallRecord(self.system, method, url, None, started, (time.perf_counter() - t0) * 1000,
                              safe_req_headers, json, traceparent=traceparent)
            _record(call)
            raise TimeoutError(f"no answer within the timeout ({type(exc).__name__})", system=self.system, call=call) from exc
        except httpx.TransportError as exc:
            call = CallRecord(self.system, method, url, None, started, (time.perf_counter() - t0) * 1000,
                              safe_req_headers, json, traceparent=traceparent)
            _record(call)
            raise DownstreamError(f"connection failed: {exc}", system=self.system, call=call) from exc
        finally:
            if slot is not None:
                slot.release()
        self.observe(resp)
        body, malformed = _parse(resp.content, resp.headers.get("content-type", ""))
        call = CallRecord(
            self.system, method, str(full_url), resp.status_code, started,
            (time.perf_counter() - t0) * 1000, safe_req_headers, json, resp.headers, body, traceparent,
        )
        _record(call)
        error_cls = classify_status(resp.status_code)
        if error_cls is None and malformed is not None:
            raise MalformedResponseError(
                f"malformed response: its JSON body ({len(resp.content)} bytes) does not parse: {malformed}",
                system=self.system, status=resp.status_code, body=body, call=call,
            )
        if error_cls is not None:
            raise error_cls(
                self.error_message(resp.status_code, body),
                system=self.system, status=resp.status_code, body=body,
                retry_after=self.retry_after(resp), call=call,
            )
        return ApiResponse(resp.status_code, resp.headers, body, call)

    async def _send(self, method: str, url: httpx.URL, content: bytes | None, headers: dict[str, str]) -> httpx.Response:
        """One request through the transport, read whole. httpx's ``Request`` and ``Response``, but
        not ``AsyncClient.request``: its header merging, cookie, auth and redirect layers cost a
        fifth of the engine's CPU per request, and a vendor client uses none of them (the URL is
        absolute, the headers complete, redirects are errors here)."""
        # the body as a ready stream and the two headers httpx would derive from it: Request(content=...)
        # re-encodes and re-reads the body, several times the cost of the rest of the object
        sized = {"Host": self._host, **headers, "Content-Length": str(len(content))} if content else {"Host": self._host, **headers}
        if self._lean is not None:  # no httpx.Request at all (connectors/lean_transport.py)
            response = await self._lean.send(method, url, sized, content or b"", self._timeout)
        else:
            request = httpx.Request(method, url, stream=httpx.ByteStream(content or b""), headers=sized,
                                    extensions={"timeout": self._timeout})
            response = await self._transport.handle_async_request(request)
            response.request = request  # (not every transport sets it)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["ApiClient", "ApiResponse", "ConnectorError", "MalformedResponseError", "make_transport", "parse_retry_after",
           "segment"]
