"""What the sandboxes' webhook senders share: send, retry after each of ``retry_delays`` on a
non-2xx answer or a connection error, then mark the delivery failed; deliveries run as tasks in the
sandbox server's own event loop. Each vendor's dispatcher says how one attempt is built and signed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx

DEFAULT_RETRY_DELAYS = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]


class RetryingDispatcher:
    """Base of a sandbox's webhook sender. Deliveries need ``target_url``, ``state`` and ``attempts``."""

    user_agent = ""

    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.target_url: str | None = None
        self.retry_delays: list[float] = list(DEFAULT_RETRY_DELAYS)
        self.deliveries: list[Any] = []
        self._delivery_ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._resume: list[Any] = []

    # --- what a vendor says -------------------------------------------------------------------
    def attempt(self, delivery: Any, number: int) -> tuple[bytes, dict[str, str]]:
        """The body and headers of attempt ``number`` (0 first)."""
        raise NotImplementedError

    def record(self, number: int, status: int | None, error: str | None, at: float) -> dict:
        """How an attempt (started at ``at``, epoch seconds) appears in the delivery log."""
        return {"attempt": number, "status": status, "error": error}

    # --- the shared machinery -------------------------------------------------------------------
    def _start(self, delivery: Any) -> None:
        """Keep ``delivery`` and send it in the background (inside the server's event loop)."""
        self.deliveries.append(delivery)
        if delivery.target_url is None:
            delivery.state = "no_target"
            return
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            headers = {"User-Agent": self.user_agent} if self.user_agent else {}
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), trust_env=False, headers=headers)
            self._client_loop = loop
        return self._client

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        try:
            resp = await self._http().post(url, content=body, headers=headers)
            return resp.status_code, None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]

    async def _run(self, delivery: Any, number: int = 0) -> None:
        delays = list(self.retry_delays)
        while True:
            at = time.time()
            body, headers = self.attempt(delivery, number)
            status, error = await self._post(delivery.target_url, body, headers)
            delivery.attempts.append(self.record(number, status, error, at))
            if status is not None and 200 <= status < 300:
                delivery.state = "delivered"
                return
            delay = self.retry_delay(delivery, delays, number, status)
            if delay is None:
                delivery.state = "failed"
                return
            await asyncio.sleep(delay)
            number += 1

    def retry_delay(self, delivery: Any, delays: list[float], number: int, status: int | None) -> float | None:
        """Seconds to wait before sending ``delivery`` again after attempt ``number`` failed (``status``
        None: no answer), or None to give up and mark it failed. By default the ``number``-th of
        ``delays``; a vendor whose policy depends on the answer (Intercom: 410, 429) overrides this."""
        return delays[number] if number < len(delays) else None

    def state_counts(self) -> dict:
        by_state = {"pending": 0, "delivered": 0, "failed": 0, "no_target": 0}
        for d in self.deliveries:
            by_state[d.state] += 1
        return {"deliveries": len(self.deliveries), "sent": sum(len(d.attempts) for d in self.deliveries), **by_state}

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until no delivery is in flight (tests, benchmarks)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    def clear(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.deliveries.clear()
        self._resume.clear()

    # --- kept across a restart (connectors.sandbox_state) ----------------------------------------
    def next_delivery_id(self) -> int:
        """The id the next delivery will get (without using it up)."""
        n = next(self._delivery_ids)
        self._delivery_ids = itertools.count(n)
        return n

    def base_state(self) -> dict:
        return {"target_url": self.target_url, "retry_delays": list(self.retry_delays),
                "next_delivery_id": self.next_delivery_id()}

    def import_base_state(self, state: dict, deliveries: list[Any]) -> None:
        """Restore the target, retry delays and the delivery log; the deliveries a stop left
        pending are sent again (carrying on their attempt count) once :meth:`resume_pending` runs."""
        self.target_url = state["target_url"]
        self.retry_delays = [float(d) for d in state["retry_delays"]]
        self._delivery_ids = itertools.count(int(state["next_delivery_id"]))
        self.deliveries = list(deliveries)
        self._resume = [d for d in self.deliveries if d.state == "pending" and d.target_url]

    def resume_pending(self) -> int:
        """Send again the deliveries a restart interrupted (inside the server's event loop)."""
        resumed, self._resume = self._resume, []
        loop = asyncio.get_running_loop()
        for delivery in resumed:
            task = loop.create_task(self._run(delivery, len(delivery.attempts)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(resumed)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
