"""Coalesced reads: single-record HubSpot reads made in the same event-loop turn go out as one
batch read (``POST /crm/v3/objects/{type}/batch/read``, up to 100 ids a call).

Why: under load many runs read their company at the same moment (one group commit releases a few
dozen runs together). One batch call instead of dozens spends one call of HubSpot's 10-second
budget instead of dozens, and the engine's and HubSpot's per-request cost once.

Callers see what a single GET answers: an id the batch does not return (archived, merged into
another record, deleted) is read again on its own, which answers the merged record's primary or
HubSpot's 404. A failed batch fails every caller with its own copy of the error.

Each caller's step keeps one record of the call: the batch's method, URL, status and timing, with
the request and the answer cut down to that step's ids, so one customer's trace never shows
another's record. The request carries the first caller's ``traceparent`` header (HubSpot takes one).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from connectors.errors import CallRecord, ConnectorError
from connectors.http import ApiResponse, call_recorder

@dataclasses.dataclass(frozen=True, slots=True)
class Missing:
    """An id the batch did not return: the batch's status and its error entry (HubSpot's
    ``{"category": "OBJECT_NOT_FOUND", "message", "context": {"ids"}}``)."""

    status: int
    error: dict


@dataclasses.dataclass(slots=True)
class _Waiter:
    object_id: str
    traceparent: str
    future: asyncio.Future
    recorder: list[CallRecord] | None
    single_ok: bool
    """Whether a single GET answers this caller as well as a batch would."""


_ALONE = object()
"""What a caller that had nobody to share a batch with gets: it sends its single GET itself
(cheaper than a batch of one, and recorded in its own step)."""


BatchCall = Callable[[list[str], str], Awaitable[ApiResponse]]
SingleCall = Callable[[str, str], Awaitable[dict]]


class ReadCoalescer:
    """Coalesces reads of one object type with one property list.

    ``batch(ids, traceparent)`` sends one batch read; ``single(id, traceparent)`` one GET (for ids
    the batch did not return).
    """

    def __init__(self, batch: BatchCall, single: SingleCall, *, limit: int = 100) -> None:
        self._batch = batch
        self._single = single
        self._limit = limit
        self._pending: list[_Waiter] = []
        self.calls = 0
        """Batch calls sent (for tests and figures)."""

    async def get(self, object_id: str, traceparent: str = "") -> dict:
        """What ``GET /crm/v3/objects/{type}/{id}`` answers (an id the batch missed is read on its own)."""
        record = await self._wait(str(object_id), traceparent, single_ok=True)
        if record is _ALONE or isinstance(record, Missing):
            return await self._single(str(object_id), traceparent)
        return record

    async def get_batched(self, object_id: str, traceparent: str = "") -> dict | Missing:
        """What the batch read answers for this id: its record, or :class:`Missing`."""
        return await self._wait(str(object_id), traceparent, single_ok=False)

    async def _wait(self, object_id: str, traceparent: str, *, single_ok: bool) -> Any:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(object_id, traceparent, loop.create_future(), call_recorder.get(), single_ok)
        if not self._pending:
            # every caller that reaches here before the loop's next turn joins this batch
            loop.call_soon(self._flush)
        self._pending.append(waiter)
        return await waiter.future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if len(pending) == 1 and pending[0].single_ok:
            if not pending[0].future.done():
                pending[0].future.set_result(_ALONE)
            return
        by_id: dict[str, list[_Waiter]] = {}
        for waiter in pending:
            by_id.setdefault(waiter.object_id, []).append(waiter)
        ids = list(by_id)
        for i in range(0, len(ids), self._limit):
            chunk = {x: by_id[x] for x in ids[i:i + self._limit]}
            # a fresh context: the batch is nobody's step, each caller gets its own record below
            asyncio.get_running_loop().create_task(self._read(chunk), context=contextvars.Context())

    async def _read(self, chunk: dict[str, list[_Waiter]]) -> None:
        first = next(iter(chunk.values()))[0]
        self.calls += 1
        try:
            resp = await self._batch(list(chunk), first.traceparent)
        except ConnectorError as exc:
            traced = _trace(chunk, exc.call, None) if exc.call else {}
            for object_id, waiters in chunk.items():
                for w in waiters:
                    if not w.future.done():
                        own = copy.copy(exc)
                        own.call = traced.get(id(w.recorder)) or (
                            _own_call(exc.call, [object_id], None, w.traceparent) if exc.call else None)
                        w.future.set_exception(own.with_traceback(None))
            return
        except BaseException as exc:  # a bug or a cancelled engine: nobody waits forever
            for waiters in chunk.values():
                for w in waiters:
                    if not w.future.done():
                        w.future.set_exception(exc)
            raise
        body = resp.body if isinstance(resp.body, dict) else {}
        found = {str(rec["id"]): rec for rec in body.get("results", [])}
        _trace(chunk, resp.call, found)
        error = next(iter(body.get("errors") or []), {"category": "OBJECT_NOT_FOUND", "message": "not returned"})
        for object_id, waiters in chunk.items():
            record = found.get(object_id)
            for w in waiters:
                if not w.future.done():
                    w.future.set_result(Missing(resp.status, error) if record is None else record)


def _trace(chunk: dict[str, list[_Waiter]], call: CallRecord, found: dict[str, dict] | None) -> dict[int, CallRecord]:
    """One record of the batch call in each caller's step (a run that reads four line items sees one
    call), cut down to that step's ids; returned by recorder."""
    steps: dict[int, list[_Waiter]] = {}
    for waiters in chunk.values():
        for w in waiters:
            if w.recorder is not None:
                steps.setdefault(id(w.recorder), []).append(w)
    out: dict[int, CallRecord] = {}
    for key, waiters in steps.items():
        ids = list(dict.fromkeys(w.object_id for w in waiters))
        records = None if found is None else [found[x] for x in ids if x in found]
        out[key] = _own_call(call, ids, records, waiters[0].traceparent)
        waiters[0].recorder.append(out[key])  # type: ignore[union-attr]
    return out


def _own_call(call: CallRecord, ids: list[str], records: list[dict] | None, traceparent: str) -> CallRecord:
    """The batch call as one step's trace shows it: its ids in, its records (or none) out."""
    request = dict(call.request_body or {})
    request["inputs"] = [{"id": x} for x in ids]
    response: Any = call.response_body
    if isinstance(response, dict) and "results" in response:
        response = {k: v for k, v in response.items() if k not in ("results", "errors", "numErrors")}
        response["results"] = records or []
    return dataclasses.replace(call, request_body=request, response_body=response, traceparent=traceparent)


async def read_each(coalescer: ReadCoalescer, ids: Sequence[str], traceparent: str) -> list[dict | Missing]:
    """``coalescer.get_batched`` for every id at once, in order (the first error raised)."""
    return await asyncio.gather(*(coalescer.get_batched(x, traceparent) for x in ids))


__all__ = ["Missing", "ReadCoalescer", "read_each"]
