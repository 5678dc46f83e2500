"""The engine: ingress + runner + scheduler + command executor, behind the lease.

Exactly one process per store runs it. :meth:`Engine.start` takes the lease (a worker waits for
it; a console that cannot get it attaches instead), starts the group-commit writer with the lease's
fencing check, the ingress on loopback, the runner, the scheduled jobs, and resumes unfinished runs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from functools import partial
from pathlib import Path

from opsconsole.engine import commands as command_exec
from opsconsole.engine import connector_state
from opsconsole.engine import lifecycle, records, triggers
from opsconsole.engine.audit import AuditLog
from opsconsole.engine.faultpoints import FaultPoints
from opsconsole.engine.ingress import build_ingress
from opsconsole.engine.lease import Lease, LeaseLost, default_holder
from opsconsole.engine.runner import Runner
from opsconsole.engine.runtime import EngineEnv, build_clients
from opsconsole.engine.reconcile import Reconciler
from opsconsole.engine.scheduler import HubSpotPoll, build_scheduler
from opsconsole.engine.workflows import WORKFLOWS
from opsconsole.settings import Settings, resolve_secret
from opsconsole.store.checkpointer import Checkpointer
from opsconsole.store.db import is_sqlite, make_engine
from opsconsole.store.search_index import index_new_runs
from opsconsole.store.writer import Writer

log = logging.getLogger("opsconsole.engine")


# the engine creates a new store and upgrades an older one on start; it refuses a store newer than its code
from opsconsole.store.migrate import ensure_schema  # noqa: E402


def audit_log(settings: Settings) -> AuditLog:
    try:
        key = resolve_secret(settings.audit_key)
    except KeyError:
        if not settings.demo:
            raise
        # demo only: a key kept beside the store, outside it
        path = Path(settings.var_dir) / "audit.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        key = path.read_text().strip()
    return AuditLog(key.encode(), Path(settings.var_dir) / "audit.head")


class Engine:
    def __init__(self, settings: Settings, *, kind: str = "worker") -> None:
        self.settings = settings
        self.kind = kind
        self.write_engine = make_engine(settings.store_url, write=True)
        self.read_engine = make_engine(settings.store_url, write=False)
        self.lease = Lease(self.write_engine, default_holder(kind), ttl_s=settings.lease_ttl_s, info={"kind": kind})
        self.faults = FaultPoints(settings.crash_points, settings.crash_log)
        self.audit = audit_log(settings)
        self.writer: Writer | None = None
        self.checkpointer: Checkpointer | None = None
        self.runner: Runner | None = None
        self.env: EngineEnv | None = None
        self.ingress_url = ""
        self.started_at = 0.0
        self._server = None
        self._tasks: list[asyncio.Task] = []
        self._scheduler = None
        self._stopping = asyncio.Event()
        self.poll: HubSpotPoll | None = None
        self.stop_reason = ""
        self._store_config: dict = {}
        self._connectors_changed = False

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self, *, wait_for_lease: bool = True) -> bool:
        """Take the lease and start everything. Returns False if the lease is held elsewhere and
        ``wait_for_lease`` is False (the caller then attaches).

        Raises:
            triggers.TriggerError: the settings file's ``[workflows.*]`` names an unknown workflow
                or a trigger a workflow does not support.
        """
        self.triggers = triggers.resolve(self.settings.workflows, WORKFLOWS)
        records.hold(triggers.held_workflows(self.triggers))
        lifecycle.start_on_order(self.triggers["onboarding"].mode == "webhook")
        await asyncio.to_thread(ensure_schema, self.settings.store_url)
        while not await asyncio.to_thread(self.lease.try_acquire):
            if not wait_for_lease:
                return False
            await asyncio.sleep(min(1.0, self.settings.lease_ttl_s / 3))
        self.writer = Writer(self.write_engine, fence=self.lease.check,
                             on_commit_point=lambda: self.faults.hit("in_group_commit"),
                             before_commit=index_new_runs if is_sqlite(self.settings.store_url) else None,
                             on_committed=self.audit.flush_head,
                             on_rolled_back=self.audit.discard_pending).start()
        if is_sqlite(self.settings.store_url):
            self.checkpointer = Checkpointer(self.read_engine).start()
        self.env = EngineEnv(self.settings, self.writer, self.read_engine, build_clients(self.settings), self.faults,
                             self.audit)
        self.runner = Runner(self.env)
        self.poll = HubSpotPoll(self.env, self.runner.submit)
        self._store_config = await asyncio.to_thread(self.store_config)
        await self._start_ingress()
        await asyncio.to_thread(self._record_lease_info)
        await self._refresh_connectors()  # before the sweep: runs of a paused connector wait at once
        self._tasks += [  # the ingress task is already in the list
            asyncio.create_task(self.runner.serve(), name="runner"),
            asyncio.create_task(self._renew_lease(), name="lease"),
            asyncio.create_task(self._command_loop(), name="commands"),
            asyncio.create_task(self._watch_lease_lost(), name="lease-watch"),
            asyncio.create_task(self._connector_loop(), name="connectors"),
        ]
        self.reconciler = Reconciler(self.env)
        self._scheduler = build_scheduler(self.poll, self._sweep, poll_s=self.settings.schedule.hubspot_poll_s,
                                          sweep_s=self.settings.schedule.retry_sweep_s, reconcile=self.reconciler.run,
                                          reconcile_s=self.settings.schedule.reconcile_s,
                                          jobs=self._lifecycle_jobs())
        self._scheduler.start()
        self.runner.sweep()
        self.started_at = time.time()
        log.info("engine started: %s holds the lease (fencing %s), ingress %s", self.lease.holder,
                 self.lease.fencing, self.ingress_url)
        return True

    def _lifecycle_jobs(self) -> tuple:
        """The scheduled batches: held runs released per scheduled workflow, the onboarding watch
        (delivery risk), the receivables re-check, renewal readiness."""
        from opsconsole.engine.lifecycle_jobs import OnboardingWatch, ReceivablesRecheck
        from opsconsole.engine.renewal_batch import RenewalBatch

        self.onboarding_watch = OnboardingWatch(self.env)
        self.receivables = ReceivablesRecheck(self.env)
        self.renewal_batch = RenewalBatch(self.env)
        jobs = [(self.onboarding_watch.run, self.triggers["delivery_risk"].every_s, "onboarding_watch",
                 "onboarding watch: milestones and delivery risk"),
                (self.receivables.run, self.settings.schedule.receivables_s, "receivables",
                 "receivables re-check: invoices ageing into a new bucket"),
                (self.renewal_batch.run, self.triggers["renewal_readiness"].every_s, "renewal_readiness",
                 "renewal readiness batch")]
        from opsconsole.store.hygiene import PruneJob  # [retention]: batches through the writer, then vacuum

        self.prune_job = PruneJob(self.settings.retention, self.write_engine,
                                  lambda op: self.writer.run_sync(op, timeout=60), log)
        if self.settings.retention.prune_every_s > 0:  # 0: only `opsconsole db prune` prunes
            jobs.append((self.prune_job.run, self.settings.retention.prune_every_s, "prune",
                         "store hygiene: prune by retention, incremental vacuum"))
        if self.settings.alerts.webhooks:  # incidents: SLA breaches, failing connectors, a lost lease
            from opsconsole.engine.alerting import Alerter

            self.alerter = Alerter(self.settings, lambda fn: asyncio.to_thread(self.env.read, fn), self.writer.run,
                                   holder=self.lease.holder, systems=tuple(self.env.clients))
            jobs.append((self.alerter.run, self.settings.alerts.check_s, "alerting", "alerting: incidents to webhooks"))
        for name in sorted(triggers.held_workflows(self.triggers)):
            if name in ("delivery_risk", "renewal_readiness"):
                continue
            jobs.append((partial(self.release_batch, name), self.triggers[name].every_s, f"batch:{name}",
                         f"scheduled batch of {name}"))
        return tuple(jobs)

    async def release_batch(self, workflow: str) -> list[int]:
        """Start a scheduled workflow's held runs (the newest change per record)."""
        wf = WORKFLOWS[workflow]
        ids = await self.writer.run(lambda c: triggers.release(c, workflow, wf.record_key))
        for run_id in ids:
            self.runner.submit(run_id)
        return ids

    def _record_lease_info(self) -> None:
        from sqlalchemy import update

        from opsconsole.store.tables import lease as lease_table

        self.lease.info = {"kind": self.kind, "ingress": self.ingress_url}
        with self.write_engine.begin() as conn:
            conn.execute(update(lease_table).where(lease_table.c.name == self.lease.name,
                                                   lease_table.c.fencing == self.lease.fencing).values(info=self.lease.info))

    async def _start_ingress(self) -> None:
        from connectors.sandbox import make_server

        secrets_ = [resolve_secret(s) for s in self.settings.hubspot.webhook_secret.split(",") if s]
        xero_secrets = [resolve_secret(s) for s in self.settings.xero.webhook_secret.split(",") if s]
        intercom_secrets = [resolve_secret(s) for s in self.settings.intercom.webhook_secret.split(",") if s]
        app = build_ingress(self.env, public_url=lambda: self.public_url, secrets=secrets_, xero_secrets=xero_secrets,
                            intercom_secrets=intercom_secrets, audit=self.audit,
                            on_runs=lambda accepted: [self.runner.submit(a.run_id, a.run_row) for a in accepted], health=self.health,
                            metrics=self.metrics)
        # lifespan off: the ingress has no start-up work, and a lifespan task outliving a stopped
        # loop is noise on the operator's terminal
        self._server = make_server(app, self.settings.ingress_host, self.settings.ingress_port, loop="none",
                                   lifespan="off")
        self.ingress_url = f"http://{self.settings.ingress_host}:{self._server.config.port}"
        task = asyncio.create_task(self._server.serve(), name="ingress")
        self._tasks.append(task)
        while not self._server.started:
            if task.done():
                task.result()
                raise RuntimeError("the ingress did not start")
            await asyncio.sleep(0.01)

    @property
    def public_url(self) -> str:
        return self.settings.ingress_public_url or self.ingress_url

    def store_config(self) -> dict:
        """The store's settings as the engine's own connections see them (read back, not assumed)."""
        from opsconsole.store.db import pragma

        if not is_sqlite(self.settings.store_url):
            return {"dialect": self.write_engine.dialect.name}
        return {"dialect": "sqlite", "journal_mode": pragma(self.write_engine, "journal_mode"),
                "synchronous": pragma(self.write_engine, "synchronous")}

    def health(self) -> dict:
        return {
            "store": self._store_config,
            "transport": {name: getattr(c, "transport_name", "") for name, c in (self.env.clients if self.env else {}).items()},
            "lease_holder": self.lease.holder, "fencing": self.lease.fencing,
            "active_runs": len(self.runner.active) if self.runner else 0,
            "queued": self.runner.queue.qsize() if self.runner else 0,
            "stats": dict(self.runner.stats) if self.runner else {},
            "writer": {"commits": self.writer.commits, "ops": self.writer.ops,
                       "busy_s": round(self.writer.busy_s, 3), "commit_s": round(self.writer.commit_s, 3),
                       **({"checkpoint": self.checkpointer.stats()} if self.checkpointer else {})}
            if self.writer else {},
            **self._store_health(),
        }

    def _store_health(self) -> dict:
        """The lease, last successes, queue depth and exceptions from the store (opsconsole/health.py)."""
        from opsconsole import health as store_health

        try:
            with self.read_engine.connect() as conn:
                return store_health.report(conn, self.settings)
        except Exception as exc:  # /healthz must answer even when the store does not
            return {"healthy": False, "problems": [f"store unreadable: {type(exc).__name__}"]}

    def metrics(self) -> bytes:
        """``GET /metrics``: Prometheus text from the store (opsconsole/health.py)."""
        from opsconsole import health as store_health

        if getattr(self, "_metrics", None) is None:
            self._metrics = store_health.MetricsExporter(self.read_engine, self.settings)
        return self._metrics.render()

    async def _sweep(self) -> None:
        if self.runner:
            self.runner.sweep()

    async def _renew_lease(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl_s / 3)
            try:
                await asyncio.to_thread(self.lease.renew)
            except LeaseLost as exc:
                self.stop_reason = str(exc)
                log.error("%s", exc)
                self._stopping.set()
                return
            except Exception:  # a busy store: try again next round, the TTL leaves room
                log.exception("lease renewal failed")

    async def _watch_lease_lost(self) -> None:
        await self.runner.lease_lost.wait()
        self.stop_reason = self.stop_reason or "the lease was lost"
        self._stopping.set()

    async def _command_loop(self) -> None:
        # re-armed after each pass, never overlapping
        while True:
            try:
                try:
                    to_start = await self.writer.run(
                        lambda c: command_exec.execute_queued(c, self.audit, has_role=self.settings.has_role,
                                                              on_executed=self._command_executed))
                finally:
                    if self._connectors_changed:  # committed or rolled back: read what the store holds
                        self._connectors_changed = False
                        await self._refresh_connectors(settled=True)
                for run_id in to_start:
                    self.runner.submit(run_id)
            except LeaseLost:
                self._stopping.set()
                return
            except Exception:
                log.exception("command execution failed")
            await asyncio.sleep(0.3)

    def _command_executed(self, cmd: dict, status: str) -> None:
        # in the writer's transaction: the loop re-reads the store once it has committed
        if cmd["kind"] in connector_state.KINDS and status == "done":
            if cmd["kind"] == "pause_connector":  # held from now on, before the command shows done
                self.runner.gate.hold(cmd["target"].partition(":")[2], cmd["actor"])
            self._connectors_changed = True

    async def _refresh_connectors(self, *, settled: bool = False) -> None:
        """Re-read which connectors are paused (releasing the runs of a resumed one)."""
        states = await asyncio.to_thread(lambda: self.env.read(connector_state.read_states))
        self.runner.gate.apply(states, settled=settled)

    async def _connector_loop(self, every_s: float = 2.0) -> None:
        """Every few seconds: refresh the paused connectors from the store (the command loop does at
        once after a pause or resume), and record each client's rate-limit governor for the console
        (connector_health)."""
        last: tuple = ((), 0.0)
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._refresh_connectors()
                now = time.time()
                rows = connector_state.health_rows(self.env.clients, self.lease.holder, now)
                seen = tuple(tuple(sorted((k, v) for k, v in r.items() if k != "recorded_at")) for r in rows)
                if rows and (seen != last[0] or now - last[1] >= 5 * every_s):  # unchanged: a write now and then
                    await self.writer.run(lambda c: connector_state.record_health(c, rows))
                    last = (seen, now)
            except LeaseLost:
                self._stopping.set()
                return
            except Exception:
                log.exception("connector refresh failed")

    async def wait(self) -> None:
        await self._stopping.wait()

    def request_stop(self, reason: str = "stop requested") -> None:
        self.stop_reason = self.stop_reason or reason
        self._stopping.set()

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop taking events, let in-flight steps finish, release the lease."""
        from opsconsole.engine.alerting import alert_if_lease_lost

        await alert_if_lease_lost(self.settings, self.write_engine, self.lease, self.stop_reason)  # if it was lost
        if self._server is not None:
            self._server.should_exit = True
            ingress = next((t for t in self._tasks if t.get_name() == "ingress"), None)
            if ingress is not None:
                await asyncio.wait({ingress}, timeout=3)
                if not ingress.done():
                    self._server.force_exit = True
                    await asyncio.wait({ingress}, timeout=2)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self.runner is not None:
            await self.runner.drain(drain_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
        if self.env is not None:
            for client in self.env.clients.values():
                await client.aclose()
        try:
            await asyncio.to_thread(self.lease.release)
        except Exception:
            log.exception("could not release the lease")
        self.write_engine.dispose()
        self.read_engine.dispose()
