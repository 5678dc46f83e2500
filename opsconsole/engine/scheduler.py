"""Scheduled jobs on APScheduler 3 with an in-memory job store (the lease decides who schedules;
a shared job store would fire jobs twice: DESIGN, pitfalls)."""

from __future__ import annotations

import logging
import time

import orjson
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from connectors.errors import ConnectorError
from opsconsole.engine import records
from opsconsole.engine.events import route_hubspot
from opsconsole.engine.tracing import new_correlation_id

log = logging.getLogger("opsconsole.scheduler")


class HubSpotPoll:
    """Picks up approved quotes whose webhook never came (each becomes an inbox event)."""

    def __init__(self, env, submit) -> None:
        self.env = env
        self.submit = submit
        self.since_ms: int | None = None
        self.last_result = ""

    async def run(self) -> None:
        started_ms = int(time.time() * 1000)
        events = []
        try:
            async for quote in self.env.client("hubspot").iter_approved_quotes(self.since_ms):
                modified = (quote.get("properties") or {}).get("hs_lastmodifieddate", "")
                ev = {"eventId": f"poll:quote:{quote['id']}:{modified}", "subscriptionType": "poll.quote.approved",
                      "objectId": quote["id"], "occurredAt": started_ms}
                events.append(records.IncomingEvent(
                    "hubspot", ev["eventId"], "poll.quote.approved", orjson.dumps(ev), {}, route_hubspot(ev)))
        except ConnectorError as err:
            self.last_result = f"failed: {err}"
            log.warning("hubspot poll failed: %s", err)
            return
        if events:
            corr = [new_correlation_id() for _ in events]
            accepted = await self.env.writer.run(lambda c: records.accept_events(c, events, corr))
            new_runs = [a for a in accepted if a.new_run and a.run_id is not None]
            for a in new_runs:
                self.submit(a.run_id, a.run_row)
            self.last_result = f"{len(events)} approved quotes seen, {len(new_runs)} new runs"
        else:
            self.last_result = "no approved quotes"
        # overlap windows by a minute: a quote modified during the poll is seen next time (deduped)
        self.since_ms = started_ms - 60_000


def build_scheduler(poll: HubSpotPoll, sweep, *, poll_s: float, sweep_s: float, reconcile=None,
                    reconcile_s: float = 3600.0, jobs: tuple = ()) -> AsyncIOScheduler:
    """``jobs``: more (coroutine function, seconds, id, name) to run at an interval."""
    scheduler = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, executors={"default": AsyncIOExecutor()},
                                 job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    # pass bound coroutine methods: APScheduler 3 only awaits what inspect sees as a coroutine
    # function (an object with an async __call__ would be run in a thread and never awaited)
    scheduler.add_job(poll.run, "interval", seconds=poll_s, id="hubspot_poll", name="HubSpot poll for approved quotes")
    scheduler.add_job(sweep, "interval", seconds=sweep_s, id="retry_sweep", name="retry sweeper")
    if reconcile is not None:
        scheduler.add_job(reconcile, "interval", seconds=reconcile_s, id="reconcile",
                          name="reconciliation of CRM and ERP against the golden record")
    for fn, seconds, job_id, name in jobs:
        scheduler.add_job(fn, "interval", seconds=seconds, id=job_id, name=name)
    return scheduler
