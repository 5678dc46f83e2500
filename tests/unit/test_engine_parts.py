"""Small engine parts: backoff, event parsing and routing, fault points."""

from __future__ import annotations

import random

import orjson
import pytest

from opsconsole.engine.backoff import delay
from opsconsole.engine.events import parse_hubspot, route_hubspot
from opsconsole.engine.faultpoints import FaultPoints


def test_backoff_grows_with_jitter_and_honours_retry_after():
    rng = random.Random(1)
    d = [delay(n, base_s=0.1, max_s=2, rng=rng) for n in range(1, 8)]
    assert 0.05 <= d[0] <= 0.1 and 1.0 <= d[-1] <= 2.0
    assert 7.0 <= delay(1, base_s=0.1, max_s=2, retry_after=7, rng=rng) <= 8.0


def test_quote_approval_routes_to_quote_to_order():
    ev = {"eventId": 1, "subscriptionType": "object.propertyChange", "objectId": 55, "objectTypeId": "0-14",
          "propertyName": "hs_status", "propertyValue": "APPROVED"}
    assert route_hubspot(ev) == ("quote_to_order", "hubspot:quote:55", True)
    assert route_hubspot({**ev, "propertyValue": "DRAFT"}) is None


def test_a_delivery_of_several_events_makes_several_rows():
    body = orjson.dumps([{"eventId": i, "subscriptionType": "company.propertyChange", "objectId": 3,
                          "occurredAt": 10 + i} for i in range(3)])
    events = parse_hubspot(body, {})
    assert [e.event_key for e in events] == ["0", "1", "2"]
    assert events[1].route == ("company_to_contact", "hubspot:company:3:11", False)


@pytest.mark.parametrize("body,problem", [
    (b"not json", "body is not JSON"),
    (b"{}", "lacks eventId, subscriptionType, objectId"),
    (b"[]", "not a non-empty JSON array"),
    (b'[{"eventId": 1, "objectId": 2}]', "event 0 lacks subscriptionType"),
])
def test_malformed_bodies_become_events_with_a_problem(body, problem):
    (ev,) = parse_hubspot(body, {})
    assert problem in ev.problem and ev.event_key.startswith("malformed:") and ev.raw == body


def test_unknown_fault_point_is_refused():
    with pytest.raises(ValueError, match="unknown fault points: nowhere"):
        FaultPoints({"nowhere": 1.0})


def test_a_dead_local_lease_holder_is_recognised():
    import os
    import socket
    import subprocess
    import sys

    from opsconsole.cli import _holder_alive

    host = socket.gethostname()
    assert _holder_alive(f"console:{host}:{os.getpid()}")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not _holder_alive(f"console:{host}:{gone.stdout.strip()}")
    assert _holder_alive("worker:another-host:1")  # cannot tell for another host: trust the lease


def test_new_ids_share_their_minute_and_stay_valid(monkeypatch):
    """Correlation ids are W3C trace ids (32 hex) and canonical ids keep their shape. Both begin with
    the minute (modulo 4096), so an index keyed by them takes a minute's new ids in one region, and
    go on at random, so two ids of the same minute still differ right after that prefix."""
    import re
    import time

    from opsconsole.engine import records, tracing

    minute = 4096 * 7324  # (a multiple of 4096 minutes: its bucket is 000)
    clock = iter([minute * 60.0, minute * 60 + 30.0, minute * 60 + 61.0] * 2 + [minute * 60.0])
    monkeypatch.setattr(time, "time", lambda: next(clock))
    for made, shape in (([tracing.new_correlation_id() for _ in range(3)], r"[0-9a-f]{32}"),
                        ([records.ordered_id("cus_").removeprefix("cus_") for _ in range(3)], r"[0-9a-f]{24}")):
        assert all(re.fullmatch(shape, m) for m in made)
        assert [m[:3] for m in made] == ["000", "000", "001"]
        assert made[0][3:9] != made[1][3:9]
    trace_id = tracing.new_correlation_id()
    assert tracing.parse_traceparent(tracing.traceparent(trace_id, tracing.new_span_id()))[0] == trace_id
