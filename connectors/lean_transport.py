"""``lean``: an httpx transport for vendor APIs: HTTP/1.1 keep-alive connections on asyncio
protocols, responses parsed by httptools (the parser uvicorn uses).

Why: per request, httpx's own transport costs about 2.5 ms of CPU here and httpx over aiohttp about
0.5 ms, most of it in layers a vendor client never uses (cookies, redirects, proxies, streaming,
tracing hooks, compression). The engine makes five to eight vendor requests per business event,
and one interpreter does all of them; this transport does what they need and no more:

- one request at a time per connection, connections kept alive and reused (LIFO), at most
  ``max_connections`` open, idle ones closed after ``keepalive_s`` (or the server's
  ``Keep-Alive: timeout``, whichever is shorter), since servers close idle connections too;
- request bodies are bytes (``httpx.Request(content=...)``), responses are read whole;
- TLS through the ``ssl`` module with httpx's default context, for ``https`` URLs;
- httpx's timeouts (connect, write, read, pool) and its exceptions (``ConnectError``,
  ``ReadTimeout``, ``RemoteProtocolError``...), so callers classify errors as they would with any
  other httpx transport.

Not supported, and refused rather than half-done: HTTP/2, proxies, HEAD requests, ``Expect:
100-continue``, protocol upgrades. ``aiohttp`` (``http_transport = "aiohttp"``) remains the choice for
anything beyond plain JSON-over-HTTPS vendor APIs.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

import httptools
import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Connection(asyncio.Protocol):
    """One keep-alive connection; feeds the bytes it receives to its response parser."""

    __slots__ = ("key", "transport", "parser", "waiter", "closed", "status", "headers", "body",
                 "idle_until", "_loop", "keep_alive", "framed")

    def __init__(self, key: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.idle_until = 0.0
        self.keep_alive = False
        self.framed = True
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    # --- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection cannot be trusted again
            self._close(httpx.RemoteProtocolError("the server sent data outside of a response"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close(httpx.RemoteProtocolError("the server switched protocols; not supported"))
        except httptools.HttpParserError as exc:
            self._close(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        if self.waiter is not None and self.status and not self.framed and not self.waiter.done():
            self.waiter.set_result(None)  # a body without length or chunks ends with the connection
        self._close(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._close(exc)

    # --- httptools callbacks ----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # (only meaningful while parsing)
        self.framed = self.status in (204, 304) or any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # --- use --------------------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future:
        self.status, self.headers, self.body = 0, [], []
        self.waiter = self._loop.create_future()
        self.transport.write(data)  # type: ignore[union-attr]
        return self.waiter

    def done(self) -> None:
        self.waiter = None

    def _close(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if isinstance(exc, httpx.HTTPError):
                error: Exception = exc
            elif exc is None:
                error = httpx.RemoteProtocolError("the server closed the connection without a complete response")
            else:
                error = httpx.ReadError(f"connection lost: {exc}")
            waiter.set_exception(error)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class LeanTransport(httpx.AsyncBaseTransport):
    """See the module's docstring."""

    def __init__(self, *, max_connections: int = 64, keepalive_s: float = 4.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._keepalive_s = keepalive_s
        self._ssl = ssl_context

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = _target(request.method, request.url)
        stream = request.stream
        content = b"".join(stream) if isinstance(stream, httpx.ByteStream) else await request.aread()
        raw = request.headers.raw
        head = b"".join(b"%s: %s\r\n" % kv for kv in raw)
        _check_head(head, len(raw))
        data = b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path) + head + b"\r\n" + content
        return await self._round_trip(key, data, request.extensions.get("timeout") or {})

    async def send(self, method: str, url: httpx.URL, headers: dict[str, str], content: bytes,
                   timeouts: dict[str, float | None]) -> httpx.Response:
        """One request without an ``httpx.Request``: the vendor clients' path (``ApiClient``). The
        headers go as given (Host and Content-Length included), ASCII as httpx would encode them.
        Building and serialising an httpx.Request cost several times this."""
        key = _target(method, url)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("ascii")
        _check_head(head, len(headers))
        data = b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), url.raw_path) + head + b"\r\n" + content
        return await self._round_trip(key, data, timeouts)

    async def _round_trip(self, key: tuple[str, str, int], data: bytes, timeouts: dict) -> httpx.Response:
        await self._acquire(timeouts.get("pool"))
        conn: _Connection | None = None
        try:
            conn = self._take_idle(key)
            if conn is None:
                conn = await self._connect(key, timeouts.get("connect"))
            response = await self._exchange(conn, data, timeouts.get("read"))
        except BaseException:
            if conn is not None:
                self._discard(conn)
            raise
        finally:
            self._slots.release()
        self._after(conn, response)
        return response

    async def _acquire(self, timeout: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise httpx.PoolTimeout("no connection free within the pool timeout") from None

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: least likely to have been closed by the server
            if not conn.closed and conn.idle_until > now:
                return conn
            self._discard(conn)
        return None

    async def _connect(self, key: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        ssl_ctx = self._ssl_context() if scheme == "https" else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(key, loop), host, port, ssl=ssl_ctx,
                                       server_hostname=host if ssl_ctx else None), timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._open.add(conn)
        return conn

    async def _exchange(self, conn: _Connection, data: bytes, timeout: float | None) -> httpx.Response:
        waiter = conn.send(data)
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, timeout)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            conn.done()
        body = b"".join(conn.body)
        response = httpx.Response(conn.status, headers=conn.headers, stream=httpx.ByteStream(body),
                                  extensions={"http_version": b"HTTP/1.1"})
        if not any(name.lower() == b"content-encoding" for name, _ in conn.headers):
            # the body as read: what Response.read() would store after its decoders (identity here),
            # without their cost; an encoded body is left to httpx's decoders
            response._content = body
        return response

    def _after(self, conn: _Connection, response: httpx.Response) -> None:
        if conn.closed or not conn.keep_alive:
            self._discard(conn)
            return
        keepalive = self._keepalive_s
        hint = response.headers.get("keep-alive")
        if hint:  # "timeout=5, max=100": leave before the server does
            for part in hint.split(","):
                name, _, value = part.strip().partition("=")
                if name.lower() == "timeout" and value.strip().isdigit():
                    keepalive = min(keepalive, max(0.0, int(value) - 1.0))
        conn.idle_until = time.monotonic() + keepalive
        conn.parser = httptools.HttpResponseParser(conn)
        self._idle.setdefault(conn.key, deque()).append(conn)

    def _discard(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if not conn.closed:
            conn.abort()

    async def aclose(self) -> None:
        for conn in list(self._open):
            self._discard(conn)
        self._idle.clear()


def _target(method: str, url: httpx.URL) -> tuple[str, str, int]:
    """The connection pool's key for a request (scheme, host, port); refuses what is not supported."""
    if method == "HEAD":
        raise httpx.UnsupportedProtocol("the lean transport does not send HEAD requests")
    scheme = url.scheme
    if scheme not in _DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
    return (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])


def _check_head(head: bytes, count: int) -> None:
    """One CRLF per header and no other line break: a value carrying CR or LF (an id taken from a
    webhook, say) would otherwise add headers, or a request, of its own."""
    if head.count(b"\n") != count or head.count(b"\r") != count:
        raise httpx.LocalProtocolError("a request header name or value contains a line break")


def _expire(waiter: asyncio.Future, timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout(f"no complete answer within {timeout} s"))


__all__ = ["LeanTransport"]
