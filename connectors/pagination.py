"""Paginators as their own types (singer-sdk style): one per vendor paging scheme.

Each keeps where it is and knows when it is done: ``params()`` (and, for Xero, ``headers()``) say
what the next request sends, ``advance(...)`` takes one page's answer and moves on (a repeated cursor
ends the paging rather than looping forever), and ``done`` says whether another page is needed.

* :class:`AfterCursor`: HubSpot's ``after`` cursor (``paging.next.after``; none means the last page).
* :class:`XeroPages`: Xero's ``page`` number (+ ``pageSize``) and ``If-Modified-Since`` for incremental
  sync; it keeps the latest ``UpdatedDateUTC`` seen, the next sync's ``modified_since``.
* :class:`StartingAfterCursor`: Intercom's ``per_page`` + ``starting_after`` (``pages.next``).
* :class:`ScrollCursor`: Intercom's company scroll (``scroll_param``; an empty page ends it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class AfterCursor:
    """HubSpot's cursor paging: the next page's token is ``paging.next.after``; none means done."""

    def __init__(self, after: str | None = None) -> None:
        self.after = after
        self.pages = 0
        self.done = False

    def params(self) -> dict[str, Any]:
        return {"after": self.after} if self.after else {}

    def advance(self, page: dict | None) -> bool:
        """Take the token from ``page``; return whether there is another page."""
        token = (((page or {}).get("paging") or {}).get("next") or {}).get("after")
        self.pages += 1
        if not token or token == self.after:  # a repeated token would loop forever
            self.after = None
            self.done = True
            return False
        self.after = str(token)
        return True


def format_modified_since(when: datetime) -> str:
    """An ``If-Modified-Since`` value Xero accepts (ISO 8601, UTC, milliseconds)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def parse_xero_date(value: Any) -> datetime | None:
    """Xero's ``/Date(1717113600000+0000)/`` (or ISO 8601) as an aware UTC datetime; None if unreadable."""
    if not isinstance(value, str):
        return None
    m = _MS_DATE.fullmatch(value.strip())
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class XeroPages:
    """Xero's paging: ``?page=N`` (100 records a page unless ``page_size``) plus an optional
    ``If-Modified-Since`` for incremental sync.

    Done when the response's ``pagination.pageCount`` is reached or a page comes back short.
    ``latest_modified`` is the newest ``UpdatedDateUTC`` seen: pass it as the next sync's
    ``modified_since`` (a record changed at exactly that instant may come again: key by id).
    """

    page: int = 1
    page_size: int = 100
    modified_since: datetime | None = None
    where: str | None = None
    done: bool = False
    pagination: dict[str, Any] = field(default_factory=dict)
    latest_modified: datetime | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"page": self.page}
        if self.page_size != 100:
            params["pageSize"] = self.page_size
        if self.where:
            params["where"] = self.where
        return params

    def headers(self) -> dict[str, str]:
        return {"If-Modified-Since": format_modified_since(self.modified_since)} if self.modified_since else {}

    def advance(self, records: list[dict], pagination: dict[str, Any] | None) -> None:
        """Record one page's outcome and move to the next."""
        self.pagination = pagination or {}
        for record in records:
            when = parse_xero_date(record.get("UpdatedDateUTC")) if isinstance(record, dict) else None
            if when is not None and (self.latest_modified is None or when > self.latest_modified):
                self.latest_modified = when
        page_count = self.pagination.get("pageCount")
        if page_count is not None:
            self.done = self.page >= page_count
        else:
            self.done = len(records) < self.page_size
        self.page += 1


@dataclass
class StartingAfterCursor:
    """Intercom's cursor pagination: ``?per_page=N&starting_after=CURSOR``.

    The next cursor is the response's ``pages.next.starting_after``; no ``pages.next`` means the last page.
    """

    per_page: int = 50
    starting_after: str | None = None
    done: bool = False
    pages: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"per_page": self.per_page}
        if self.starting_after:
            params["starting_after"] = self.starting_after
        return params

    def advance(self, body: Any) -> None:
        """Record one page's ``pages`` object and move to the next cursor (or finish)."""
        pages = body.get("pages") if isinstance(body, dict) else None
        self.pages = pages if isinstance(pages, dict) else None
        nxt = (self.pages or {}).get("next")
        cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
        if cursor and cursor != self.starting_after:
            self.starting_after = cursor
        else:
            self.done = True


@dataclass
class ScrollCursor:
    """Intercom's scroll (``GET /companies/scroll``): the first request sends no ``scroll_param``, each
    answer carries the one for the next; a page with no ``data`` is the end (the scroll then expires).

    Intercom allows one open scroll per app, expires it after a minute unused, and cannot resume one
    that failed: on an error, start a new cursor.
    """

    scroll_param: str | None = None
    done: bool = False
    pages: int = 0

    def params(self) -> dict[str, Any]:
        return {"scroll_param": self.scroll_param} if self.scroll_param else {}

    def advance(self, body: Any) -> None:
        """Take one answer: the next ``scroll_param``, or the end."""
        self.pages += 1
        data = body.get("data") if isinstance(body, dict) else None
        param = body.get("scroll_param") if isinstance(body, dict) else None
        if not data or not param:
            self.done = True
        self.scroll_param = str(param) if param else None


__all__ = ["AfterCursor", "ScrollCursor", "StartingAfterCursor", "XeroPages", "format_modified_since",
           "parse_xero_date"]
