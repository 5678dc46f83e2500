"""Xero's rate limits for the sandbox: per-tenant minute/day/concurrent and per-app minute windows.

Enforced only under the ``vendor`` profile; in every profile the three ``X-*Limit-Remaining`` headers
are computed and sent. Also Xero's 429 and 503 responses.
"""

from __future__ import annotations

import time
from collections import deque

from starlette.responses import Response

from connectors.sandbox import SlidingWindow

RATE_LIMIT_BODY = "oauth_problem=rate_limit_exceeded&oauth_problem_advice=please wait before retrying the xero api"
UNAVAILABLE_BODY = "The Xero API is currently unavailable. Please try again later."
# Xero's documented limits, and the generous ones reported (never enforced) outside the vendor profile.
VENDOR_LIMITS = {"minute": 60, "day": 5000, "appminute": 10_000, "concurrent": 5}
DEMO_LIMITS = {"minute": 6000, "day": 5_000_000, "appminute": 100_000, "concurrent": 1000}


class _Counter:
    """Requests in a rolling window, counted in 60 buckets (O(1) time and memory per hit).

    Used for the headers when nothing is enforced, where hundreds of calls a second must stay cheap.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.bucket_s = window_s / 60
        self.buckets: deque[list] = deque()  # [bucket index, count]
        self.total = 0

    def hit(self, now: float) -> int:
        index = int(now // self.bucket_s)
        if self.buckets and self.buckets[-1][0] == index:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([index, 1])
        self.total += 1
        oldest = index - 60
        while self.buckets and self.buckets[0][0] < oldest + 1:
            self.total -= self.buckets.popleft()[1]
        return self.total


class RateLimits:
    """Per-tenant minute/day/concurrent and per-app minute accounting; enforced only when asked."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.minute: dict[str, SlidingWindow] = {}
        self.day: dict[str, SlidingWindow] = {}
        self.app = SlidingWindow(VENDOR_LIMITS["appminute"], 60)
        self.counts = {"minute": _Counter(60), "day": _Counter(86_400), "appminute": _Counter(60)}
        self.in_flight: dict[str, int] = {}
        self.rejected = 0

    def enter(self, tenant: str, enforce: bool, *, unthrottled: bool = False) -> tuple[str | None, float, dict[str, str]]:
        """Count a call: (problem or None, retry-after seconds, rate-limit headers). ``unthrottled``
        (the benchmarks' profile) counts nothing and always reports the whole generous budget, so a
        client's governor never slows down for it."""
        if unthrottled:
            self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
            return None, 0.0, self.headers(dict(DEMO_LIMITS))
        if not enforce:
            now = time.monotonic()
            used = {k: c.hit(now) for k, c in self.counts.items()}
            self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
            return None, 0.0, self.headers({k: DEMO_LIMITS[k] - used[k] for k in used})
        if self.in_flight.get(tenant, 0) >= VENDOR_LIMITS["concurrent"]:
            return self._reject("concurrent", 1.0, tenant)
        minute = self.minute.setdefault(tenant, SlidingWindow(VENDOR_LIMITS["minute"], 60))
        ok, min_left, wait = minute.hit(tenant)
        if not ok:
            return self._reject("minute", wait, tenant)
        day = self.day.setdefault(tenant, SlidingWindow(VENDOR_LIMITS["day"], 86_400))
        ok, day_left, day_wait = day.hit(tenant)
        if not ok:
            return self._reject("day", day_wait, tenant)
        ok, app_left, app_wait = self.app.hit("app")
        if not ok:
            return self._reject("appminute", app_wait, tenant)
        self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
        return None, 0.0, self.headers({"minute": min_left, "day": day_left, "appminute": app_left})

    def leave(self, tenant: str) -> None:
        self.in_flight[tenant] = max(0, self.in_flight.get(tenant, 1) - 1)

    def _reject(self, problem: str, wait: float, tenant: str) -> tuple[str, float, dict[str, str]]:
        self.rejected += 1
        remaining = {"minute": self._left(self.minute, tenant), "day": self._left(self.day, tenant),
                     "appminute": max(0, self.app.limit - len(self.app._hits.get("app", [])))}
        if problem in remaining:
            remaining[problem] = 0
        return problem, max(1.0, float(int(wait + 0.999))), self.headers(remaining)

    @staticmethod
    def _left(windows: dict[str, SlidingWindow], tenant: str) -> int:
        w = windows.get(tenant)
        return w.limit - len(w._hits.get(tenant, [])) if w else VENDOR_LIMITS["minute"]

    @staticmethod
    def headers(remaining: dict[str, int]) -> dict[str, str]:
        return {"X-MinLimit-Remaining": str(max(0, remaining["minute"])),
                "X-DayLimit-Remaining": str(max(0, remaining["day"])),
                "X-AppMinLimit-Remaining": str(max(0, remaining["appminute"]))}


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def rate_limited(retry_after: float, problem: str = "minute", headers: dict[str, str] | None = None) -> Response:
    """Xero's 429: a text body, ``Retry-After`` in seconds and which limit was hit."""
    hdrs = {"Retry-After": _seconds(retry_after), "X-Rate-Limit-Problem": problem, **(headers or {})}
    return Response(RATE_LIMIT_BODY, status_code=429, media_type="text/plain", headers=hdrs)


def unavailable() -> Response:
    return Response(UNAVAILABLE_BODY, status_code=503, media_type="text/plain")


__all__ = ["DEMO_LIMITS", "VENDOR_LIMITS", "RateLimits", "rate_limited", "unavailable"]
