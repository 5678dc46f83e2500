"""Sync modes: how each workflow is triggered, declared in the settings file.

``[workflows.<name>]`` takes ``trigger`` and, for scheduled ones, ``every_s``:

- ``webhook``: near real time: a run opens when its event arrives (webhook, or the HubSpot poll for
  what a webhook missed) and starts at once.
- ``confirmed``: transaction-confirmed: the run opens only once the ERP confirmed the transaction
  it depends on (invoice_feedback re-reads the invoice from the ERP; onboarding waits for the
  financial approval data/lifecycle.toml names).
- ``scheduled``: batch: events are stored and their runs held (status ``scheduled``); every
  ``every_s`` the batch releases them, one run per record with only the newest change (older
  changes to the same record are ``superseded``: health telemetry aggregated before it is pushed).
  Batch-only workflows (delivery_risk, renewal_readiness) run on this schedule too.

Each workflow declares the triggers it supports (``Workflow.triggers``; the first is its default);
any other value is refused at start-up with the allowed ones named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from opsconsole.store.tables import runs

HELD = "scheduled"
# renewal_readiness reads Xero (and HubSpot and Intercom) once per ordered customer per batch, and Xero
# allows an organisation 5,000 calls a day: hourly, some 200 customers would spend all of it and hold
# up billing; daily leaves the budget to the orders. A renewal is decided over weeks.
DEFAULT_EVERY_S = {"delivery_risk": 900.0, "renewal_readiness": 86400.0}


class TriggerError(ValueError):
    pass


@dataclass(frozen=True)
class Trigger:
    workflow: str
    mode: str
    every_s: float


def resolve(configured: dict, workflows: dict) -> dict[str, Trigger]:
    """Every workflow's trigger: the settings file's, else its default. Raises TriggerError naming
    an unknown workflow or a trigger it does not support."""
    unknown = sorted(set(configured) - set(workflows))
    if unknown:
        raise TriggerError(f"[workflows.{unknown[0]}]: no workflow named {unknown[0]!r} "
                           f"(known: {', '.join(sorted(workflows))})")
    out = {}
    for name, wf in workflows.items():
        allowed = getattr(wf, "triggers", ("webhook",))
        cfg = configured.get(name)
        mode = cfg.trigger if cfg is not None and cfg.trigger else allowed[0]
        if mode not in allowed:
            raise TriggerError(f"[workflows.{name}] trigger = {mode!r}: {name} supports {', '.join(allowed)}")
        every = cfg.every_s if cfg is not None and cfg.every_s else DEFAULT_EVERY_S.get(name, 300.0)
        out[name] = Trigger(name, mode, float(every))
    return out


def held_workflows(triggers: dict[str, Trigger]) -> frozenset[str]:
    """Workflows whose event-opened runs wait for their batch."""
    return frozenset(n for n, t in triggers.items() if t.mode == "scheduled")


def release(conn: Connection, workflow: str, coalesce) -> list[int]:
    """Release a scheduled workflow's held runs: per record (``coalesce(business_key)``), the newest
    becomes pending, the older ones superseded. Returns the ids released."""
    held = conn.execute(select(runs.c.id, runs.c.business_key).where(runs.c.status == HELD, runs.c.workflow == workflow)
                        .order_by(runs.c.id)).all()
    newest: dict[str, int] = {}
    for run_id, key in held:
        newest[coalesce(key)] = run_id
    keep = set(newest.values())
    now = time.time()
    for run_id, key in held:
        if run_id in keep:
            continue
        conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status == HELD).values(
            status="superseded", updated_at=now, finished_at=now,
            last_error=f"superseded by run {newest[coalesce(key)]} (a newer change to the same record in this batch)"))
    if keep:
        conn.execute(update(runs).where(runs.c.id.in_(sorted(keep)), runs.c.status == HELD)
                     .values(status="pending", updated_at=now))
    return sorted(keep)
