"""Alerting: incidents evaluated from the store, posted once to Slack-compatible webhooks.

An **incident** is one of:

- ``sla:exception:<id>``: an open (unacknowledged) exception older than its category's SLA
  (settings ``sla``); resolved when the exception is acknowledged, resolved or closed;
- ``connector:<system>``: a connector whose last call failed and none of whose calls succeeded for
  ``alerts.connector_down_s`` (from the spans, through ``ix_spans_system``); resolved when its latest
  call succeeds;
- ``lease:engine``: the engine lost its lease. The process that lost it records and posts it on its
  way out (:func:`alert_if_lease_lost`, best effort, the store may be what failed); the next engine
  that holds the lease resolves it.

Each incident is a row of ``incidents`` (migration 0009), so a restart never alerts twice. It owes
at most two notices, an alert and then a resolution, each posted to every webhook in
``alerts.webhooks``: ``{"text": ..., "blocks": [...]}`` with a summary free of links and the
correlation id. A delivery is retried with a doubling backoff; one that still fails is recorded on
the row (``delivery = 'failed'``, attempts, last error, next attempt) and tried again at a later check.
Which webhooks already took the notice in flight is kept (as a digest, never the URL: it is a
secret), so a retry never posts twice to the same one.

:class:`Alerter` is the engine's scheduled job (every ``alerts.check_s``): one write transaction
evaluates (:func:`evaluate`), then the notices due are posted outside it and their outcome written.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import httpx
from sqlalchemy import Connection, insert, select, update

from opsconsole.engine.connector_state import SYSTEMS
from opsconsole.engine.lease import LeaseLost
from opsconsole.settings import Settings
from opsconsole.store.tables import exceptions, incidents, spans

log = logging.getLogger("opsconsole.alerting")

SLA, CONNECTOR, LEASE = "sla", "connector", "lease"
LEASE_KEY = "lease:engine"
MAX_RETRY_DELAY_S = 900.0
_URL = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Finding:
    """An incident the store shows now."""

    key: str
    kind: str
    subject: str
    correlation_id: str
    summary: str


def clean(text: Any, limit: int = 300) -> str:
    """Untrusted text for a message: control characters and links removed, bounded."""
    out = _URL.sub("[link removed]", _CONTROL.sub(" ", str(text or "")))
    return out if len(out) <= limit else out[:limit - 1] + "…"


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


# --- evaluation (SQL only) ------------------------------------------------------------------------------
def breached_exceptions(conn: Connection, settings: Settings, now: float, limit: int = 500) -> list[Finding]:
    """Open exceptions past their category's SLA, oldest first: one index range per named category
    (``ix_exc_category``), one for the rest (``ix_exc_state``)."""
    from opsconsole.health import sla_groups  # the SLA's SQL, shared with the health report

    cols = (exceptions.c.id, exceptions.c.category, exceptions.c.workflow, exceptions.c.business_key,
            exceptions.c.system, exceptions.c.correlation_id, exceptions.c.created_at)
    rows = []
    for _name, where in sla_groups(settings, now):
        rows += conn.execute(select(*cols).where(*where).order_by(exceptions.c.created_at).limit(limit)).all()
    rows.sort(key=lambda r: (r.created_at, r.id))
    out = []
    for r in rows[:limit]:
        where = f" in {clean(r.system, 32)}" if r.system else ""
        key = f", key {clean(r.business_key, 80)}" if r.business_key else ""
        out.append(Finding(
            f"sla:exception:{r.id}", SLA, str(r.id), r.correlation_id or "",
            f"Exception #{r.id} ({clean(r.category, 32)}{where}, workflow {clean(r.workflow, 64)}{key}) has been open "
            f"{_duration(now - r.created_at)}, past its SLA of {_duration(settings.sla_s(r.category))}."))
    return out


def connector_finding(conn: Connection, system: str, now: float, down_s: float) -> tuple[bool, Finding | None]:
    """``(its latest call succeeded, the incident if it has stopped succeeding)``: the latest call
    failed, none succeeded in the last ``down_s``, and the latest call before that window failed too
    (so it has been failing for at least ``down_s``). Three probes of ``ix_spans_system``."""
    def newest(*where):
        return conn.execute(select(spans.c.status, spans.c.http_status, spans.c.operation, spans.c.correlation_id)
                            .where(spans.c.system == system, *where).order_by(spans.c.started_at.desc()).limit(1)).first()

    last = newest()
    if last is None or last.status == "ok":
        return last is not None, None
    if newest(spans.c.started_at > now - down_s, spans.c.status == "ok") is not None:
        return False, None
    before = newest(spans.c.started_at <= now - down_s)
    if before is None or before.status == "ok":  # failing for less than down_s
        return False, None
    status = f"HTTP {last.http_status}" if last.http_status else "no response"
    return False, Finding(f"connector:{system}", CONNECTOR, system, last.correlation_id or "",
                          f"Connector {system} has stopped succeeding: no call succeeded for at least "
                          f"{_duration(down_s)}; the last one ({clean(last.operation, 80)}) got {status}.")


def open_incidents(conn: Connection) -> dict[str, Any]:
    return {r.key: r for r in conn.execute(select(incidents).where(incidents.c.state == "open"))}


def open_incident(conn: Connection, f: Finding, now: float) -> int:
    return conn.execute(insert(incidents).values(
        key=f.key, kind=f.kind, subject=f.subject, correlation_id=f.correlation_id, summary=f.summary,
        state="open", resolution="", opened_at=now, delivery="pending", delivered=[], attempts=0,
        last_error="", next_attempt_at=now)).inserted_primary_key[0]


def resolve_incident(conn: Connection, row: Any, resolution: str, now: float) -> None:
    values: dict[str, Any] = dict(state="resolved", resolution=clean(resolution), resolved_at=now)
    if row.alerted_at is not None:  # the alert is out: the resolution is owed now
        values.update(delivery="pending", delivered=[], attempts=0, last_error="", next_attempt_at=now)
    conn.execute(update(incidents).where(incidents.c.id == row.id).values(**values))


def evaluate(conn: Connection, settings: Settings, now: float, *, holder: str = "",
             systems: tuple[str, ...] = SYSTEMS) -> dict[str, list[str]]:
    """Open the incidents the store shows that are not open yet, resolve the open ones that are over
    (inside the caller's write transaction). Returns the keys ``{"opened": [...], "resolved": [...]}``."""
    current = open_incidents(conn)
    opened, resolved = [], []
    for f in breached_exceptions(conn, settings, now):
        if f.key not in current:
            open_incident(conn, f, now)
            opened.append(f.key)
    sla_open = {int(r.subject): r for r in current.values() if r.kind == SLA}
    ids = sorted(sla_open)
    for i in range(0, len(ids), 500):  # primary-key look-ups
        states = dict(conn.execute(select(exceptions.c.id, exceptions.c.state)
                                   .where(exceptions.c.id.in_(ids[i:i + 500]))).all())
        for exc_id in ids[i:i + 500]:
            state = states.get(exc_id, "gone")
            if state != "open":
                resolve_incident(conn, sla_open[exc_id], f"exception #{exc_id} is {state}", now)
                resolved.append(sla_open[exc_id].key)
    for system in systems:
        key = f"connector:{system}"
        ok, finding = connector_finding(conn, system, now, settings.alerts.connector_down_s)
        if key in current:
            if ok:
                resolve_incident(conn, current[key], f"connector {system} succeeds again", now)
                resolved.append(key)
        elif finding is not None:
            open_incident(conn, finding, now)
            opened.append(key)
    if LEASE_KEY in current and holder:
        resolve_incident(conn, current[LEASE_KEY], f"engine {holder} holds the lease now", now)
        resolved.append(LEASE_KEY)
    return {"opened": opened, "resolved": resolved}


# --- notices and their delivery -------------------------------------------------------------------------
def notice_of(row: Any) -> str | None:
    """The notice ``row`` owes: ``alert``, ``resolution`` or None."""
    if row.alerted_at is None:
        return "alert"
    if row.state == "resolved" and row.resolution_sent_at is None:
        return "resolution"
    return None


def due(conn: Connection, now: float, limit: int) -> list[Any]:
    """Incidents with a notice to post now (``ix_incidents_delivery``)."""
    return conn.execute(select(incidents).where(incidents.c.delivery.in_(("pending", "failed")),
                                                incidents.c.next_attempt_at <= now)
                        .order_by(incidents.c.next_attempt_at, incidents.c.id).limit(limit)).all()


def message(row: Any, notice: str) -> dict:
    """The Slack-compatible payload of one notice (plain summary, correlation id, no links)."""
    cid = row.correlation_id or "-"
    if notice == "alert":
        head, body = "opsconsole alert", clean(row.summary, 600)
    else:
        head, body = "opsconsole resolved", f"{clean(row.summary, 500)} Resolved: {clean(row.resolution, 200)}."
    text = f"[{head}] {body} (incident {row.key}, correlation id {cid})"

    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": esc(f"*{head}*: {body}")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": esc(f"incident {row.key} · correlation id {cid}")}]},
    ]}


def digest(url: str) -> str:
    """How a webhook is named in the store and in errors (its URL is a secret)."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


async def post(http: httpx.AsyncClient, webhooks: list[str], payload: dict, done: list[str], *, attempts: int,
               backoff_s: float) -> tuple[list[str], int, str]:
    """Post ``payload`` to each webhook not in ``done`` (digests), each up to ``attempts`` times with a
    doubling backoff. Returns (digests that took it, attempts made, the last error or "")."""
    done, made, error = list(done), 0, ""
    for url in webhooks:
        name = digest(url)
        if name in done:
            continue
        for attempt in range(max(1, attempts)):
            if attempt:
                await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
            made += 1
            try:
                r = await http.post(url, json=payload)
                if r.status_code < 300:
                    done.append(name)
                    break
                error = f"webhook {name}: HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                error = f"webhook {name}: {type(exc).__name__}"
    return done, made, error


def record(conn: Connection, incident_id: int, notice: str, done: list[str], made: int, error: str,
           webhooks: list[str], now: float, backoff_s: float) -> None:
    """Write one notice's outcome: sent to every webhook (then the next notice, if one is owed), or
    failed (recorded, with when to try again)."""
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None or notice_of(row) != notice:
        return
    attempts = row.attempts + made
    if all(digest(u) in done for u in webhooks):
        values: dict[str, Any] = dict(delivered=[], attempts=0, last_error="", delivery="sent", next_attempt_at=None)
        values["alerted_at" if notice == "alert" else "resolution_sent_at"] = now
        if notice == "alert" and row.state == "resolved":
            values.update(delivery="pending", next_attempt_at=now)
    else:
        delay = min(MAX_RETRY_DELAY_S, backoff_s * 2 ** min(attempts, 20))
        values = dict(delivered=done, attempts=attempts, last_error=clean(error, 300), delivery="failed",
                      next_attempt_at=now + delay)
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))


class Alerter:
    """The scheduled job. ``read``/``write`` run a function of a connection (a read, or a write
    transaction: the engine's writer, fenced by the lease) and return an awaitable of its result."""

    def __init__(self, settings: Settings, read: Callable[[Callable], Awaitable], write: Callable[[Callable], Awaitable],
                 *, holder: str = "", clock: Callable[[], float] = time.time, systems: tuple[str, ...] = SYSTEMS) -> None:
        self.settings, self.read, self.write = settings, read, write
        self.holder, self.clock, self.systems = holder, clock, systems
        self.last_result: dict = {}

    async def run(self) -> dict:
        cfg = self.settings.alerts
        now = self.clock()
        try:
            changes = await self.write(lambda c: evaluate(c, self.settings, now, holder=self.holder,
                                                          systems=self.systems))
        except LeaseLost:  # the engine is stopping; Engine.stop posts the lost lease
            return {}
        rows = await self.read(lambda c: due(c, now, cfg.max_per_check))
        sent = failed = 0
        async with httpx.AsyncClient(timeout=cfg.timeout_s) as http:
            for row in rows:
                notice = notice_of(row)
                while notice is not None:
                    done, made, error = await post(http, cfg.webhooks, message(row, notice), list(row.delivered or []),
                                                   attempts=cfg.attempts, backoff_s=cfg.backoff_s)
                    at = self.clock()
                    await self.write(lambda c: record(c, row.id, notice, done, made, error, cfg.webhooks, at,
                                                      cfg.backoff_s))
                    if error and not all(digest(u) in done for u in cfg.webhooks):
                        failed += 1
                        log.warning("alert delivery failed (incident %s, %s): %s", row.key, notice, error)
                        break
                    sent += 1
                    row = await self.read(lambda c: c.execute(select(incidents).where(incidents.c.id == row.id)).first())
                    notice = notice_of(row) if row is not None and row.delivery == "pending" else None
        self.last_result = {**changes, "sent": sent, "failed": failed}
        return self.last_result


async def alert_if_lease_lost(settings: Settings, write_engine: Any, lease: Any, reason: str) -> bool:
    """From an engine about to stop: if its lease is held by another (or another fencing number),
    record the ``lease:engine`` incident and post it (once: an open one is not posted again). Best
    effort and bounded; never raises. Returns whether an alert was posted."""
    from opsconsole.engine.lease import read_lease
    from opsconsole.engine.tracing import new_correlation_id

    cfg = settings.alerts
    if not cfg.webhooks or lease.fencing is None:
        return False
    try:
        def check_and_open(conn: Connection):
            current = read_lease(conn, lease.name)
            if current is not None and current.holder == lease.holder and current.fencing == lease.fencing:
                return None  # still ours: a plain stop
            if conn.execute(select(incidents.c.id).where(incidents.c.key == LEASE_KEY,
                                                         incidents.c.state == "open")).first() is not None:
                return None  # already alerted
            who = f"{current.holder} (fencing {current.fencing})" if current else "nobody"
            f = Finding(LEASE_KEY, LEASE, lease.holder, new_correlation_id(),
                        f"Engine {clean(lease.holder, 128)} lost its lease (fencing {lease.fencing}; now held by "
                        f"{clean(who, 160)}) and is stopping: {clean(reason or 'its fencing check failed', 200)}.")
            return open_incident(conn, f, time.time())

        def tx():
            with write_engine.begin() as conn:  # not fenced: this process no longer holds the lease
                incident_id = check_and_open(conn)
                return incident_id, (conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
                                     if incident_id else None)

        incident_id, row = await asyncio.to_thread(tx)
        if row is None:
            return False
        async with httpx.AsyncClient(timeout=cfg.timeout_s) as http:
            done, made, error = await asyncio.wait_for(
                post(http, cfg.webhooks, message(row, "alert"), [], attempts=cfg.attempts, backoff_s=cfg.backoff_s),
                timeout=cfg.timeout_s * cfg.attempts + 2 * cfg.backoff_s * 2 ** cfg.attempts)

        def rec():
            with write_engine.begin() as conn:
                record(conn, incident_id, "alert", done, made, error, cfg.webhooks, time.time(), cfg.backoff_s)

        await asyncio.to_thread(rec)
        return not error or all(digest(u) in done for u in cfg.webhooks)
    except Exception:
        log.exception("could not alert on the lost lease")
        return False
