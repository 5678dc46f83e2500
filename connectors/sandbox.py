"""What every vendor sandbox shares: switchable fault profiles and serving on loopback.

A sandbox is a Starlette app. :class:`Faults` sits around its vendor routes: before the handler
(:meth:`Faults.intercept`) it answers, by profile, 429 with Retry-After (a storm), 5xx, or slowly, in
the vendor's own error format (each sandbox passes its renderers); after the handler
(:meth:`Faults.after`) it cuts an answer's body short or holds a committed write's answer. Control
routes live under ``/_sandbox/`` and are never faulted.

Profiles (parameters as ``POST /_sandbox/faults`` and ``[<vendor>.sandbox]`` in the settings take them):

- ``demo``: no injected faults, generous limits. ``unthrottled``: benchmarks, no limits at all.
  ``vendor``: the vendor's documented rate limits.
- ``storm429``: the next ``storm`` requests (default 10) are answered 429, Retry-After ``retry_after``.
- ``flaky5xx``: a share ``error_rate`` (default 0.3) of requests is answered 5xx.
- ``slow``: every answer is ``delay`` seconds late (default 2), before the request is handled.
- ``malformed``: the request is handled as normal (a write is committed), then a share ``error_rate``
  (default 1) of 2xx answers with a body is sent cut short: the vendor's status, headers and JSON
  content-type over half a JSON document. The client must not take it for an answer
  (``connectors.http``: a retriable ``MalformedResponseError``).
- ``commit_then_timeout``: a write is handled and committed as normal, then its 2xx answer is held
  ``delay`` seconds (default 15, longer than the connectors' 10 s timeout) before it is sent, so the
  client times out on a write that happened. Its retry with the same idempotency key must not make a
  second record. Reads are not held.

``count`` limits ``flaky5xx``, ``malformed`` and ``commit_then_timeout`` to that many faulted answers
(then everything passes; no limit by default), so a retry can succeed. ``counts`` tallies requests and
each kind of injected fault.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.settings import FAULT_PROFILES as PROFILES

_READ_SUFFIXES = ("/search", "/batch/read")
"""POST paths that only read (HubSpot and Intercom search, HubSpot batch read)."""


def is_write(request: Request) -> bool:
    """Whether a vendor request changes data: PUT, PATCH, DELETE, and POST except searches and batch reads."""
    method = request.method
    if method == "POST":
        return not request.url.path.rstrip("/").endswith(_READ_SUFFIXES)
    return method in ("PUT", "PATCH", "DELETE")


FAULT_HEADER = "X-Sandbox-Fault"
"""Marks an answer the sandbox spoiled on purpose (``malformed``), so a response validator can tell it
from a contract break; clients ignore it."""


def cut_short(response: Response) -> Response:
    """The same answer (status, headers, content-type) over the first half of its body."""
    body = bytes(response.body)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers[FAULT_HEADER] = "malformed"
    return Response(body[: max(1, len(body) // 2)], status_code=response.status_code, headers=headers)


@dataclass
class Faults:
    """Mutable fault state of one sandbox; changed through ``POST /_sandbox/faults``."""

    profile: str = "demo"
    storm_remaining: int = 0
    """Requests still to be answered 429 (a burst); 0 means no storm."""
    retry_after_s: float = 1.0
    error_rate: float = 0.0
    """Share of requests answered 5xx under ``flaky5xx``, of 2xx answers cut short under ``malformed``."""
    delay_s: float = 0.0
    """Extra latency per request under ``slow``; how long a committed write's answer is held under
    ``commit_then_timeout``."""
    count: int | None = None
    """Faulted answers left under ``flaky5xx``, ``malformed`` and ``commit_then_timeout`` (None: no limit)."""
    counts: dict[str, int] = field(default_factory=lambda: {
        "requests": 0, "injected_429": 0, "injected_5xx": 0, "injected_malformed": 0, "injected_timeout": 0})

    def configure(self, body: dict) -> dict:
        """Switch profile; parameters not given take the profile's defaults. Raises ValueError."""
        profile = body.get("profile", self.profile)
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")

        def given(name: str, default: float) -> float:
            value = body.get(name)
            return default if value is None else float(value)

        storm = int(given("storm", 10 if profile == "storm429" else 0))
        error_rate = given("error_rate", {"flaky5xx": 0.3, "malformed": 1.0}.get(profile, 0.0))
        delay = given("delay", {"slow": 2.0, "commit_then_timeout": 15.0}.get(profile, 0.0))
        count = None if body.get("count") is None else int(body["count"])
        if storm < 0 or delay < 0 or (count is not None and count < 0) or not 0 <= error_rate <= 1:
            raise ValueError("storm, delay and count must not be negative; error_rate is between 0 and 1")
        self.profile, self.storm_remaining, self.error_rate, self.delay_s, self.count = (
            profile, storm, error_rate, delay, count)
        self.retry_after_s = given("retry_after", 1.0)
        return self.describe()

    def describe(self) -> dict:
        """The state; posting it back to ``/_sandbox/faults`` restores it (``storm`` is what is left)."""
        return {
            "profile": self.profile, "storm": self.storm_remaining, "storm_remaining": self.storm_remaining,
            "retry_after": self.retry_after_s, "error_rate": self.error_rate,
            "delay": self.delay_s, "count": self.count, "counts": dict(self.counts),
        }

    def _take(self, rate: float) -> bool:
        """Whether to fault this answer: within ``count``, and drawn at ``rate``."""
        if self.count is not None and self.count <= 0:
            return False
        if rate < 1 and random.random() >= rate:
            return False
        if self.count is not None:
            self.count -= 1
        return True

    async def intercept(
        self,
        request: Request,
        render_429: Callable[[float], Response],
        render_5xx: Callable[[], Response],
    ) -> Response | None:
        """A faulted response for this request, or None to let it through."""
        self.counts["requests"] += 1
        if self.delay_s > 0 and self.profile != "commit_then_timeout":
            await asyncio.sleep(self.delay_s)
        if self.storm_remaining > 0:
            self.storm_remaining -= 1
            self.counts["injected_429"] += 1
            return render_429(self.retry_after_s)
        if self.error_rate > 0 and self.profile != "malformed" and self._take(self.error_rate):
            self.counts["injected_5xx"] += 1
            return render_5xx()
        return None

    async def after(self, request: Request, response: Response, *, write: bool | None = None) -> Response:
        """The answer to send for a request the sandbox has handled (``write``: whether it changed
        data; by default :func:`is_write`): cut short under ``malformed``, held under
        ``commit_then_timeout``, else ``response`` itself."""
        if self.profile == "malformed":
            if 200 <= response.status_code < 300 and getattr(response, "body", b"") and self._take(self.error_rate):
                self.counts["injected_malformed"] += 1
                return cut_short(response)
        elif self.profile == "commit_then_timeout" and 200 <= response.status_code < 300:
            if (is_write(request) if write is None else write) and self._take(1.0):
                self.counts["injected_timeout"] += 1
                await _hold(request, self.delay_s)
        return response


async def _hold(request: Request, seconds: float) -> None:
    """Wait ``seconds``, or until the client has hung up (it timed out: nobody reads the answer)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(0.05, left))
        if await request.is_disconnected():
            return


def faults_endpoint(faults: Faults):
    async def endpoint(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(faults.describe())
        try:
            return JSONResponse(faults.configure(await request.json()))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


class SlidingWindow:
    """A per-key request counter over a rolling window (the vendors' rate limits)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, list[float]] = {}

    def hit(self, key: str) -> tuple[bool, int, float]:
        """Record a request: (allowed, remaining, seconds until the window frees a slot)."""
        now = time.monotonic()
        hits = [t for t in self._hits.get(key, []) if now - t < self.window_s]
        if len(hits) >= self.limit:
            self._hits[key] = hits
            return False, 0, self.window_s - (now - hits[0])
        hits.append(now)
        self._hits[key] = hits
        return True, self.limit - len(hits), 0.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port to listen on later. Chosen below Linux's ephemeral range (32768+), where outgoing
    connections take their ports: a port picked now and bound seconds later must not have been
    handed to a client socket in between."""
    for _ in range(100):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: an embedded server must not take the host's signals."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass

    def capture_signals(self):  # uvicorn >= 0.29
        import contextlib

        return contextlib.nullcontext()


def make_server(app, host: str = "127.0.0.1", port: int = 0, *, loop: str = "auto", lifespan: str = "on") -> QuietServer:
    port = port or free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, loop=loop,
        http="httptools", lifespan=lifespan, timeout_keep_alive=30, backlog=2048,
        proxy_headers=False, server_header=False, date_header=False,
    )
    return QuietServer(config)


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> tuple[QuietServer, threading.Thread, str]:
    """Start ``app`` on loopback in a daemon thread; return once it accepts connections."""
    server = make_server(app, host, port, loop="asyncio")
    thread = threading.Thread(target=server.run, name=f"http:{server.config.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{server.config.port} did not start")
        time.sleep(0.01)
    return server, thread, f"http://{host}:{server.config.port}"
