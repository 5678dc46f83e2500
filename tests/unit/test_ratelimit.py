"""The rate-limit governors on a virtual clock: header parsing, slowing down before a 429, honouring a
429's wait, sharing per credential, and Xero's 5-concurrent cap. Nothing here really sleeps."""

from __future__ import annotations

import asyncio
import gc

import httpx
import pytest

from connectors.errors import RateLimitedError
from connectors.hubspot.client import HubSpotClient
from connectors.intercom.client import IntercomClient
from connectors.ratelimit import (
    REAL_CLOCK, HubSpotGovernor, IntercomGovernor, VirtualClock, XeroGovernor, credential_fingerprint, governors,
    pick_headers, shared_governor,
)
from connectors.xero.client import XeroClient

WALL = 1_700_000_000.0


def hubspot_headers(remaining: int, max_: int = 100, interval_ms: int = 10_000) -> dict[str, str]:
    return {"X-HubSpot-RateLimit-Max": str(max_), "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
            "X-HubSpot-RateLimit-Daily": "500000", "X-HubSpot-RateLimit-Daily-Remaining": "499000"}


def test_headers_are_read_case_insensitively_in_one_pass():
    wanted = {b"x-minlimit-remaining": "X-MinLimit-Remaining", b"retry-after": "Retry-After"}
    lower = httpx.Headers({"x-minlimit-remaining": "5", "content-type": "application/json"})
    assert pick_headers(lower, wanted) == {"X-MinLimit-Remaining": "5"}
    assert pick_headers({"Retry-After": "3"}, wanted) == {"Retry-After": "3"}  # any mapping
    gov = XeroGovernor(clock=VirtualClock())
    gov.observe(200, httpx.Response(200, headers={"x-minlimit-remaining": "7"}).headers)
    assert gov.rate_limit.minute_remaining == 7


# --- HubSpot -------------------------------------------------------------------------------------------
def test_hubspot_reads_its_headers():
    gov = HubSpotGovernor(clock=VirtualClock())
    gov.observe(200, hubspot_headers(42))
    rl = gov.rate_limit
    assert (rl.max, rl.remaining, rl.interval_ms, rl.daily, rl.daily_remaining) == (100, 42, 10_000, 500_000, 499_000)
    state = gov.state()
    assert state["budget_left"] == 42 and state["limit"] == 100 and state["reserve"] == 2
    assert state["window_resets_in_s"] == 10.0 and state["blocked_for_s"] == 0.0
    gov.observe(200, {"Content-Type": "application/json"})  # an answer without the headers changes nothing
    assert gov.rate_limit.remaining == 42


async def test_hubspot_slows_down_before_the_window_is_spent():
    clock = VirtualClock()
    gov = HubSpotGovernor(clock=clock)
    gov.observe(200, hubspot_headers(4))  # the window starts at this first answer
    clock.advance(3)
    await gov.before_request()  # 4 left, above the reserve of 2: sent, 3 left
    await gov.before_request()  # 3 left: sent, 2 left
    assert clock.sleeps == [] and gov.rate_limit.remaining == 2
    await gov.before_request()  # at the reserve: wait for the window's end, 10 s after it started
    assert clock.sleeps == [7.0] and gov.rate_limit.waits == 1
    await gov.before_request()  # the budget is unknown until HubSpot's next answer: no further wait
    assert clock.sleeps == [7.0]


async def test_hubspot_429_blocks_for_retry_after_or_one_interval():
    clock = VirtualClock()
    gov = HubSpotGovernor(clock=clock)
    gov.observe(429, {"Retry-After": "7", **hubspot_headers(0)})
    assert gov.retry_after(429, {"Retry-After": "7"}) == 7.0 and gov.rate_limit.throttled == 1
    assert gov.wait_s() == 7.0
    await gov.before_request()
    assert clock.sleeps == [7.0]
    gov.observe(429, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})  # no Retry-After: one interval
    await gov.before_request()
    assert clock.sleeps == [7.0, 10.0] and gov.rate_limit.throttled == 2


async def test_a_429_holds_every_request_sharing_the_governor():
    clock = VirtualClock()
    gov = HubSpotGovernor(clock=clock)
    gov.observe(429, {"Retry-After": "5"})
    await asyncio.gather(*(gov.before_request() for _ in range(3)))
    assert clock.sleeps[0] == 5.0 and clock.monotonic() >= 1005.0 and gov.rate_limit.waits >= 1


async def test_a_wait_longer_than_max_wait_is_refused_not_slept():
    clock = VirtualClock()
    gov = XeroGovernor(clock=clock, max_wait_s=60)
    gov.observe(429, {"Retry-After": "3600", "X-Rate-Limit-Problem": "day", "X-DayLimit-Remaining": "0"})
    with pytest.raises(RateLimitedError) as info:
        await gov.before_request()
    assert info.value.retry_after == 3600 and info.value.system == "xero" and info.value.status is None
    assert clock.sleeps == []


async def test_reserve_zero_waits_only_for_an_exhausted_window():
    clock = VirtualClock()
    gov = HubSpotGovernor(clock=clock, reserve=0)
    gov.observe(200, hubspot_headers(1))
    await gov.before_request()
    assert clock.sleeps == [] and gov.rate_limit.remaining == 0
    await gov.before_request()
    assert clock.sleeps == [10.0]
    assert HubSpotGovernor(reserve=5).reserve_calls(100) == 5 and HubSpotGovernor().reserve_calls(10_000) == 200


# --- Xero ----------------------------------------------------------------------------------------------
def test_xero_reads_its_headers_and_the_problem():
    gov = XeroGovernor(clock=VirtualClock())
    gov.observe(200, {"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "4999", "X-AppMinLimit-Remaining": "9999"})
    rl = gov.rate_limit
    assert (rl.minute_remaining, rl.day_remaining, rl.app_minute_remaining, rl.remaining) == (59, 4999, 9999, 59)
    gov.observe(429, {"Retry-After": "2", "X-Rate-Limit-Problem": "minute", "X-MinLimit-Remaining": "0"})
    assert (rl.problem, rl.retry_after, rl.throttled, rl.minute_remaining) == ("minute", 2.0, 1, 0)
    assert gov.state()["blocked_for_s"] == 2.0 and gov.state()["max_concurrent"] == 5


async def test_xero_slows_down_before_the_minute_is_spent():
    clock = VirtualClock()
    gov = XeroGovernor(clock=clock)
    gov.observe(200, {"X-MinLimit-Remaining": "3", "X-DayLimit-Remaining": "4000", "X-AppMinLimit-Remaining": "9000"})
    clock.advance(20)
    await gov.before_request()
    assert clock.sleeps == []
    await gov.before_request()  # 2 left of 60, the reserve: wait out the minute from the first answer
    assert clock.sleeps == [40.0]


async def test_xero_slows_down_when_the_apps_minute_is_spent():
    clock = VirtualClock()
    gov = XeroGovernor(clock=clock)
    gov.observe(200, {"X-MinLimit-Remaining": "50", "X-AppMinLimit-Remaining": "150"})  # reserve 200 of 10 000
    await gov.before_request()
    assert clock.sleeps == [60.0]


async def test_xero_retry_after_is_honoured_and_then_the_budget_is_unknown():
    clock = VirtualClock()
    gov = XeroGovernor(clock=clock)
    gov.observe(200, {"X-MinLimit-Remaining": "1"})
    gov.observe(429, {"Retry-After": "7", "X-Rate-Limit-Problem": "minute", "X-MinLimit-Remaining": "0"})
    await gov.before_request()
    assert clock.sleeps == [7.0]  # the vendor's word, not the estimated minute
    await gov.before_request()
    assert clock.sleeps == [7.0]


async def test_xero_caps_requests_in_flight_at_five():
    gov = XeroGovernor(clock=VirtualClock())
    in_flight = peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        slot = gov.slot()
        await slot.acquire()
        try:
            in_flight += 1
            peak = max(peak, in_flight)
            assert gov.state()["in_flight"] == in_flight
            for _ in range(3):
                await asyncio.sleep(0)
            in_flight -= 1
        finally:
            slot.release()

    await asyncio.gather(*(request() for _ in range(12)))
    assert peak == 5 and gov.state()["in_flight"] == 0


def test_xero_slot_follows_the_running_loop():
    gov = XeroGovernor()

    async def hold() -> object:
        async with gov.slot():
            assert gov.in_flight == 1
        return gov._slot

    first, second = asyncio.run(hold()), asyncio.run(hold())
    assert first is not second and gov.in_flight == 0  # a semaphore belongs to one loop


# --- Intercom ------------------------------------------------------------------------------------------
def intercom_headers(remaining: int, reset: float, limit: int = 100) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset))}


def test_intercom_reads_its_headers():
    gov = IntercomGovernor(clock=VirtualClock(wall=WALL))
    gov.observe(200, intercom_headers(80, WALL + 6))
    rl = gov.rate_limit
    assert (rl.limit, rl.remaining, rl.reset_at) == (100, 80, WALL + 6)
    assert gov.state()["window_resets_in_s"] == 6.0


async def test_intercom_waits_for_the_reset_epoch_when_the_budget_is_spent():
    clock = VirtualClock(wall=WALL)
    gov = IntercomGovernor(clock=clock)
    gov.observe(200, intercom_headers(3, WALL + 6))
    await gov.before_request()
    assert clock.sleeps == []
    await gov.before_request()  # 2 left of 100: the reserve
    assert clock.sleeps == [6.0] and clock.time() == WALL + 6


async def test_intercom_429_waits_until_the_reset():
    clock = VirtualClock(wall=WALL)
    gov = IntercomGovernor(clock=clock)
    headers = intercom_headers(0, WALL + 7)
    gov.observe(429, headers)
    assert gov.retry_after(429, headers) == 7.0 and gov.rate_limit.throttled == 1
    await gov.before_request()
    assert clock.sleeps == [7.0]
    bogus = intercom_headers(0, WALL + 10_000)
    assert gov.retry_after(429, bogus) == gov.max_wait_s  # a skewed reset is capped


# --- one governor per vendor and credential ------------------------------------------------------------
async def test_clients_of_one_credential_share_a_governor():
    url = "http://127.0.0.1:1"
    a, b = HubSpotClient(url, token="t1", transport="httpx"), HubSpotClient(url + "/", token="t1", transport="httpx")
    other = HubSpotClient(url, token="t2", transport="httpx")
    x1 = XeroClient(url, token="access-1", tenant_id="tenant", transport="httpx")
    x2 = XeroClient(url, token="access-2", tenant_id="tenant", transport="httpx")  # a rotated access token
    i1 = IntercomClient(url, token="t1", transport="httpx")
    try:
        assert a.governor is b.governor and a.governor is not other.governor
        assert x1.governor is x2.governor and x1.rate_limit is x2.rate_limit
        assert i1.governor is not a.governor  # per vendor too
        a.governor.observe(429, {"Retry-After": "5"})
        assert b.governor.wait_s() > 0 and other.governor.wait_s() == 0
        keys = governors()
        assert ("hubspot", credential_fingerprint(url, "t1")) in keys
        assert all("t1" not in fp and "tenant" not in fp for _, fp in keys)  # never the credential itself
        assert a.governor.clock is REAL_CLOCK
        private = HubSpotClient(url, token="t1", transport="httpx", clock=VirtualClock())
        assert private.governor is not a.governor  # a test's clock never joins the shared one
        await private.aclose()
    finally:
        for c in (a, b, other, x1, x2, i1):
            await c.aclose()


def test_shared_governors_live_as_long_as_a_client_holds_them():
    gov = shared_governor("hubspot", "fp", HubSpotGovernor)
    assert shared_governor("hubspot", "fp", HubSpotGovernor) is gov
    del gov
    gc.collect()
    assert ("hubspot", "fp") not in governors()
