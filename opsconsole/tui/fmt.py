"""Compact formatting for cells: ages, durations, truncation."""

from __future__ import annotations


def age(seconds: float | None) -> str:
    """An age as one compact unit: "4s", "3m", "2h", "5d"."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def duration_ms(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f}" if ms >= 10 else f"{ms:.1f}"


def trunc(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def count_of(n: int, noun: str) -> str:
    """``1 open exception``, ``3 open exceptions``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
