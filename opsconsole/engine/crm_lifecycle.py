"""CRM merges, deletions and restores, applied to the cross-references in the commit that writes them
to the inbox.

These events start no run and make no outbound call: they change only what the engine knows about
identities, never a record in another system. Each is one inbox row keyed by HubSpot's eventId (a
redelivery is dropped as a duplicate before it is applied again), ends ``processed`` with a note
saying what changed, and is recorded in the audit log (action ``crm.merge``, ``crm.deletion``,
``crm.restore``; subject ``hubspot:<object>:<id>``).

**merge** (``company.merge``, ``contact.merge``, ``object.merge``): the survivor is ``newObjectId``
(HubSpot's primary unless the merge made a new record). The customer it stands for is the survivor's
own cross-reference's, else the primary's, else the first merged record's; the survivor gets a
cross-reference to it if it had none. Every merged-away record's row is kept, archived, marked
``merged_into`` the survivor and re-pointed to that customer, so a lookup by the old id resolves to
the survivor's customer. When a merged-away row stood for another customer (two customers are now one
CRM record), the survivor's customer wins, the other stays on the row as ``previous_canonical_id`` (an
alias a person can follow), and a validation exception asks a person to decide what becomes of that
customer's ERP records: nothing is merged, archived or deleted in the ERP by the engine. (Choosing
the surviving customer interactively is the later duplicate-conflict work.)

**deletion** (and ``contact.privacyDeletion``): the row is archived with why (event, time); the
customer and every other system's records stay as they are. **restore**: a row a deletion archived
is live again (a merged-away row stays archived: HubSpot cannot restore it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from opsconsole.engine import records
from opsconsole.store.tables import inbox, xrefs

SYSTEM = "hubspot"
ACTIONS = frozenset({"merge", "deletion", "privacyDeletion", "restore"})
# generic ``object.*`` subscriptions name the type by id; the engine's cross-references by name
OBJECT_TYPES = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-8": "line_item", "0-14": "quote"}
CONFLICT_TITLE = "Merged CRM records were two customers"


def lifecycle_of(ev: dict) -> tuple[str, str] | None:
    """(action, object type) of a HubSpot merge, deletion or restore event, else None."""
    prefix, _, action = str(ev.get("subscriptionType") or "").rpartition(".")
    if action not in ACTIONS or not prefix:
        return None
    obj = OBJECT_TYPES.get(str(ev.get("objectTypeId"))) if prefix == "object" else prefix
    return (action, obj) if obj else None


def change_problem(ev: dict) -> str:
    """Why a merge, deletion or restore event cannot be applied ("" when it can)."""
    if lifecycle_of(ev)[0] != "merge":
        return ""
    if ev.get("primaryObjectId") in (None, ""):
        return "lacks primaryObjectId"
    merged = ev.get("mergedObjectIds")
    if not isinstance(merged, list) or not merged or any(i in (None, "") or isinstance(i, (dict, list)) for i in merged):
        return "has no mergedObjectIds list of ids"
    return ""


def apply(conn: Connection, ev: records.IncomingEvent, inbox_id: int, correlation_id: str, audit: Any) -> str:
    """Apply one accepted merge, deletion or restore event; returns the note put on its inbox row.

    Runs inside the writer's transaction under its own savepoint: an event that cannot be applied
    leaves the cross-references as they were and becomes a validation exception (never an error that
    would make the ingress refuse the delivery, and HubSpot redeliver it forever)."""
    data = ev.identity_change or {}
    action, obj = lifecycle_of(data) or ("", "")
    conn.exec_driver_sql("SAVEPOINT crm_lifecycle")
    try:
        key, note, detail = _HANDLERS[action](conn, obj, data, inbox_id, correlation_id)
    except Exception as exc:  # noqa: BLE001 - shown to a person, never swallowed silently
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT crm_lifecycle")
        conn.exec_driver_sql("RELEASE SAVEPOINT crm_lifecycle")
        key, note = f"{SYSTEM}:{obj}:{data.get('objectId', '')}", f"could not apply {ev.event_type}: {exc}"
        conn.execute(update(inbox).where(inbox.c.id == inbox_id).values(status="invalid", business_key=key,
                                                                          note=note[:2000]))
        records.open_exception(conn, workflow="crm_lifecycle", category="validation", system=SYSTEM,
                               title=f"CRM {action or 'event'} not applied", error=note, inbox_id=inbox_id,
                               business_key=key, correlation_id=correlation_id, payload={"event": data})
        return note
    conn.exec_driver_sql("RELEASE SAVEPOINT crm_lifecycle")
    conn.execute(update(inbox).where(inbox.c.id == inbox_id).values(status="processed", business_key=key, note=note))
    if audit is not None:
        audit.append(conn, "engine", f"crm.{action}", key,
                     {"event_id": str(data.get("eventId")), "event_type": ev.event_type, "inbox_id": inbox_id,
                      "note": note, **detail})
    return note


def _rows(conn: Connection, obj: str, ids: list[str]) -> dict[str, dict]:
    found = conn.execute(select(xrefs).where(xrefs.c.system == SYSTEM, xrefs.c.object_type == obj,
                                             xrefs.c.external_id.in_(ids))).mappings()
    return {r["external_id"]: dict(r) for r in found}


def _when(ev: dict) -> str:
    try:
        return datetime.fromtimestamp(int(ev["occurredAt"]) / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (KeyError, TypeError, ValueError):
        return "an unknown time"


def _merge(conn: Connection, obj: str, ev: dict, inbox_id: int, correlation_id: str) -> tuple[str, str, dict]:
    primary = str(ev["primaryObjectId"])
    survivor = str(ev.get("newObjectId") or primary)
    gone = [i for i in dict.fromkeys([*(str(i) for i in ev["mergedObjectIds"]), primary]) if i != survivor]
    key = f"{SYSTEM}:{obj}:{survivor}"
    rows = _rows(conn, obj, [survivor, *gone])
    source = rows.get(survivor) or rows.get(primary) or next((rows[g] for g in gone if g in rows), None)
    detail: dict[str, Any] = {"survivor": survivor, "merged": gone}
    if source is None:
        return key, f"merge of {obj} {', '.join(gone)} into {survivor}: no cross-reference to re-point", detail
    canonical = source["canonical_id"]
    if survivor not in rows:
        records.put_xref(conn, SYSTEM, obj, survivor, canonical)
    now, reason = time.time(), f"merged into {obj} {survivor} in HubSpot (event {ev['eventId']}, {_when(ev)})"
    repointed, aliases = [], []
    for ext in gone:
        row = rows.get(ext)
        if row is None:
            continue
        values: dict[str, Any] = {"merged_into": survivor, "archived_at": row["archived_at"] or now,
                                  "archived_reason": reason}
        if row["canonical_id"] != canonical:
            values.update(canonical_id=canonical, previous_canonical_id=row["canonical_id"])
            aliases.append({"external_id": ext, "previous_canonical_id": row["canonical_id"]})
        conn.execute(update(xrefs).where(xrefs.c.id == row["id"]).values(**values))
        repointed.append(ext)
    detail.update(canonical_id=canonical, repointed=repointed, aliases=aliases)
    note = (f"merge: {obj} {', '.join(gone)} merged into {survivor}; {len(repointed)} cross-reference(s) "
            f"re-pointed to {canonical}")
    if aliases:
        others = ", ".join(a["previous_canonical_id"] for a in aliases)
        note += f"; {others} kept as alias(es) of {canonical}: a person decides (exception raised)"
        records.open_exception(
            conn, workflow="crm_lifecycle", category="validation", system=SYSTEM, title=CONFLICT_TITLE,
            error=(f"HubSpot merged {obj} {', '.join(a['external_id'] for a in aliases)} into {survivor}, but they "
                   f"were customer(s) {others} and {canonical}. The engine keeps {canonical} for {survivor} and "
                   f"records {others} as its alias; nothing was merged or deleted in the ERP. Decide whether the "
                   f"ERP records of {others} should be merged into those of {canonical} there, then resolve."),
            inbox_id=inbox_id, business_key=key, correlation_id=correlation_id,
            payload={"survivor": survivor, "canonical_id": canonical, "aliases": aliases, "event": ev})
    return key, note, detail


def _deletion(conn: Connection, obj: str, ev: dict, inbox_id: int, correlation_id: str) -> tuple[str, str, dict]:
    oid = str(ev["objectId"])
    key = f"{SYSTEM}:{obj}:{oid}"
    row = _rows(conn, obj, [oid]).get(oid)
    if row is None:
        return key, f"deletion of {obj} {oid}: no cross-reference to archive; nothing deleted elsewhere", {}
    detail = {"canonical_id": row["canonical_id"]}
    if row["archived_at"] is not None:
        return key, f"deletion of {obj} {oid}: already archived ({row['archived_reason']})", detail
    how = "deleted for privacy" if ev["subscriptionType"].endswith("privacyDeletion") else "deleted"
    reason = f"{how} in HubSpot (event {ev['eventId']}, {_when(ev)}); nothing deleted in another system"
    conn.execute(update(xrefs).where(xrefs.c.id == row["id"]).values(archived_at=time.time(), archived_reason=reason))
    return key, (f"deletion: the cross-reference of {obj} {oid} (customer {row['canonical_id']}) is archived; "
                 f"nothing was deleted in another system"), detail


def _restore(conn: Connection, obj: str, ev: dict, inbox_id: int, correlation_id: str) -> tuple[str, str, dict]:
    oid = str(ev["objectId"])
    key = f"{SYSTEM}:{obj}:{oid}"
    row = _rows(conn, obj, [oid]).get(oid)
    if row is None:
        return key, f"restore of {obj} {oid}: no cross-reference", {}
    detail = {"canonical_id": row["canonical_id"]}
    if row["merged_into"]:
        return key, f"restore of {obj} {oid}: it was merged into {row['merged_into']}; the row stays archived", detail
    if row["archived_at"] is None:
        return key, f"restore of {obj} {oid}: the cross-reference was not archived", detail
    conn.execute(update(xrefs).where(xrefs.c.id == row["id"]).values(archived_at=None, archived_reason=None))
    return key, f"restore: the cross-reference of {obj} {oid} (customer {row['canonical_id']}) is live again", detail


_HANDLERS = {"merge": _merge, "deletion": _deletion, "privacyDeletion": _deletion, "restore": _restore}

__all__ = ["ACTIONS", "CONFLICT_TITLE", "apply", "change_problem", "lifecycle_of"]
