"""Field paths into vendor records and canonical dicts, as mapping files write them.

Grammar: dot-separated segments; a segment is a key (``properties.vat_number``), a list index
(``Addresses[0]``) or a list selector (``Addresses[AddressType=POBOX]``: the first element whose
``AddressType`` is ``POBOX``; writing through it creates that element with the key set). Paths are
parsed once into tuples, so applying a compiled mapping does no string work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_SEGMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)(?:\[(?P<sel>[^\]]+)\])?$")
MISSING = object()


class PathError(ValueError):
    """A path that does not parse."""


@dataclass(frozen=True)
class Segment:
    key: str
    index: int | None = None
    match: tuple[str, str] | None = None
    """(field, value) of a list selector."""

    def __str__(self) -> str:
        if self.index is not None:
            return f"{self.key}[{self.index}]"
        if self.match is not None:
            return f"{self.key}[{self.match[0]}={self.match[1]}]"
        return self.key


@lru_cache(maxsize=4096)
def parse(path: str) -> tuple[Segment, ...]:
    if not path or path.strip() != path:
        raise PathError(f"empty or padded path {path!r}")
    out = []
    for part in path.split("."):
        m = _SEGMENT.match(part)
        if m is None:
            raise PathError(f"bad segment {part!r} in path {path!r}")
        sel = m.group("sel")
        if sel is None:
            out.append(Segment(m.group("key")))
        elif sel.isdigit():
            out.append(Segment(m.group("key"), index=int(sel)))
        elif "=" in sel:
            field, value = sel.split("=", 1)
            if not field or not value:
                raise PathError(f"bad selector [{sel}] in path {path!r}")
            out.append(Segment(m.group("key"), match=(field, value)))
        else:
            raise PathError(f"bad selector [{sel}] in path {path!r}: use [N] or [Field=Value]")
    return tuple(out)


def get(doc: Any, segments: tuple[Segment, ...]) -> Any:
    """The value at the path, or :data:`MISSING`."""
    node = doc
    for seg in segments:
        if isinstance(node, dict):
            node = node.get(seg.key, MISSING)
        else:
            node = getattr(node, seg.key, MISSING)
        if node is MISSING or node is None:
            return MISSING
        if seg.index is not None or seg.match is not None:
            if not isinstance(node, list):
                return MISSING
            node = _select(node, seg)
            if node is MISSING:
                return MISSING
    return node


def _select(items: list, seg: Segment) -> Any:
    if seg.index is not None:
        return items[seg.index] if seg.index < len(items) else MISSING
    field, value = seg.match  # type: ignore[misc]
    for item in items:
        if isinstance(item, dict) and str(item.get(field)) == value:
            return item
    return MISSING


def put(doc: dict, segments: tuple[Segment, ...], value: Any) -> None:
    """Set the value at the path, creating dicts (and selected list elements) on the way."""
    node = doc
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg.index is None and seg.match is None:
            if last:
                node[seg.key] = value
                return
            node = node.setdefault(seg.key, {})
            continue
        items = node.setdefault(seg.key, [])
        found = _select(items, seg)
        if found is MISSING:
            if seg.index is not None:
                while len(items) <= seg.index:
                    items.append({})
                found = items[seg.index]
            else:
                found = {seg.match[0]: seg.match[1]}  # type: ignore[index]
                items.append(found)
        if last:
            raise PathError(f"a path cannot end in a list element: {'.'.join(map(str, segments))}")
        node = found


def text(segments: tuple[Segment, ...]) -> str:
    return ".".join(map(str, segments))
