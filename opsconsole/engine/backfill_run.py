"""Running a backfill (:mod:`opsconsole.engine.backfill`): read the systems, plan, write under the lease.

Where it runs: in the process that asks for it (``opsconsole sync backfill``), never inside a
running engine, and only while it holds the engine lease, so nothing else writes customers or
cross-references meanwhile and every commit passes the lease's fencing check. An engine command
(:mod:`opsconsole.engine.commands`) would not fit: commands execute inside the writer's
transaction, and a backfill spends minutes reading three vendors page by page before it writes.
When an engine (a worker, a console) holds the lease the backfill is refused, naming the holder;
a dry run needs no lease (it only reads). While the backfill holds the lease a worker that starts
waits for it, and a console attaches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from opsconsole.engine import backfill as bf
from opsconsole.settings import Settings, resolve_secret

log = logging.getLogger("opsconsole.backfill")


class BackfillRefused(RuntimeError):
    """The backfill may not run now (another process runs the engine); nothing was read or written."""


class BackfillFailed(RuntimeError):
    """The backfill stopped (a system could not be read, the store refused); what was committed stays."""


@dataclass
class Outcome:
    plan: bf.BackfillPlan
    report: bf.BackfillReport


def backfill_clients(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """A client per system with a base URL in the settings, and the systems without one."""
    from connectors import registry

    clients, missing = {}, []
    for name in bf.SYSTEMS:
        cfg = getattr(settings, name)
        if not cfg.base_url:
            missing.append(name)
            continue
        options = {"tenant_id": cfg.tenant_id} if name == "xero" else {}
        try:
            token = resolve_secret(cfg.token)
        except KeyError as exc:
            raise BackfillFailed(f"{name}: {str(exc).strip(chr(34) + chr(39))}") from None
        clients[name] = registry.load(name).client(cfg.base_url, token=token, transport=settings.http_transport,
                                                   timeout_s=cfg.timeout_s, max_connections=cfg.max_connections,
                                                   **options)
    return clients, missing


@dataclass
class Retry:
    """How a page read is retried: retriable errors (429, 5xx, timeouts) back off (honouring the
    vendor's Retry-After) up to ``attempts`` tries; other errors stop the backfill at once."""

    attempts: int = 6
    base_s: float = 0.2
    max_s: float = 30.0

    async def call(self, fn):
        from connectors.errors import RetriableError
        from opsconsole.engine.backoff import delay

        attempt = 0
        while True:
            attempt += 1
            try:
                return await fn()
            except RetriableError as exc:
                if attempt >= self.attempts:
                    raise
                await asyncio.sleep(delay(attempt, base_s=self.base_s, max_s=self.max_s, retry_after=exc.retry_after))


async def _hubspot(client, page_size: int, retry: Retry) -> AsyncIterator[dict]:
    from connectors.pagination import AfterCursor

    cursor = AfterCursor()
    while True:
        page = await retry.call(lambda: client.list_companies(after=cursor.after, limit=page_size))
        for company in page.get("results") or []:
            yield company
        if not cursor.advance(page):
            return


async def _xero(client, page_size: int, retry: Retry) -> AsyncIterator[dict]:
    page = 1
    while True:  # Xero's pages hold 100 contacts: a shorter one is the last
        contacts = await retry.call(lambda: client.list_contacts(page=page))
        for contact in contacts:
            yield contact
        if len(contacts) < 100:
            return
        page += 1


async def _intercom(client, page_size: int, retry: Retry) -> AsyncIterator[dict]:
    from connectors.pagination import StartingAfterCursor

    cursor = StartingAfterCursor(per_page=min(page_size, 50))
    while not cursor.done:
        body = await retry.call(lambda: client.list_companies(per_page=cursor.per_page,
                                                              starting_after=cursor.starting_after))
        cursor.advance(body)
        for company in body.get("data") or []:
            yield company


_PAGES = {"hubspot": _hubspot, "xero": _xero, "intercom": _intercom}


async def read_accounts(clients: dict[str, Any], progress: bf.Progress | None = None, page_size: int = 100,
                        retry: Retry | None = None) -> tuple[list[bf.AccountRecord], dict[str, int], dict[str, int]]:
    """Every account record of every system (the systems read concurrently, each page by page).
    Returns (records, read per system, skipped per system)."""
    read: dict[str, int] = {}
    skipped: dict[str, int] = {}

    async def one(system: str) -> list[bf.AccountRecord]:
        out: list[bf.AccountRecord] = []
        read[system] = skipped[system] = 0
        if progress:
            progress("read", system, 0, None)
        async for raw in _PAGES[system](clients[system], page_size, retry or Retry()):
            account = bf.CONVERT[system](raw)
            read[system] += 1
            if account is None:
                skipped[system] += 1
            else:
                out.append(account)
            if progress:
                progress("read", system, read[system], None)
        if progress:
            progress("read", system, read[system], read[system])
        return out

    from connectors.errors import ConnectorError

    systems = [s for s in bf.SYSTEMS if s in clients]
    try:
        found = await asyncio.gather(*(one(s) for s in systems))
    except ConnectorError as exc:
        raise BackfillFailed(f"could not read {getattr(exc, 'system', '') or 'a system'}: {exc}; nothing was written") from exc
    return [r for records in found for r in records], read, skipped


def refusal(holder: str, expires_in: float) -> str:
    if holder.startswith("backfill:"):
        return f"another backfill ({holder}) is running on this store: wait for it to finish"
    return (f"the engine of {holder} is running on this store (its lease runs {max(0.0, expires_in):.0f} s more): "
            "stop it (quit that console, or stop the worker with SIGTERM) and run the backfill again, "
            "or see the plan with --dry-run")


async def run_backfill(settings: Settings, *, dry_run: bool = False, actor: str | None = None,
                       progress: bf.Progress | None = None, clients: dict[str, Any] | None = None) -> Outcome:
    """Read, plan and (unless ``dry_run``) write; see the module docstring for where it runs.

    Raises:
        BackfillRefused: another process holds the engine lease (nothing read or written).
        BackfillFailed: a system could not be read (nothing written), or the store refused a commit.
    """
    from opsconsole.engine import governance, records
    from opsconsole.engine.app import audit_log
    from opsconsole.engine.lease import Lease, LeaseLost, default_holder, read_lease
    from opsconsole.store.db import is_sqlite, make_engine
    from opsconsole.store.migrate import SchemaMismatch, ensure_schema
    from opsconsole.store.search_index import index_new_runs
    from opsconsole.store.writer import Writer

    try:
        await asyncio.to_thread(ensure_schema, settings.store_url)
    except SchemaMismatch as exc:
        raise BackfillFailed(str(exc)) from None
    audit = None
    if not dry_run:
        try:
            audit = audit_log(settings)
        except KeyError as exc:
            raise BackfillFailed(f"the audit key: {str(exc).strip(chr(34) + chr(39))}") from None
    write_engine = make_engine(settings.store_url, write=True)
    read_engine = make_engine(settings.store_url, write=False)
    lease = writer = renewal = None
    own_clients = clients is None
    try:
        if not dry_run:
            lease = Lease(write_engine, default_holder("backfill"), ttl_s=settings.lease_ttl_s, info={"kind": "backfill"})
            if not await asyncio.to_thread(lease.try_acquire):
                with read_engine.connect() as conn:
                    held = read_lease(conn)
                raise BackfillRefused(refusal(held.holder if held else "another process",
                                              (held.expires_at - time.time()) if held else 0.0))
            renewal = asyncio.create_task(_renew(lease, settings.lease_ttl_s), name="backfill-lease")
        missing: list[str] = []
        if clients is None:
            clients, missing = backfill_clients(settings)
        retry = Retry(settings.retry.max_attempts, settings.retry.base_delay_s, settings.retry.max_delay_s)
        accounts, read, skipped = await read_accounts(clients, progress, retry=retry)
        if progress:
            progress("link", "linking", 0, len(accounts))

        def plan_now() -> bf.BackfillPlan:
            with read_engine.connect() as conn:
                known = bf.known_xrefs(conn, (a.key for a in accounts))
            return bf.plan_backfill(accounts, known, records.matching_rules())

        plan = await asyncio.to_thread(plan_now)
        if progress:
            progress("link", "linking", len(accounts), len(accounts))
        if dry_run:
            with read_engine.connect() as conn:
                report = bf.dry_run_report(conn, plan, read, skipped)
        else:
            writer = Writer(write_engine, fence=lease.check, on_committed=audit.flush_head,
                            on_rolled_back=audit.discard_pending,
                            before_commit=index_new_runs if is_sqlite(settings.store_url) else None).start()
            try:
                report = await bf.apply_plan(plan, writer.run, audit=audit, actor=actor or settings.operator,
                                             rules=governance.ownership_rules(), read=read, skipped=skipped,
                                             progress=progress)
            except LeaseLost as exc:
                raise BackfillFailed(f"the engine lease was lost while writing ({exc}); run the backfill again") from None
        report.not_configured = missing
        return Outcome(plan, report)
    finally:
        if renewal is not None:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
        if writer is not None:
            await asyncio.to_thread(writer.stop)
        if own_clients and clients:
            for client in clients.values():
                await client.aclose()
        if lease is not None and lease.fencing is not None:
            try:
                await asyncio.to_thread(lease.release)
            except Exception:  # it expires on its own
                log.exception("could not release the lease")
        write_engine.dispose()
        read_engine.dispose()


async def _renew(lease, ttl_s: float) -> None:
    from opsconsole.engine.lease import LeaseLost

    while True:
        await asyncio.sleep(ttl_s / 3)
        try:
            await asyncio.to_thread(lease.renew)
        except LeaseLost:
            log.error("the backfill lost the engine lease; its next commit will be refused")
            return
        except Exception:  # a busy store: try again next round
            log.exception("lease renewal failed")


__all__ = ["BackfillFailed", "BackfillRefused", "Outcome", "backfill_clients", "read_accounts", "refusal",
           "run_backfill"]
