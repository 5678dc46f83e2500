"""Pausing a connector, and what the engine says about each one.

An operator pauses or resumes a connector (hubspot, xero, intercom) with a command (role
``support``); the engine executes it here, into the ``connector_state`` table, so a restart keeps it.
The runner consults a :class:`ConnectorGate`, a cache of that table the engine refreshes after a
pause or resume command and every few seconds: a step whose target system is paused is not sent;
its run waits at that step (status ``waiting``, no attempt counted, no exception) until the connector
is resumed, when the waiting runs continue oldest first.

The engine also records, every few seconds, each client's rate-limit governor (budget left in the
vendor's window, its limit, a 429's wait in force) in ``connector_health``: a console attached from
another process reads the governor's view from the store.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

from sqlalchemy import Connection, insert, select, update

from opsconsole.store import prepared as P
from opsconsole.store.tables import connector_health, connector_state

SYSTEMS = ("hubspot", "xero", "intercom")
"""The connectors an operator can pause (the ``engine`` pseudo-system cannot be)."""
KINDS = ("pause_connector", "resume_connector")
"""The commands executed here."""
ROLE = "support"
"""Who may pause and resume a connector (checked by the console and again by the engine)."""


class ConnectorCommandError(ValueError):
    """A pause or resume the engine refuses (unknown connector, no role, already in that state)."""


def read_states(conn: Connection) -> dict[str, dict]:
    """Every connector's persisted state by system (a system without a row is active)."""
    return {r["system"]: dict(r) for r in conn.execute(select(connector_state)).mappings()}


def execute(conn: Connection, cmd: dict, has_role: Callable[[str, str], bool]) -> str:
    """Execute one pause or resume command (inside the command executor's transaction).

    Returns:
        What was done, for the command's result and the audit entry.
    Raises:
        ConnectorCommandError: the command is refused; nothing changed.
    """
    kind, actor = cmd["kind"], cmd["actor"]
    target_kind, _, system = cmd["target"].partition(":")
    if target_kind != "connector" or system not in SYSTEMS:
        raise ConnectorCommandError(f"cannot {kind.replace('_connector', '')} {cmd['target']!r} "
                                    f"(connectors: {', '.join(SYSTEMS)})")
    if not has_role(actor, ROLE):
        raise ConnectorCommandError(
            f"{actor} does not hold the {ROLE} role: only support may pause or resume a connector")
    reason = str((cmd["params"] or {}).get("reason", ""))[:500]
    row = conn.execute(select(connector_state).where(connector_state.c.system == system)).mappings().first()
    paused = bool(row and row["paused"])
    now = time.time()
    if kind == "pause_connector":
        if paused:
            raise ConnectorCommandError(f"{system} is already paused (by {row['paused_by']})")
        values = dict(paused=True, paused_by=actor, paused_at=now, reason=reason, updated_at=now)
        what = f"{system} paused: its steps wait until it is resumed"
    else:
        if not paused:
            raise ConnectorCommandError(f"{system} is not paused")
        values = dict(paused=False, paused_by=actor, paused_at=now, reason=reason, updated_at=now)
        what = f"{system} resumed: its waiting runs continue, oldest first"
    if row is None:
        conn.execute(insert(connector_state).values(system=system, **values))
    else:
        conn.execute(update(connector_state).where(connector_state.c.system == system).values(**values))
    return what


class ConnectorGate:
    """The runner's view of which connectors are paused (a cache of ``connector_state``).

    :meth:`wait` parks a run until its connector is resumed; :meth:`apply` (with the store's rows)
    releases the parked runs of a resumed connector in run order, oldest first. Event-loop only.
    """

    def __init__(self) -> None:
        self.paused: dict[str, dict] = {}
        self._holds: dict[str, dict] = {}
        self._lock = threading.Lock()  # hold() runs in the writer's thread
        self._waiters: dict[str, list[tuple[int, asyncio.Future]]] = {}

    def is_paused(self, system: str) -> bool:
        return system in self.paused

    def describe(self, system: str) -> str:
        info = self.paused.get(system) or {}
        by = info.get("paused_by") or "?"
        return f"waiting: {system} is paused (by {by})"

    def waiting(self, system: str) -> list[int]:
        """The runs parked on ``system``, in the order they will be released."""
        return sorted(run_id for run_id, _ in self._waiters.get(system, []))

    def hold(self, system: str, by: str) -> None:
        """Mark ``system`` paused at once, from inside the transaction committing a pause command
        (so no step is sent once the command shows done). It holds until a read made after that
        transaction ended (:meth:`apply` with ``settled``) confirms it, or drops it if it rolled back."""
        info = {"system": system, "paused": True, "paused_by": by}
        with self._lock:
            self._holds = {**self._holds, system: info}
            self.paused = {**self.paused, system: info}

    def apply(self, states: dict[str, dict], *, settled: bool = False) -> None:
        """Take the store's rows as the truth (keeping the holds unless ``settled``: read after the
        commands' transaction ended); release the runs of every connector no longer paused."""
        with self._lock:
            paused = {s: dict(r) for s, r in states.items() if r.get("paused")}
            self._holds = {} if settled else {s: h for s, h in self._holds.items() if s not in paused}
            paused.update(self._holds)
            self.paused = paused
        for system in list(self._waiters):
            if system not in self.paused:
                # set in run order: their tasks wake (and queue for the runner's slots) oldest first
                for _run_id, fut in sorted(self._waiters.pop(system), key=lambda w: w[0]):
                    if not fut.done():
                        fut.set_result(None)

    async def wait(self, system: str, run_id: int) -> None:
        """Return once ``system`` is not paused (at once if it is not)."""
        while system in self.paused:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(system, []).append((run_id, fut))
            try:
                await fut
            finally:
                waiters = self._waiters.get(system)
                if waiters and (run_id, fut) in waiters:
                    waiters.remove((run_id, fut))


def health_rows(clients: dict[str, Any], holder: str, now: float) -> list[dict]:
    """One ``connector_health`` row per client, from its rate-limit governor."""
    out = []
    for system, client in clients.items():
        governor = getattr(client, "governor", None)
        if governor is None:
            continue
        state = governor.state()
        out.append(dict(system=system, budget_left=state.get("budget_left"), budget_limit=state.get("limit"),
                        blocked_for_s=float(state.get("blocked_for_s") or 0.0),
                        throttled=int(state.get("throttled") or 0), vendor_said_at=state.get("updated_at"),
                        recorded_at=now, holder=holder))
    return out


def record_health(conn: Connection, rows: list[dict]) -> None:
    P.upsert_many(conn, connector_health, ("system",), rows)
