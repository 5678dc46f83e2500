"""Scheduled reconciliation: compare the systems with the golden record, field by field, and report
drift as conflicts.

For every customer linked to a CRM company and an ERP contact, each system's current values are
applied to the golden record exactly as a change event would be (:func:`governance.apply_to_golden`):
the owner's values that the engine never saw are taken (with the reconciliation as provenance), a
non-owner's differing value is an ownership conflict (recorded once, however often it is seen). It
writes nothing to any system: it reports. Records are read page by page; Xero incrementally (the
contacts modified since the last run), HubSpot by batch reads of the linked companies.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from canonical.mapper import MappingError, catalogue
from connectors.errors import ConnectorError
from connectors.pagination import XeroPages, parse_xero_date
from opsconsole.engine import governance
from opsconsole.engine.workflows.base import CRM_CUSTOMER_FIELDS
from opsconsole.engine.workflows.contact_to_company import ERP_CUSTOMER_FIELDS
from opsconsole.store.tables import xrefs

log = logging.getLogger("opsconsole.reconcile")
BATCH = 100


@dataclass
class Report:
    compared: int = 0
    taken_from_owner: int = 0
    conflicts_opened: list[int] = field(default_factory=list)
    unreadable: int = 0

    def summary(self) -> str:
        return (f"{self.compared} records compared, {self.taken_from_owner} owner changes taken, "
                f"{len(self.conflicts_opened)} conflicts opened, {self.unreadable} unreadable")


def _linked(conn, system: str, object_type: str, after_id: int, limit: int) -> list[tuple[int, str, str]]:
    rows = conn.execute(select(xrefs.c.id, xrefs.c.external_id, xrefs.c.canonical_id).where(
        xrefs.c.system == system, xrefs.c.object_type == object_type, xrefs.c.archived_at.is_(None),
        xrefs.c.id > after_id).order_by(xrefs.c.id).limit(limit))
    return [(r.id, r.external_id, r.canonical_id) for r in rows]


def _values(customer: Any, fields: tuple[str, ...]) -> dict:
    out = {}
    for name in fields:
        value = getattr(customer, name)
        out[name] = value.model_dump() if hasattr(value, "model_dump") else value
    return out


class Reconciler:
    """The scheduled job; keeps the Xero watermark between runs (the first run reads everything)."""

    def __init__(self, env) -> None:
        self.env = env
        self.xero_since: datetime | None = None
        self.last_result = ""

    async def run(self) -> Report:
        report = Report()
        started = datetime.now(timezone.utc)
        try:
            await self._hubspot(report)
            await self._xero(report)
        except ConnectorError as err:
            self.last_result = f"failed: {err}"
            log.warning("reconciliation failed: %s", err)
            return report
        self.last_result = report.summary()
        log.info("reconciliation: %s", self.last_result)
        self.xero_since = started
        return report

    async def _apply(self, report: Report, system: str, fields: tuple[str, ...], items: list[tuple[str, Any, datetime]]):
        """Apply (canonical id, customer, as-of) of one system in one commit."""
        rules = governance.ownership_rules()
        stamp = int(time.time())

        def op(conn):
            for canonical_id, customer, at in items:
                outcome, opened = governance.apply_to_golden(
                    conn, rules, "customer", canonical_id, system, _values(customer, fields),
                    event_id=f"reconcile:{stamp}:{system}:{canonical_id}", at=at)
                report.taken_from_owner += len(outcome.changed)
                report.conflicts_opened += opened

        if items:
            await self.env.writer.run(op)
        report.compared += len(items)

    async def _hubspot(self, report: Report) -> None:
        hubspot, mapping = self.env.client("hubspot"), catalogue().get("hubspot/customer")
        after = 0
        while True:
            linked = self.env.read(lambda c: _linked(c, "hubspot", "company", after, BATCH))
            if not linked:
                return
            after = linked[-1][0]
            by_id = {ext: cid for _, ext, cid in linked}
            records = await hubspot.batch_read("companies", list(by_id), properties=_HUBSPOT_PROPERTIES,
                                               missing_ok=True)
            items = []
            for rec in records:
                try:
                    customer = mapping.read(rec, {"customer_id": by_id[str(rec["id"])]})
                except MappingError:
                    report.unreadable += 1
                    continue
                at = _hubspot_time(rec) or datetime.now(timezone.utc)
                items.append((by_id[str(rec["id"])], customer, at))
            await self._apply(report, "hubspot", CRM_CUSTOMER_FIELDS, items)

    async def _xero(self, report: Report) -> None:
        xero, mapping = self.env.client("xero"), catalogue().get("xero/contact")
        pages = XeroPages(modified_since=self.xero_since)
        batch: list[dict] = []
        async for contact in xero.iter_contacts(pages=pages):
            batch.append(contact)
            if len(batch) >= BATCH:
                await self._xero_batch(report, mapping, batch)
                batch = []
        await self._xero_batch(report, mapping, batch)

    async def _xero_batch(self, report: Report, mapping, contacts: list[dict]) -> None:
        ids = [str(c.get("ContactID")) for c in contacts]
        known = self.env.read(lambda c: dict(c.execute(select(xrefs.c.external_id, xrefs.c.canonical_id).where(
            xrefs.c.system == "xero", xrefs.c.object_type == "contact", xrefs.c.external_id.in_(ids),
            xrefs.c.archived_at.is_(None))).all()))
        items = []
        for contact in contacts:
            canonical_id = known.get(str(contact.get("ContactID")))
            if canonical_id is None:
                continue  # not linked to a customer: backfill's business, not drift
            try:
                customer = mapping.read(contact, {"customer_id": canonical_id})
            except MappingError:
                report.unreadable += 1
                continue
            at = parse_xero_date(contact.get("UpdatedDateUTC")) or datetime.now(timezone.utc)
            items.append((canonical_id, customer, at))
        await self._apply(report, "xero", ERP_CUSTOMER_FIELDS, items)


_HUBSPOT_PROPERTIES = ("name", "domain", "vat_number", "address", "address2", "city", "zip", "state", "country",
                       "hs_lastmodifieddate")


def _hubspot_time(rec: dict) -> datetime | None:
    value = (rec.get("properties") or {}).get("hs_lastmodifieddate") or rec.get("updatedAt")
    if not value:
        return None
    try:
        if str(value).isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
