"""Correlation: one W3C trace per business transaction; its trace id is the correlation id."""

from __future__ import annotations

import random
import time

# trace and span ids must be unique, not secret (W3C Trace Context: random, not all zeros); the
# interpreter's generator is seeded from the OS and costs a fraction of a getrandom call each


def new_correlation_id() -> str:
    """32 hex digits: the time in seconds, then 96 random bits (the shape of AWS X-Ray's trace ids,
    valid W3C trace ids). Ids of the same moments sort together, so the runs' and spans' indexes on
    the correlation id are written near their end, not on a random page each."""
    return f"{int(time.time()):08x}{random.getrandbits(96):024x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def traceparent(correlation_id: str, span_id: str) -> str:
    """The ``traceparent`` header value (version 00, sampled)."""
    return f"00-{correlation_id}-{span_id}-01"


def parse_traceparent(value: str) -> tuple[str, str] | None:
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    return parts[1], parts[2]
