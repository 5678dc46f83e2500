"""Rate-limit governors: one per vendor and credential, reading the vendor's headers and slowing down
before the vendor throttles.

A :class:`Governor` sits on :class:`connectors.http.ApiClient`'s hooks: ``await before_request()`` may
wait before a request is sent, ``observe(status, headers)`` reads every answer, ``retry_after`` says how
long a 429 asked us to wait, and ``slot()`` (Xero) is a limiter held for the duration of a request.
``state()`` is a plain dict for display (the console's "rate-limit budget left").

The policy, the same for every vendor:

* **A 429 blocks the credential.** Its ``Retry-After`` (or the vendor's equivalent: HubSpot's interval,
  Intercom's ``X-RateLimit-Reset``) holds every request through the governor until it has passed; the
  budget is then taken as unknown until the next answer (the vendor said when to come back). A
  wait longer than ``max_wait_s`` is not slept: the request is refused at once with a
  :class:`~connectors.errors.RateLimitedError` carrying the remaining wait, so the engine's retry
  budget (and, in the end, an exception an operator sees) decides, not a task asleep for hours.
* **Slow down before the 429.** The budget left in the current window is the last reported
  ``remaining`` minus the requests sent since (so concurrent requests see it shrink). When it is at or
  below the reserve (``reserve``: a share of the window's limit when below 1, else a number of calls;
  default 2%, at least one call; 0 waits only for an exhausted window) the request waits until the
  window resets: HubSpot, ``Interval-Milliseconds`` after the first answer seen in the window; Xero,
  60 s after the first answer seen in the minute; Intercom, the ``X-RateLimit-Reset`` epoch. These
  waits are capped at ``max_wait_s``. The vendors' daily budgets are shown but not waited for (a day
  is too long to hold a request; the 429 and its Retry-After decide).

Governors are shared per vendor and credential within a process (:func:`shared_governor`, keyed by a
fingerprint of the API's base URL and the credential, never the credential itself), so two clients for
one account spend one budget. Time comes from a :class:`Clock`; tests pass a :class:`VirtualClock`
so nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from connectors.errors import RateLimitedError

DEFAULT_RESERVE = 0.02
DEFAULT_MAX_WAIT_S = 120.0
_EPSILON = 0.001


class Clock:
    """Real time: ``monotonic()`` for intervals, ``time()`` for vendors' epoch headers, ``sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


REAL_CLOCK = Clock()


class VirtualClock(Clock):
    """Virtual time for tests: ``sleep`` records the wait, moves time on and returns at once.

    ``time()`` starts at the real wall-clock time (vendors' epoch headers stay meaningful) and moves
    only with ``sleep``/``advance``. ``on_sleep(seconds)`` lets a test move a sandbox's windows too.
    """

    def __init__(self, *, start: float = 1000.0, wall: float | None = None,
                 on_sleep: Callable[[float], None] | None = None) -> None:
        self.now = start
        self._wall_offset = (time.time() if wall is None else wall) - start
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self._wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        await asyncio.sleep(0)

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return int(float(value))
    except ValueError:
        return None


def pick_headers(headers: Mapping[str, str], wanted: dict[bytes, str]) -> dict[str, str]:
    """The headers named in ``wanted`` (lower-cased bytes -> name) that ``headers`` carries, by name.

    One pass over an ``httpx.Headers``' items: its ``get`` scans every header per call, and a governor
    reads five or six on every response (the hot path). Any other mapping is asked name by name.
    """
    items = getattr(headers, "_list", None)  # httpx.Headers: [(raw key, lower-cased key, value)]
    out: dict[str, str] = {}
    if isinstance(items, list) and (not items or len(items[0]) == 3):
        for _, key, value in items:
            name = wanted.get(key)
            if name is not None:
                out[name] = value.decode("latin-1")
        return out
    for name in wanted.values():
        value = headers.get(name)
        if value is not None:
            out[name] = value
    return out


def parse_delay(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or an HTTP date; ``now`` is wall-clock time)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


@dataclass
class Limits:
    """What a governor knows; the vendors' subclasses add their headers."""

    remaining: int | None = None
    """Requests left in the current window: the last reported value minus the requests sent since."""
    window_started_at: float | None = None
    """Clock monotonic time of the first answer seen in the current window."""
    blocked_until: float = 0.0
    """Clock monotonic time before which nothing is sent (a 429's wait); 0 when not blocked."""
    retry_after: float | None = None
    """The wait the last 429 asked for, in seconds."""
    throttled: int = 0
    """429s seen through this governor."""
    last_429_at: float | None = None
    """Wall-clock time of the last 429."""
    updated_at: float | None = None
    """Wall-clock time of the last answer that carried rate-limit headers."""
    waits: int = 0
    """Requests this governor held back."""
    waited_s: float = 0.0
    """Total time requests were held back."""


class Governor:
    """The shared mechanics; a vendor subclass reads its headers in :meth:`_read` and knows its window."""

    vendor = ""
    window_s = 10.0
    """Length of the vendor's window, when the headers do not say."""
    header_names: tuple[str, ...] = ("Retry-After",)
    """The headers :meth:`_read` and :meth:`retry_after` look at."""

    def __init__(self, *, clock: Clock | None = None, reserve: float = DEFAULT_RESERVE,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        self.clock = clock or REAL_CLOCK
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.rate_limit: Limits = self._new_limits()
        self._wanted = {name.lower().encode(): name for name in self.header_names}

    # --- what a vendor defines ---------------------------------------------------------------
    def _new_limits(self) -> Limits:
        return Limits()

    def _read(self, status: int, headers: Mapping[str, str]) -> bool:
        """Take this answer's headers (those of ``header_names`` it carries, by name) into
        ``self.rate_limit``; True if it carried any rate-limit header."""
        return False

    def limit(self) -> int | None:
        """The window's request limit, when known."""
        return None

    def window_ends_at(self) -> float | None:
        """Clock monotonic time at which the current window resets, when known."""
        rl = self.rate_limit
        return None if rl.window_started_at is None else rl.window_started_at + self._window_s()

    def _window_s(self) -> float:
        return self.window_s

    def _default_429_wait(self, headers: Mapping[str, str]) -> float | None:
        """The wait of a 429 that carries no Retry-After."""
        return None

    # --- the hooks ---------------------------------------------------------------------------
    def reserve_calls(self, limit: int | None = None) -> int:
        """Calls kept in reserve: ``reserve`` calls, or that share of ``limit`` (at least one)."""
        if self.reserve <= 0:
            return 0
        if self.reserve >= 1:
            return int(self.reserve)
        limit = self.limit() if limit is None else limit
        return max(1, math.ceil((limit or 0) * self.reserve))

    def budget_low(self) -> bool:
        """Whether the window's budget is down to the reserve."""
        remaining = self.rate_limit.remaining
        return remaining is not None and remaining <= self.reserve_calls()

    def _spend(self) -> None:
        """Count one request against the budget (until the vendor's next answer says otherwise)."""
        rl = self.rate_limit
        if rl.remaining is not None and rl.remaining > 0:
            rl.remaining -= 1

    def _window_passed(self) -> None:
        """The window has reset: the budget is unknown until the vendor's next answer."""
        self.rate_limit.remaining = None
        self.rate_limit.window_started_at = None

    def _budget_wait(self, now: float) -> float:
        """Seconds until the window resets (capped at ``max_wait_s``); 0 when it has."""
        ends = self.window_ends_at()
        if ends is None or ends - now <= _EPSILON:
            self._window_passed()
            return 0.0
        return min(ends - now, self.max_wait_s)

    def wait_s(self) -> float:
        """How long the next request would wait now (0: it is sent at once)."""
        rl = self.rate_limit
        now = self.clock.monotonic()
        blocked = rl.blocked_until - now if rl.blocked_until else 0.0
        if blocked > _EPSILON:
            return blocked
        if rl.blocked_until:  # a 429's wait has just passed: the budget is unknown until told
            return 0.0
        ends = self.window_ends_at() if self.budget_low() else None
        budget = min(ends - now, self.max_wait_s) if ends is not None else 0.0
        return budget if budget > _EPSILON else 0.0

    async def before_request(self) -> None:
        """Wait until a request may be sent; spend one call of the budget.

        Raises:
            RateLimitedError: a 429's wait is longer than ``max_wait_s`` (nothing is sent).
        """
        rl = self.rate_limit
        if rl.blocked_until or self.budget_low():
            while True:
                now = self.clock.monotonic()
                blocked = rl.blocked_until - now if rl.blocked_until else 0.0
                if blocked > self.max_wait_s:
                    raise RateLimitedError(
                        f"held back: the {self.vendor} rate limit asked for {blocked:.0f}s more "
                        f"(over the {self.max_wait_s:.0f}s a request may wait)",
                        system=self.vendor, retry_after=blocked)
                if blocked > _EPSILON:  # a 429's wait decides while it lasts (it may end the window early)
                    wait, budget = blocked, 0.0
                else:
                    if rl.blocked_until:  # it has passed: the budget is unknown until the next answer
                        rl.blocked_until = 0.0
                        self._window_passed()
                    wait = budget = self._budget_wait(now) if self.budget_low() else 0.0
                if wait <= _EPSILON:
                    break
                rl.waits += 1
                rl.waited_s += wait
                window = rl.window_started_at
                await self.clock.sleep(wait)
                if budget > 0 and rl.window_started_at == window:  # slept out the window (or the cap)
                    self._window_passed()
        self._spend()

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Read one answer's rate-limit headers; a 429 blocks the credential for its wait."""
        rl = self.rate_limit
        headers = pick_headers(headers, self._wanted)
        if self._read(status, headers):
            rl.updated_at = self.clock.time()
            now = self.clock.monotonic()
            if rl.window_started_at is None or now - rl.window_started_at >= self._window_s():
                rl.window_started_at = now
        if status == 429:
            rl.throttled += 1
            rl.last_429_at = self.clock.time()
            wait = self._retry_after(status, headers)
            rl.retry_after = wait
            if wait:
                rl.blocked_until = max(rl.blocked_until, self.clock.monotonic() + wait)

    def retry_after(self, status: int, headers: Mapping[str, str]) -> float | None:
        """How long the vendor asked us to wait (``Retry-After``, else the vendor's own signal on a 429)."""
        return self._retry_after(status, pick_headers(headers, self._wanted))

    def _retry_after(self, status: int, headers: Mapping[str, str]) -> float | None:
        explicit = parse_delay(headers.get("Retry-After"), self.clock.time())
        if explicit is not None or status != 429:
            return explicit
        return self._default_429_wait(headers)

    def slot(self) -> Any:
        """An async context manager held for the duration of each request, or None (no cap)."""
        return None

    def state(self) -> dict[str, Any]:
        """For display: what the vendor last said, the budget left and any wait in force."""
        now = self.clock.monotonic()
        rl = self.rate_limit
        out = asdict(rl)
        for key in ("window_started_at", "blocked_until"):
            out.pop(key, None)
        ends = self.window_ends_at()
        out.update(vendor=self.vendor, limit=self.limit(), budget_left=rl.remaining,
                   reserve=self.reserve_calls(),
                   window_resets_in_s=None if ends is None else max(0.0, round(ends - now, 3)),
                   blocked_for_s=max(0.0, round(rl.blocked_until - now, 3)) if rl.blocked_until else 0.0)
        return out


# --- one governor per vendor and credential --------------------------------------------------------
_GOVERNORS: weakref.WeakValueDictionary[tuple[str, str], Governor] = weakref.WeakValueDictionary()
G = TypeVar("G", bound=Governor)


def credential_fingerprint(*parts: str) -> str:
    """A stable key for a credential (e.g. base URL, token, tenant) that does not reveal it."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def shared_governor(vendor: str, fingerprint: str, factory: Callable[[], G]) -> G:
    """The governor of ``vendor`` for this credential, made by ``factory`` if no client holds one.

    Held weakly: it lives as long as a client uses it. The first client's options win.
    """
    key = (vendor, fingerprint)
    governor = _GOVERNORS.get(key)
    if governor is None:
        governor = factory()
        _GOVERNORS[key] = governor
    return governor  # type: ignore[return-value]


def governors() -> dict[tuple[str, str], Governor]:
    """Every live shared governor by (vendor, fingerprint), for display."""
    return dict(_GOVERNORS.items())


def clear_governors() -> None:
    """Forget every shared governor (tests: each starts with fresh budgets)."""
    _GOVERNORS.clear()


__all__ = [
    "Clock", "Governor", "Limits",
    "REAL_CLOCK", "VirtualClock", "clear_governors", "credential_fingerprint",
    "governors", "parse_delay", "pick_headers", "shared_governor",
]
