"""The transforms a mapping file may name, each a (read, write) pair.

``read`` turns a vendor value into the canonical one; ``write`` turns it back for an outbound
request. A file lists transforms in read order; writes apply the ``write`` halves in reverse.
Some take an argument after a colon (``truncate:100``, ``lookup:country_currency``). Empty values
(None, "") pass through untouched, so ``required`` and ``default`` decide what empty means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from canonical.identity import normalise_domain, normalise_tax_number
from canonical.money import ISO_4217, parse_amount


class TransformError(ValueError):
    """A value the transform cannot take (the message says which and why)."""


@dataclass(frozen=True)
class Transform:
    name: str
    read: Callable[[Any], Any]
    write: Callable[[Any], Any]


def _same(fn: Callable[[Any], Any]) -> tuple[Callable, Callable]:
    return fn, fn


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _currency(value: Any) -> str:
    code = _str(value).strip().upper()
    if code not in ISO_4217:
        raise TransformError(f"{value!r} is not an ISO 4217 currency")
    return code


def _date_read(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date()
    if isinstance(value, date):
        return value
    text = _str(value).strip()
    if text.isdigit():  # HubSpot dates are epoch milliseconds
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise TransformError(f"{value!r} is not a date") from exc


def _date_write(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else _str(value)


def _datetime_read(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TransformError(f"{value!r} has no time zone")
        return value.astimezone(timezone.utc)
    text = _str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TransformError(f"{value!r} is not a timestamp") from exc
    if parsed.tzinfo is None:
        raise TransformError(f"{value!r} has no time zone")
    return parsed.astimezone(timezone.utc)


def _datetime_write(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return _str(value)


def _epoch_ms_write(value: Any) -> str:
    if isinstance(value, datetime):
        return str(int(value.timestamp() * 1000))
    return _str(value)


def _decimal_read(value: Any) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise TransformError(str(exc)) from exc


def _number_write(value: Any) -> int | float:
    """A decimal as a JSON number, for vendors whose descriptions type amounts as ``number`` (Xero).

    Exact or refused: an integral value is written as an int; any other only when the shortest float
    representation reads back as the same decimal (true up to 15 significant digits), so the JSON
    text the vendor receives is the decimal itself. No arithmetic ever happens on the float."""
    number = _decimal_read(value)
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    if Decimal(repr(as_float)) != number:
        raise TransformError(f"{value!r} cannot be written exactly as a JSON number")
    return as_float


def _bool_read(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise TransformError(f"{value!r} is not a boolean")


def _truncate(n: int) -> Callable[[Any], Any]:
    return lambda value: _str(value)[:n]


def _split_name(value: Any) -> tuple[str, str]:
    """A one-field full name (Intercom's ``name``) as (given names, family name): the family name is
    the last word; a single word is a given name."""
    words = _str(value).split()
    if len(words) < 2:
        return (words[0] if words else "", "")
    return " ".join(words[:-1]), words[-1]


_SIMPLE: dict[str, tuple[Callable, Callable]] = {
    "trim": _same(lambda v: _str(v).strip()),
    "upper": _same(lambda v: _str(v).upper()),
    "lower": _same(lambda v: _str(v).lower()),
    "str": _same(_str),
    "tax_number": _same(lambda v: normalise_tax_number(_str(v))),
    "domain": _same(lambda v: normalise_domain(_str(v))),
    "currency": _same(_currency),
    "decimal": (_decimal_read, lambda v: _str(v)),
    "number": (_decimal_read, _number_write),
    "date": (_date_read, _date_write),
    "datetime": (_datetime_read, _datetime_write),
    "datetime_ms": (_datetime_read, _epoch_ms_write),
    "bool": (_bool_read, lambda v: bool(v)),
    # reads of a one-field full name; their writes pass the value through (a template joins the parts)
    "name_given": (lambda v: _split_name(v)[0], _str),
    "name_family": (lambda v: _split_name(v)[1], _str),
}

NAMES = (*_SIMPLE, "truncate:N", "lookup:TABLE")


def _guard(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None or value == "":
            return value
        return fn(value)

    return apply


def build(spec: str, lookups: dict[str, dict[str, str]]) -> Transform:
    """The transform named by ``spec``; raises ValueError naming what is wrong."""
    name, _, arg = spec.partition(":")
    if name in _SIMPLE and not arg:
        read, write = _SIMPLE[name]
        return Transform(spec, _guard(read), _guard(write))
    if name == "truncate":
        if not arg.isdigit() or int(arg) < 1:
            raise ValueError(f"truncate needs a positive length, e.g. truncate:100 (got {spec!r})")
        fn = _truncate(int(arg))
        return Transform(spec, _guard(fn), _guard(fn))
    if name == "lookup":
        table = lookups.get(arg)
        if table is None:
            raise ValueError(f"no lookup table {arg!r} (define [lookups.{arg}])")
        inverse: dict[str, str] = {}
        for key, value in table.items():
            if key == "*":
                continue
            inverse.setdefault(value, key)  # the first key listed for a value is its written form

        fallback = table.get("*")  # a "*" key answers for every value not listed

        def read(value: Any) -> Any:
            found = table.get(_str(value), fallback)
            if found is None:
                raise TransformError(f"{value!r} is not in lookup table {arg!r}")
            return found

        def write(value: Any) -> Any:
            try:
                return inverse[_str(value)]
            except KeyError:
                raise TransformError(f"{value!r} has no entry in the inverse of lookup table {arg!r}") from None

        return Transform(spec, _guard(read), _guard(write))
    raise ValueError(f"unknown transform {spec!r} (known: {', '.join(NAMES)})")
