"""The exceptions filter: free text plus ``key:value`` facets, parsed once for the console, the CLI
and the engine (a bulk command stores the filter text and the engine parses it again).

Grammar: whitespace-separated tokens, combined with AND. A token ``key:value`` whose key is a facet
name is a facet; ``"a phrase"`` is one free-text term; anything else is a free-text word. Each free
text term must appear (literally, case-insensitive) in the business key, the title or the last error.

Facets (a comma means "any of"; the same key twice also means "any of"):

- ``workflow:quote_to_order``  ``category:validation,rate_limit``  ``system:xero``
- ``state:open`` (open, acknowledged, resolved, closed, or ``all``; default open and acknowledged)
- ``owner:me``, ``owner:none``, ``owner:bob``
- ``age:>1h``, ``age:<30m``, ``age:>2d`` (units s, m, h, d; both bounds may be given)

Pure standard library: :func:`parse` raises :class:`FilterError` with a message for the person typing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CATEGORIES = ("validation", "rate_limit", "auth", "downstream_5xx", "timeout", "rejected_by_target", "sequencing")
STATES = ("open", "acknowledged", "resolved", "closed")
DEFAULT_STATES = ("open", "acknowledged")
FACETS = ("workflow", "category", "system", "state", "owner", "age")
SORTS = {"newest": "newest first", "oldest": "oldest first", "category": "by category", "workflow": "by workflow"}
"""Sort key -> how the console says it, in the order ``s`` cycles through them."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_AGE = re.compile(r"^([<>])(\d+)([smhd])$")
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_KEY = re.compile(r"^([A-Za-z_]+):(.*)$", re.S)
AGE_HELP = "age: use >1h, <30m, >2d"


class FilterError(ValueError):
    """A token the filter cannot use; the message says what to type instead."""


@dataclass(frozen=True)
class ExceptionFilter:
    text: tuple[str, ...] = ()
    """Free-text terms; each must match the business key, title or last error."""
    workflows: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    states: tuple[str, ...] = DEFAULT_STATES
    owners: tuple[str, ...] = ()
    """Names; ``me`` is the operator, ``""`` is nobody (``owner:none``)."""
    older_than_s: float | None = None
    """``age:>N``: created more than N seconds ago."""
    younger_than_s: float | None = None
    """``age:<N``: created less than N seconds ago."""
    facets: dict[str, str] = field(default_factory=dict, compare=False)
    """The facet tokens as typed, for saying what the filter is."""

    @property
    def is_default(self) -> bool:
        return self == ExceptionFilter()


def _values(key: str, raw: str) -> list[str]:
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        raise FilterError(f"{key}: needs a value, e.g. {_EXAMPLES[key]}")
    return values


_EXAMPLES = {
    "workflow": "workflow:quote_to_order", "category": "category:validation", "system": "system:xero",
    "state": "state:open", "owner": "owner:me", "age": "age:>1h",
}


def parse_age(raw: str) -> tuple[str, float]:
    """``">1h"`` -> (">", 3600.0)."""
    m = _AGE.match(raw.strip().replace(" ", ""))
    if m is None:
        raise FilterError(AGE_HELP)
    return m.group(1), float(int(m.group(2)) * _UNITS[m.group(3)])


def parse(text: str) -> ExceptionFilter:
    """Parse what was typed in the `/` filter.

    Args:
        text: free text and ``key:value`` tokens.
    Returns:
        The filter (the default one for empty text: open and acknowledged exceptions).
    Raises:
        FilterError: an unknown facet key, a bad value; the message names the token and the fix.
    """
    words: list[str] = []
    sets: dict[str, list[str]] = {}
    typed: dict[str, str] = {}
    older = younger = None
    for m in _TOKEN.finditer(text or ""):
        if m.group(1) is not None:
            if m.group(1).strip():
                words.append(m.group(1).strip())
            continue
        token = m.group(2)
        km = _KEY.match(token)
        if km is None or km.group(2).startswith("/"):  # not key:value (a URL is text)
            words.append(token)
            continue
        key, raw = km.group(1).lower(), km.group(2)
        if key not in FACETS:
            raise FilterError(f"unknown filter {km.group(1)}: — use {', '.join(f + ':' for f in FACETS)} or plain text")
        typed[key] = f"{typed[key]} {token}" if key in typed else token
        if key == "age":
            for part in _values(key, raw):
                op, seconds = parse_age(part)
                if op == ">":
                    older = seconds if older is None else max(older, seconds)
                else:
                    younger = seconds if younger is None else min(younger, seconds)
            continue
        values = _values(key, raw)
        if key == "category":
            bad = [v for v in values if v.lower() not in CATEGORIES]
            if bad:
                raise FilterError(f"category:{bad[0]} is not a category — one of {', '.join(CATEGORIES)}")
            values = [v.lower() for v in values]
        elif key == "state":
            lowered = [v.lower() for v in values]
            if "all" in lowered or "any" in lowered:
                values = list(STATES)
            else:
                bad = [v for v in lowered if v not in STATES]
                if bad:
                    raise FilterError(f"state:{bad[0]} is not a state — one of {', '.join(STATES)}, all")
                values = lowered
        elif key == "owner":
            values = ["" if v.lower() == "none" else ("me" if v.lower() == "me" else v) for v in values]
        sets.setdefault(key, [])
        sets[key] += [v for v in values if v not in sets[key]]
    if older is not None and younger is not None and older >= younger:
        raise FilterError(f"age: nothing is older than {_fmt(older)} and younger than {_fmt(younger)}")
    return ExceptionFilter(
        text=tuple(words), workflows=tuple(sets.get("workflow", ())), categories=tuple(sets.get("category", ())),
        systems=tuple(sets.get("system", ())), states=tuple(sets.get("state", DEFAULT_STATES)),
        owners=tuple(sets.get("owner", ())), older_than_s=older, younger_than_s=younger, facets=typed,
    )


def check(text: str) -> str | None:
    """The error :func:`parse` would raise for ``text``, or None when it parses."""
    try:
        parse(text)
    except FilterError as exc:
        return str(exc)
    return None


def _fmt(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
