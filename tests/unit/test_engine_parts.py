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


def test_new_ids_sort_by_time_and_stay_valid(monkeypatch):
    """Correlation ids are W3C trace ids (32 hex, not all zeros) and canonical ids keep their shape;
    both begin with the time, so ids made later sort after (their indexes are appended to)."""
    import re
    import time

    from opsconsole.engine import records, tracing

    clock = iter([1_800_000_000.0, 1_800_000_001.0, 1_800_000_000.0, 1_800_000_000.002])
    monkeypatch.setattr(time, "time", lambda: next(clock))
    early, late = tracing.new_correlation_id(), tracing.new_correlation_id()
    assert all(re.fullmatch(r"[0-9a-f]{32}", c) for c in (early, late)) and early < late
    assert tracing.parse_traceparent(tracing.traceparent(late, tracing.new_span_id()))[0] == late
    first, second = records.ordered_id("cus_"), records.ordered_id("cus_")
    assert all(re.fullmatch(r"cus_[0-9a-f]{24}", c) for c in (first, second)) and first < second
