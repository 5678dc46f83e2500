"""Retry delays: exponential backoff with full jitter, never shorter than the vendor's Retry-After."""

from __future__ import annotations

import random


def delay(attempt: int, *, base_s: float, max_s: float, retry_after: float | None = None,
          rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
    rng = rng or random
    ceiling = min(max_s, base_s * (2 ** (attempt - 1)))
    jittered = rng.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        # the vendor said when: wait that long, plus a little jitter so a burst does not return at once
        return retry_after + rng.uniform(0, min(1.0, retry_after * 0.1 + 0.05))
    return jittered
