"""Correlation: one W3C trace per business transaction; its trace id is the correlation id."""

from __future__ import annotations

import random
import time

# trace and span ids must be unique, not secret (W3C Trace Context: random, not all zeros); the
# interpreter's generator is seeded from the OS and costs a fraction of a getrandom call each


def minute_bucket() -> int:
    """The minute, modulo 4096: the first three hex digits of new ids. Ids made in the same minutes
    share them, so each index keyed by such ids takes this minute's inserts in one small region
    (hot pages, few WAL frames per commit) instead of one random page each; the rest of the id is
    random, so ids still differ at a glance where a pane shows only their start."""
    return int(time.time() // 60) & 0xFFF


def new_correlation_id() -> str:
    """A W3C trace id: 32 hex digits, the :func:`minute_bucket` then 116 random bits."""
    return f"{minute_bucket():03x}{random.getrandbits(116) or 1:029x}"


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
