"""The facade's connectors half: each connector's state, health and rejected webhooks, from indexed
SQL, and pausing or resuming one, written as a command the engine executes (and re-checks: role
``support``). Mixed into :class:`opsconsole.services.Services`.

Everything comes through the store, so a console attached to an engine in another process shows
the same: the rate-limit budget left is what the engine recorded from its governors
(``connector_health``, every few seconds), not a guess made here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, func, select

from opsconsole.engine.connector_state import ROLE, SYSTEMS
from opsconsole.store.tables import connector_health, connector_state, rejected_webhooks, spans, steps
from opsconsole.viewmodels import CommandReceipt, ConnectorRow, Page

HOUR_S = 3600.0
DAY_S = 86400.0


class ConnectorServices:
    settings: Any
    operator: str
    clock: Any
    read_only: bool

    def _q(self, fn):  # provided by Services
        raise NotImplementedError

    def _command(self, kind: str, target: str, params: dict, message: str) -> CommandReceipt:  # provided by Services
        raise NotImplementedError

    # --- queries ---------------------------------------------------------------------------
    def connectors(self, *, offset: int = 0, limit: int = 50, text: str = "") -> Page[ConnectorRow]:
        """One row per connector, in a fixed order (hubspot, xero, intercom); ``text`` filters on
        the system's name and state."""
        now = self.clock()

        def q(c):
            states = {r["system"]: r for r in c.execute(select(connector_state)).mappings()}
            health = {r["system"]: r for r in c.execute(select(connector_health)).mappings()}
            waiting = dict(c.execute(select(steps.c.target_system, func.count()).where(steps.c.status == "waiting")
                                     .group_by(steps.c.target_system)).all())
            out = []
            for system in SYSTEMS:
                # each an index range on spans(system, started_at) / rejected_webhooks(source, at)
                last_ok = c.scalar(select(spans.c.started_at).where(spans.c.system == system, spans.c.http_status < 400)
                                   .order_by(spans.c.started_at.desc()).limit(1))
                hour = and_(spans.c.system == system, spans.c.started_at >= now - HOUR_S)
                calls = c.scalar(select(func.count()).select_from(spans).where(hour)) or 0
                errors = c.scalar(select(func.count()).select_from(spans).where(hour, spans.c.status == "error")) or 0
                day = and_(rejected_webhooks.c.source == system, rejected_webhooks.c.at >= now - DAY_S)
                rejected = c.scalar(select(func.count()).select_from(rejected_webhooks).where(day)) or 0
                last_rej = c.execute(select(rejected_webhooks.c.reason, rejected_webhooks.c.at)
                                     .where(rejected_webhooks.c.source == system)
                                     .order_by(rejected_webhooks.c.at.desc()).limit(1)).first()
                out.append(_row(system, states.get(system), health.get(system), waiting.get(system, 0), last_ok,
                                calls, errors, rejected, last_rej, now))
            return out
        rows = self._q(q)
        if text:
            needle = text.lower()
            rows = [r for r in rows if needle in r.id or needle in ("paused" if r.paused else "active")]
        return Page(rows[offset:offset + limit], len(rows), offset, limit)

    def connector(self, system: str) -> ConnectorRow:
        for row in self.connectors().rows:
            if row.id == system:
                return row
        raise KeyError(f"no connector {system!r} (connectors: {', '.join(SYSTEMS)})")

    # --- actions (commands the engine executes and re-checks) --------------------------------
    def why_not_pause(self, system: str, pause: bool) -> str | None:
        """Why this operator cannot pause (or resume) ``system`` now, or None."""
        verb = "pause" if pause else "resume"
        if self.read_only:
            return f"this console is read-only (--read-only): {verb} is disabled"
        if system not in SYSTEMS:
            return f"no connector {system!r} (connectors: {', '.join(SYSTEMS)})"
        if not self.settings.has_role(self.operator, ROLE):
            return f"{self.operator} does not hold the {ROLE} role: only support may {verb} a connector"
        return None

    def pause_connector(self, system: str, reason: str = "") -> CommandReceipt:
        """Pause ``system``: its steps are not sent, their runs wait (nothing is dropped)."""
        return self._pause(system, True, reason)

    def resume_connector(self, system: str, reason: str = "") -> CommandReceipt:
        """Resume ``system``: the runs waiting for it continue, oldest first."""
        return self._pause(system, False, reason)

    def _pause(self, system: str, pause: bool, reason: str) -> CommandReceipt:
        from opsconsole.services import ActionRefused

        why = self.why_not_pause(system, pause)
        if why:
            raise ActionRefused(why)
        row = self.connector(system)
        if pause and row.paused:
            raise ActionRefused(f"{system} is already paused (by {row.changed_by})")
        if not pause and not row.paused:
            raise ActionRefused(f"{system} is not paused")
        kind = "pause_connector" if pause else "resume_connector"
        return self._command(kind, f"connector:{system}", {"reason": reason} if reason else {},
                             f"{'pause' if pause else 'resume'} of {system} queued")


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def _age(ts: float | None, now: float) -> float | None:
    return None if ts is None else max(0.0, now - ts)


def _row(system: str, state: Any, health: Any, waiting: int, last_ok: float | None, calls: int, errors: int,
         rejected: int, last_rej: Any, now: float) -> ConnectorRow:
    changed_at = state["paused_at"] if state is not None else None
    return ConnectorRow(
        id=system, paused=bool(state is not None and state["paused"]),
        changed_by=state["paused_by"] if state is not None else "", changed_at=_dt(changed_at),
        changed_age_s=_age(changed_at, now), reason=state["reason"] if state is not None else "",
        waiting_steps=int(waiting), last_success_at=_dt(last_ok), last_success_age_s=_age(last_ok, now),
        calls_hour=int(calls), errors_hour=int(errors),
        budget_left=health["budget_left"] if health is not None else None,
        budget_limit=health["budget_limit"] if health is not None else None,
        blocked_for_s=float(health["blocked_for_s"]) if health is not None else 0.0,
        throttled=int(health["throttled"]) if health is not None else 0,
        budget_age_s=_age(health["recorded_at"], now) if health is not None else None,
        rejected_24h=int(rejected), last_rejection=last_rej[0] if last_rej else "",
        last_rejection_age_s=_age(last_rej[1], now) if last_rej else None,
    )
