"""The vendors' rate-limit governors (HubSpot, Xero, Intercom) on :mod:`connectors.ratelimit_base`;
imported from there (``from connectors.ratelimit_base import XeroGovernor``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from connectors.ratelimit_base import DEFAULT_RESERVE, DEFAULT_MAX_WAIT_S, Clock, _int, Limits, Governor


# --- HubSpot ---------------------------------------------------------------------------------------
@dataclass
class HubSpotRateLimit(Limits):
    """What the last ``X-HubSpot-RateLimit-*`` headers said (the 10-second burst window and the day)."""

    max: int | None = None
    """``-Max``: requests allowed per interval."""
    interval_ms: int | None = None
    """``-Interval-Milliseconds``: the rolling window (10 000)."""
    daily: int | None = None
    daily_remaining: int | None = None
    observed_at: float = 0.0
    """Clock monotonic time of the last observation."""


class HubSpotGovernor(Governor):
    """HubSpot's burst window: ``X-HubSpot-RateLimit-Max`` / ``-Remaining`` per ``-Interval-Milliseconds``
    (rolling, 10 s). A 429 without Retry-After waits one interval."""

    vendor = "hubspot"
    header_names = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining",
                    "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Daily",
                    "X-HubSpot-RateLimit-Daily-Remaining", "Retry-After")
    rate_limit: HubSpotRateLimit

    def _new_limits(self) -> HubSpotRateLimit:
        return HubSpotRateLimit()

    def _read(self, status: int, headers: Mapping[str, str]) -> bool:
        remaining = headers.get("X-HubSpot-RateLimit-Remaining")
        daily_remaining = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if remaining is None and daily_remaining is None:
            return False
        rl = self.rate_limit
        for attr, name in (("max", "X-HubSpot-RateLimit-Max"), ("daily", "X-HubSpot-RateLimit-Daily"),
                           ("interval_ms", "X-HubSpot-RateLimit-Interval-Milliseconds")):
            value = _int(headers.get(name))
            if value is not None:
                setattr(rl, attr, value)
        if remaining is not None:
            rl.remaining = _int(remaining)
        if daily_remaining is not None:
            rl.daily_remaining = _int(daily_remaining)
        rl.observed_at = self.clock.monotonic()
        return True

    def limit(self) -> int | None:
        return self.rate_limit.max

    def _window_s(self) -> float:
        return (self.rate_limit.interval_ms or 10_000) / 1000

    def _default_429_wait(self, headers: Mapping[str, str]) -> float | None:
        return (_int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")) or self.rate_limit.interval_ms
                or 10_000) / 1000


# --- Xero ------------------------------------------------------------------------------------------
XERO_MINUTE_LIMIT = 60
XERO_APP_MINUTE_LIMIT = 10_000
XERO_MAX_CONCURRENT = 5


@dataclass
class XeroRateLimit(Limits):
    """Xero's per-tenant minute and day budgets and the app's minute budget (``remaining`` is the
    tenant's minute budget, as ``minute_remaining``)."""

    minute_remaining: int | None = None
    """``X-MinLimit-Remaining``: calls left this minute for the tenant (limit 60)."""
    day_remaining: int | None = None
    """``X-DayLimit-Remaining``: calls left today for the tenant (limit 5000)."""
    app_minute_remaining: int | None = None
    """``X-AppMinLimit-Remaining``: calls left this minute for the app across tenants (limit 10 000)."""
    problem: str | None = None
    """``X-Rate-Limit-Problem`` of the last 429 (minute, day, appminute, concurrent)."""


class XeroGovernor(Governor):
    """Xero: 60 calls a minute and 5 in flight per tenant, 10 000 a minute per app, 5000 a day.

    The minute window is taken as 60 s from the first answer seen in it (Xero's is rolling and gives no
    reset time). The app budget is spent with a reserve of its own share. :meth:`slot` is the
    5-concurrent limiter (``acquire``/``release``, or ``async with``): an ``asyncio.Semaphore`` (one per
    event loop) held around each request.
    """

    vendor = "xero"
    window_s = 60.0
    header_names = ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining",
                    "X-Rate-Limit-Problem", "Retry-After")
    rate_limit: XeroRateLimit

    def __init__(self, *, clock: Clock | None = None, reserve: float = DEFAULT_RESERVE,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S, max_concurrent: int = XERO_MAX_CONCURRENT) -> None:
        super().__init__(clock=clock, reserve=reserve, max_wait_s=max_wait_s)
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        """Requests holding a slot now."""
        self.minute_limit_seen = 0
        """The most ``X-MinLimit-Remaining`` ever said (a first answer of a window is the limit less one)."""
        self._slot: asyncio.Semaphore | None = None
        self._slot_loop: asyncio.AbstractEventLoop | None = None

    def _new_limits(self) -> XeroRateLimit:
        return XeroRateLimit()

    def _read(self, status: int, headers: Mapping[str, str]) -> bool:
        rl = self.rate_limit
        seen = False
        for attr, name in (("minute_remaining", "X-MinLimit-Remaining"), ("day_remaining", "X-DayLimit-Remaining"),
                           ("app_minute_remaining", "X-AppMinLimit-Remaining")):
            value = _int(headers.get(name))
            if value is not None:
                setattr(rl, attr, value)
                seen = True
        if status == 429:
            rl.problem = headers.get("X-Rate-Limit-Problem")
            if rl.problem == "minute":
                rl.minute_remaining = 0
            elif rl.problem == "appminute":
                rl.app_minute_remaining = 0
        rl.remaining = rl.minute_remaining
        if rl.minute_remaining is not None and rl.minute_remaining > self.minute_limit_seen:
            self.minute_limit_seen = rl.minute_remaining  # a tenant (or sandbox) allowed more than documented
        return seen

    def budget_low(self) -> bool:
        app = self.rate_limit.app_minute_remaining
        return super().budget_low() or (app is not None and app <= self.reserve_calls(XERO_APP_MINUTE_LIMIT))

    def _spend(self) -> None:
        rl = self.rate_limit
        super()._spend()
        rl.minute_remaining = rl.remaining
        if rl.app_minute_remaining:
            rl.app_minute_remaining -= 1

    def _window_passed(self) -> None:
        super()._window_passed()
        self.rate_limit.minute_remaining = self.rate_limit.app_minute_remaining = None

    def limit(self) -> int | None:
        """The documented 60 a minute, or more once the vendor said more remained (Xero sends no limit
        header, only what remains)."""
        return max(XERO_MINUTE_LIMIT, self.minute_limit_seen)

    def slot(self) -> XeroGovernor:
        """The 5-concurrent limiter: ``await acquire()`` before sending, ``release()`` after."""
        return self

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if self._slot_loop is not loop:  # asyncio primitives belong to one loop
            self._slot, self._slot_loop = asyncio.Semaphore(self.max_concurrent), loop
        await self._slot.acquire()  # type: ignore[union-attr]
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._slot.release()  # type: ignore[union-attr]

    async def __aenter__(self) -> XeroGovernor:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def state(self) -> dict[str, Any]:
        out = super().state()
        out.update(in_flight=self.in_flight, max_concurrent=self.max_concurrent)
        return out


# --- Intercom --------------------------------------------------------------------------------------
@dataclass
class IntercomRateLimit(Limits):
    """What Intercom's ``X-RateLimit-*`` headers said (per 10-second window)."""

    limit: int | None = None
    """``X-RateLimit-Limit``: requests allowed in the current window."""
    reset_at: float | None = None
    """``X-RateLimit-Reset``: UNIX time (seconds) when the window resets."""


class IntercomGovernor(Governor):
    """Intercom: ``X-RateLimit-Limit`` / ``-Remaining`` per window, ``X-RateLimit-Reset`` (epoch seconds)
    when it resets; a 429 carries no Retry-After, so its wait is the time until the reset."""

    vendor = "intercom"
    header_names = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
    rate_limit: IntercomRateLimit

    def _new_limits(self) -> IntercomRateLimit:
        return IntercomRateLimit()

    def _read(self, status: int, headers: Mapping[str, str]) -> bool:
        rl = self.rate_limit
        limit, remaining, reset = (_int(headers.get(n)) for n in
                                   ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))
        if limit is None and remaining is None and reset is None:
            if status == 429:
                rl.remaining = 0
            return False
        if limit is not None:
            rl.limit = limit
        if reset is not None:
            rl.reset_at = float(reset)
        rl.remaining = remaining if remaining is not None else (0 if status == 429 else rl.remaining)
        return True

    def limit(self) -> int | None:
        return self.rate_limit.limit

    def window_ends_at(self) -> float | None:
        rl = self.rate_limit
        if rl.reset_at is None:
            return super().window_ends_at()
        return self.clock.monotonic() + (rl.reset_at - self.clock.time())

    def _default_429_wait(self, headers: Mapping[str, str]) -> float | None:
        reset = _int(headers.get("X-RateLimit-Reset"))
        if reset is None:
            return None
        return min(self.max_wait_s, max(0.0, reset - self.clock.time()))
