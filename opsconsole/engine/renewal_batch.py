"""The scheduled renewal batch: one ``renewal_readiness`` run per ordered customer per batch.

Customers are those with an order (``onboardings``), paged by id; a batch opens its runs in pages
of ``batch`` in one commit each, and a customer whose run from an earlier batch is still active
is left to it (no pile-up when a vendor is down for longer than the batch interval).
"""

from __future__ import annotations

import time

from sqlalchemy import select

from opsconsole.engine import records
from opsconsole.store.tables import onboardings, runs

WORKFLOW = "renewal_readiness"


class RenewalBatch:
    def __init__(self, env, *, batch: int = 200) -> None:
        self.env = env
        self.batch = batch
        self.last_result = ""

    def _page(self, after: str) -> list[str]:
        return self.env.read(lambda c: [r[0] for r in c.execute(
            select(onboardings.c.customer_id).where(onboardings.c.customer_id > after)
            .group_by(onboardings.c.customer_id).order_by(onboardings.c.customer_id).limit(self.batch))])

    async def run(self) -> list[int]:
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
        opened: list[int] = []
        after = ""
        while True:
            customers = self._page(after)
            if not customers:
                break
            after = customers[-1]
            opened += await self.env.writer.run(lambda c, page=customers: self._open(c, page, stamp))
        self.last_result = f"{len(opened)} customers evaluated for renewal"
        return opened

    @staticmethod
    def _open(conn, customers: list[str], stamp: str) -> list[int]:
        busy = {k.split(":")[1] for (k,) in conn.execute(
            select(runs.c.business_key).where(runs.c.workflow == WORKFLOW,
                                              runs.c.status.in_(("pending", "running", "waiting"))))}
        return [records.open_run(conn, WORKFLOW, f"renewal:{cid}:{stamp}") for cid in customers if cid not in busy]
