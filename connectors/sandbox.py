"""What every vendor sandbox shares: switchable fault profiles and serving on loopback.

A sandbox is a Starlette app. :class:`Faults` sits in front of its vendor routes and, by profile,
answers 429 with Retry-After (a storm), 5xx, or slowly, in the vendor's own error format (each
sandbox passes its renderers). Control routes live under ``/_sandbox/`` and are never faulted.

Profiles: ``demo`` (no injected faults, generous limits), ``unthrottled`` (benchmarks: no limits at
all), ``vendor`` (the vendor's documented rate limits), ``storm429``, ``flaky5xx``, ``slow``.
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

PROFILES = ("demo", "unthrottled", "vendor", "storm429", "flaky5xx", "slow")


@dataclass
class Faults:
    """Mutable fault state of one sandbox; changed through ``POST /_sandbox/faults``."""

    profile: str = "demo"
    storm_remaining: int = 0
    """Requests still to be answered 429 (a burst); 0 means no storm."""
    retry_after_s: float = 1.0
    error_rate: float = 0.0
    """Share of requests answered 5xx under ``flaky5xx``."""
    delay_s: float = 0.0
    """Extra latency per request under ``slow``."""
    counts: dict[str, int] = field(default_factory=lambda: {"requests": 0, "injected_429": 0, "injected_5xx": 0})

    def configure(self, body: dict) -> dict:
        profile = body.get("profile", self.profile)
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
        self.profile = profile
        self.storm_remaining = int(body.get("storm", 10 if profile == "storm429" else 0))
        self.retry_after_s = float(body.get("retry_after", 1))
        self.error_rate = float(body.get("error_rate", 0.3 if profile == "flaky5xx" else 0.0))
        self.delay_s = float(body.get("delay", 2.0 if profile == "slow" else 0.0))
        return self.describe()

    def describe(self) -> dict:
        return {
            "profile": self.profile, "storm_remaining": self.storm_remaining,
            "retry_after": self.retry_after_s, "error_rate": self.error_rate,
            "delay": self.delay_s, "counts": dict(self.counts),
        }

    async def intercept(
        self,
        request: Request,
        render_429: Callable[[float], Response],
        render_5xx: Callable[[], Response],
    ) -> Response | None:
        """A faulted response for this request, or None to let it through."""
        self.counts["requests"] += 1
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        if self.storm_remaining > 0:
            self.storm_remaining -= 1
            self.counts["injected_429"] += 1
            return render_429(self.retry_after_s)
        if self.error_rate > 0 and random.random() < self.error_rate:
            self.counts["injected_5xx"] += 1
            return render_5xx()
        return None


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
