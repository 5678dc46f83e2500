"""The HubSpot sandbox's in-memory CRM: objects, associations, and HubSpot's record shapes.

Records are kept as ``{"id", "properties", "createdAt", "updatedAt", "archived"}`` with times in
epoch milliseconds, and rendered the way HubSpot's CRM v3 API returns them (ISO-8601 UTC strings,
every property value a string or null, requested-but-unset properties present as null).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "line_items": "0-8", "quotes": "0-14"}
_ALIASES = {
    **{v: k for k, v in OBJECT_TYPE_IDS.items()},
    "contact": "contacts", "company": "companies", "deal": "deals", "line_item": "line_items",
    "lineitem": "line_items", "lineitems": "line_items", "line-items": "line_items", "quote": "quotes",
}
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "line_items": "line_item", "quotes": "quote"}
# v3 read responses key line items with a space ("line items"), as HubSpot does.
ASSOCIATION_KEYS = {"line_items": "line items"}
# HubSpot-defined association type ids (v4), per direction.
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "line_items"): 19, ("line_items", "deals"): 20,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("deals", "quotes"): 63, ("quotes", "deals"): 64,
    ("quotes", "line_items"): 67, ("line_items", "quotes"): 68,
    ("quotes", "contacts"): 69, ("contacts", "quotes"): 70,
    ("quotes", "companies"): 71, ("companies", "quotes"): 72,
}
CREATED_PROP = {"quotes": "hs_createdate"}
MODIFIED_PROP = {"contacts": "lastmodifieddate"}
DEFAULT_PROPERTIES = {
    "companies": ("name", "domain"),
    "contacts": ("email", "firstname", "lastname"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
    "quotes": ("hs_title", "hs_status", "hs_expiration_date", "hs_public_url_key"),
    "line_items": ("name", "quantity", "price", "amount", "hs_product_id"),
}
DATE_PROPERTIES = {"createdate", "hs_createdate", "hs_lastmodifieddate", "lastmodifieddate", "closedate", "hs_expiration_date"}
# Custom properties defined in the sandbox portal, per object type: name -> hasUniqueValue.
# ``external_id`` is a unique-value property (usable as a batch upsert ``idProperty``); the risk and
# readiness properties are written back by the engine.
CUSTOM_PROPERTIES: dict[str, dict[str, bool]] = {
    "companies": {"vat_number": False, "financial_risk": False, "renewal_readiness": False,
                  "renewal_readiness_reason": False, "delivery_risk": False, "delivery_risk_reason": False,
                  "external_id": True},
    "deals": {"financial_risk": False, "renewal_readiness": False, "delivery_risk": False, "external_id": True},
}
# HubSpot-defined unique-value properties (``hs_object_id`` is not one: upsert by it is refused).
BUILTIN_UNIQUE_PROPERTIES = {"contacts": {"email"}}
# Standard properties every portal has, beyond DEFAULT_PROPERTIES (the ones the seed and connector use).
STANDARD_PROPERTIES = {
    "companies": ("address", "address2", "city", "zip", "state", "country", "phone", "industry", "lifecyclestage"),
    "contacts": ("phone", "jobtitle"),
    "deals": ("deal_currency_code", "dealtype"),  # dealtype: newbusiness / existingbusiness (renewals)
    "quotes": ("hs_quote_number", "hs_currency", "hs_quote_amount", "hs_language"),
    # recurringbillingfrequency (weekly, biweekly, monthly, quarterly, per_six_months, annually, ...) and
    # hs_recurring_billing_period (the term, ISO 8601 e.g. "P12M") mark a subscription line
    "line_items": ("hs_sku", "hs_discount_percentage", "hs_line_item_currency_code", "recurringbillingfrequency",
                   "hs_recurring_billing_period"),
}
# Object types HubSpot merges through POST /crm/v3/objects/{objectType}/merge (of those the sandbox holds).
MERGEABLE_TYPES = ("companies", "contacts", "deals")
QUOTE_STATUSES = ("DRAFT", "APPROVAL_NOT_NEEDED", "PENDING_APPROVAL", "APPROVED", "REJECTED")
_ID_BASE = {"companies": 18_400_000_000, "contacts": 95_100_000, "deals": 21_700_000_000,
            "quotes": 402_300_000, "line_items": 13_800_000_000}


class StoreError(Exception):
    """A request the CRM refuses: ``status`` and HubSpot ``category``."""

    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message


def object_type(name: str) -> str:
    """The canonical plural name for a HubSpot object type name or id (``0-14`` → ``quotes``)."""
    key = name.lower()
    if key in OBJECT_TYPE_IDS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise StoreError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")


@lru_cache(maxsize=65536)  # a record's timestamps are rendered on every read of it
def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(value: Any) -> int | None:
    """Epoch ms from a HubSpot date value (epoch ms string, or ISO-8601)."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def encode_after(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_after(token: str) -> str:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise StoreError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: after '{token}' is not a valid paging cursor")
    return text


class CrmStore:
    """Objects by type and id, and associations in both directions."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict]] = {t: {} for t in OBJECT_TYPE_IDS}
        self.assoc: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        self._next = dict(_ID_BASE)

    # --- writes ------------------------------------------------------------------------------
    def create(self, type_: str, properties: dict[str, Any], *, at_ms: int) -> dict:
        self._next[type_] += 1
        rid = str(self._next[type_])
        props = {k: None if v is None else str(v) for k, v in properties.items()}
        props["hs_object_id"] = rid
        props[CREATED_PROP.get(type_, "createdate")] = iso(at_ms)
        props[MODIFIED_PROP.get(type_, "hs_lastmodifieddate")] = iso(at_ms)
        rec = {"id": rid, "properties": props, "createdAt": at_ms, "updatedAt": at_ms, "archived": False}
        self.objects[type_][rid] = rec
        return rec

    def associate(self, a_type: str, a_id: str, b_type: str, b_id: str) -> None:
        for key, other in (((a_type, a_id, b_type), b_id), ((b_type, b_id, a_type), a_id)):
            if other not in self.assoc[key]:
                self.assoc[key].append(other)

    def update(self, type_: str, rid: str, properties: dict[str, Any], *, at_ms: int) -> dict:
        rec = self.get(type_, rid)
        bad = [k for k in properties if k in ("hs_object_id", "createdate", "hs_createdate")]
        if bad:
            raise StoreError(400, "VALIDATION_ERROR", f'Property values were not valid: [{{"isValid":false,"message":"{bad[0]} is a read only property; its value cannot be set.","error":"READ_ONLY_VALUE","name":"{bad[0]}"}}]')
        for key, value in properties.items():
            rec["properties"][key] = None if value is None or value == "" else str(value)
        rec["updatedAt"] = at_ms
        rec["properties"][MODIFIED_PROP.get(type_, "hs_lastmodifieddate")] = iso(at_ms)
        return rec

    def upsert(self, type_: str, inputs: list[dict], *, at_ms: int) -> list[tuple[dict, bool]]:
        """Create or update each input by its unique ``idProperty`` value; ``(record, created)`` each.

        Validate everything first (HubSpot applies a batch wholly or not at all for these errors)."""
        if len(inputs) > 100:
            raise StoreError(400, "VALIDATION_ERROR", f"Batch input is limited to 100 inputs, got {len(inputs)}")
        seen: set[tuple[str, str]] = set()
        for item in inputs:
            prop, value = item.get("idProperty"), item.get("id")
            if not prop or value in (None, ""):
                raise StoreError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1: inputs[].id and inputs[].idProperty are required")
            if (prop, str(value)) in seen:
                raise StoreError(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: [{value}]. IDs must be unique")
            seen.add((prop, str(value)))
            self.check_properties(type_, item.get("properties") or {})
        out = []
        for item in inputs:
            prop, value = item["idProperty"], str(item["id"])
            props = dict(item.get("properties") or {})
            rec = self.find_by(type_, prop, value)
            if rec is None:
                out.append((self.create(type_, {**props, prop: value}, at_ms=at_ms), True))
            else:
                out.append((self.update(type_, rec["id"], props, at_ms=at_ms), False))
        return out

    # --- merges and archiving (the merged-away record keeps ``mergedInto``: its id is an alias) -----
    def resolve_alias(self, type_: str, rid: str) -> str:
        """The id ``rid`` answers as: a merged-away record's id resolves to the record it was merged into."""
        seen: set[str] = set()
        rec = self.objects[type_].get(rid)
        while rec is not None and rec.get("mergedInto") and rid not in seen:
            seen.add(rid)
            rid = rec["mergedInto"]
            rec = self.objects[type_].get(rid)
        return rid

    def merge(self, type_: str, primary_id: str, merged_id: str, *, at_ms: int) -> tuple[dict, dict, int]:
        """Merge ``merged_id`` into ``primary_id`` as HubSpot does: the primary keeps its values and takes
        the merged record's values for the properties it has none of (their count is the webhook's
        ``numberOfPropertiesMoved``), takes over its associations and lists it in ``hs_merged_object_ids``;
        the merged record is archived and its id stays an alias of the primary (GET by it answers the
        primary). Returns (primary, merged, properties moved).

        Raises:
            StoreError: 400 VALIDATION_ERROR (a type that cannot be merged, an object merged into itself),
                404 OBJECT_NOT_FOUND (either id unknown or archived).
        """
        if type_ not in MERGEABLE_TYPES:
            raise StoreError(400, "VALIDATION_ERROR", f"Merging {type_} is not supported")
        if primary_id == merged_id:
            raise StoreError(400, "VALIDATION_ERROR", f"Cannot merge object {merged_id} into itself")
        primary = self.get(type_, primary_id)
        merged = self.get(type_, merged_id)
        if primary["id"] == merged["id"]:  # one id is an alias of the other: already merged
            raise StoreError(400, "VALIDATION_ERROR", f"Cannot merge object {merged_id} into itself")
        created, modified = CREATED_PROP.get(type_, "createdate"), MODIFIED_PROP.get(type_, "hs_lastmodifieddate")
        fixed = {"hs_object_id", created, modified, "hs_merged_object_ids"}
        moved = 0
        for name, value in merged["properties"].items():
            if name not in fixed and value not in (None, "") and primary["properties"].get(name) in (None, ""):
                primary["properties"][name] = value
                moved += 1
        ids = [*(primary["properties"].get("hs_merged_object_ids") or "").split(";"), merged["id"],
               *(merged["properties"].get("hs_merged_object_ids") or "").split(";")]
        primary["properties"]["hs_merged_object_ids"] = ";".join(dict.fromkeys(i for i in ids if i))
        for (a_type, a_id, b_type), others in list(self.assoc.items()):
            if a_type != type_ or a_id != merged["id"]:
                continue
            for other in list(others):
                reverse = self.assoc.get((b_type, other, type_))
                if reverse and merged["id"] in reverse:
                    reverse.remove(merged["id"])
                if not (b_type == type_ and other == primary["id"]):
                    self.associate(type_, primary["id"], b_type, other)
            del self.assoc[(a_type, a_id, b_type)]
        merged.update(archived=True, mergedInto=primary["id"], updatedAt=at_ms)
        primary["updatedAt"] = at_ms
        primary["properties"][modified] = iso(at_ms)
        return primary, merged, moved

    def archive(self, type_: str, rid: str, *, at_ms: int) -> dict | None:
        """Archive (HubSpot's DELETE) a record; None when it was archived already (nothing changes).

        Raises:
            StoreError: 404 OBJECT_NOT_FOUND for an unknown id.
        """
        rec = self.objects[type_].get(rid)
        if rec is None:
            self.get(type_, rid)  # raises HubSpot's 404
        assert rec is not None
        if rec["archived"]:
            return None
        rec.update(archived=True, updatedAt=at_ms)
        return rec

    def restore(self, type_: str, rid: str, *, at_ms: int) -> dict:
        """Bring an archived record back (HubSpot's recycle bin); a merged-away record cannot be.

        Raises:
            StoreError: 404 OBJECT_NOT_FOUND when ``rid`` is no archived, unmerged record.
        """
        rec = self.get(type_, rid, archived=True)
        if rec.get("mergedInto"):
            raise StoreError(404, "OBJECT_NOT_FOUND", "resource not found")
        rec.update(archived=False, updatedAt=at_ms)
        rec["properties"][MODIFIED_PROP.get(type_, "hs_lastmodifieddate")] = iso(at_ms)
        return rec

    # --- schema ------------------------------------------------------------------------------
    def unique_properties(self, type_: str) -> set[str]:
        return set(BUILTIN_UNIQUE_PROPERTIES.get(type_, ())) | {
            n for n, unique in CUSTOM_PROPERTIES.get(type_, {}).items() if unique}

    def known_properties(self, type_: str) -> set[str]:
        """Properties the portal defines for ``type_`` (plus any a stored record carries)."""
        known = set(DEFAULT_PROPERTIES[type_]) | set(STANDARD_PROPERTIES.get(type_, ())) | set(CUSTOM_PROPERTIES.get(type_, {}))
        known |= {"hs_object_id", CREATED_PROP.get(type_, "createdate"), MODIFIED_PROP.get(type_, "hs_lastmodifieddate")}
        known |= BUILTIN_UNIQUE_PROPERTIES.get(type_, set())
        for rec in self.objects[type_].values():
            known.update(rec["properties"])
        return known

    def check_properties(self, type_: str, properties: dict[str, Any]) -> None:
        """Refuse unknown properties the way HubSpot does (400 PROPERTY_DOESNT_EXIST)."""
        known = self.known_properties(type_)
        for name in properties:
            if name not in known:
                detail = f'Property \\"{name}\\" does not exist'
                raise StoreError(400, "VALIDATION_ERROR", f'Property values were not valid: [{{"isValid":false,"message":"{detail}","error":"PROPERTY_DOESNT_EXIST","name":"{name}"}}]')

    # --- kept across a restart (connectors.sandbox_state) --------------------------------------
    def export_state(self) -> dict:
        """Every record, association and id counter, JSON-ready (records are strings, ints, bools)."""
        return {"objects": {t: list(recs.values()) for t, recs in self.objects.items()},
                "assoc": [[a, b, c, list(ids)] for (a, b, c), ids in self.assoc.items() if ids],
                "next_ids": dict(self._next)}

    def import_state(self, state: dict) -> None:
        objects: dict[str, dict[str, dict]] = {t: {} for t in OBJECT_TYPE_IDS}
        for type_, recs in state["objects"].items():
            objects[object_type(type_)] = {str(r["id"]): r for r in recs}
        assoc: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for a, b, c, ids in state["assoc"]:
            assoc[(a, str(b), c)] = [str(i) for i in ids]
        self.objects, self.assoc = objects, assoc
        self._next = {**_ID_BASE, **{t: int(n) for t, n in state["next_ids"].items()}}

    # --- reads -------------------------------------------------------------------------------
    def find_by(self, type_: str, prop: str, value: str, *, archived: bool = False) -> dict | None:
        """The record whose ``prop`` equals ``value`` (the first, in id order), or None."""
        for rec in self.objects[type_].values():
            if rec["archived"] == archived and rec["properties"].get(prop) == value:
                return rec
        return None

    def get(self, type_: str, rid: str, *, archived: bool = False) -> dict:
        rec = self.objects[type_].get(rid)
        if rec is not None and rec.get("mergedInto") and not archived:  # a merged id answers as its primary
            rec = self.objects[type_].get(self.resolve_alias(type_, rid))
        if rec is None or rec["archived"] != archived:
            if not rid.isdigit():
                raise StoreError(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
            raise StoreError(404, "OBJECT_NOT_FOUND", "resource not found")
        return rec

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return list(self.assoc.get((from_type, from_id, to_type), ()))

    def render(self, type_: str, rec: dict, properties: list[str] | None = None,
               associations: list[str] | None = None) -> dict:
        props = rec["properties"]
        names = list(properties) if properties else list(DEFAULT_PROPERTIES[type_])
        names += ["hs_object_id", CREATED_PROP.get(type_, "createdate"), MODIFIED_PROP.get(type_, "hs_lastmodifieddate")]
        out = {
            "id": rec["id"],
            "properties": {n: props.get(n) for n in dict.fromkeys(names)},
            "createdAt": iso(rec["createdAt"]),
            "updatedAt": iso(rec["updatedAt"]),
            "archived": rec["archived"],
        }
        if rec["archived"]:
            out["archivedAt"] = iso(rec["updatedAt"])
        if associations:
            assoc = {}
            for name in associations:
                to_type = object_type(name)
                ids = self.associated(type_, rec["id"], to_type)
                if ids:
                    label = f"{_SINGULAR[type_]}_to_{_SINGULAR[to_type]}"
                    assoc[ASSOCIATION_KEYS.get(to_type, to_type)] = {"results": [{"id": i, "type": label} for i in ids]}
            if assoc:
                out["associations"] = assoc
        return out

    def page(self, type_: str, *, after: str | None, limit: int, archived: bool) -> tuple[list[dict], str | None]:
        """One page of a list in id order, and the next cursor (None on the last page)."""
        start = int(decode_after(after)) if after else -1
        recs = sorted((r for r in self.objects[type_].values() if r["archived"] == archived and int(r["id"]) > start),
                      key=lambda r: int(r["id"]))
        page = recs[:limit]
        return page, encode_after(page[-1]["id"]) if len(recs) > limit else None

    def search(self, type_: str, body: dict) -> tuple[list[dict], int, int | None]:
        """Records matching HubSpot search filters: (page, total, next offset or None)."""
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > 200:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: limit {limit} must be <= 200")
        if after + limit > 10_000:
            raise StoreError(400, "VALIDATION_ERROR", "Search results are limited to 10,000 records")
        groups = body.get("filterGroups") or []
        recs = [r for r in self.objects[type_].values() if not r["archived"]
                and (not groups or any(all(_match(r, f) for f in g.get("filters", [])) for g in groups))]
        recs.sort(key=lambda r: int(r["id"]))
        for sort in reversed(body.get("sorts") or []):
            name, desc = _sort_spec(sort)
            recs.sort(key=lambda r, n=name: _sort_key(r["properties"].get(n), n), reverse=desc)
        page = recs[after:after + limit]
        return page, len(recs), after + limit if after + limit < len(recs) else None


def _comparable(value: Any, name: str) -> Any:
    if value is None:
        return None
    if name in DATE_PROPERTIES:
        return to_ms(value)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return str(value).lower()


def _sort_key(value: Any, name: str) -> tuple:
    v = _comparable(value, name)
    return (v is None, v if isinstance(v, (int, Decimal)) else 0, v if isinstance(v, str) else "")


def _sort_spec(sort: Any) -> tuple[str, bool]:
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    return sort.get("propertyName", "hs_object_id"), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"


def _match(rec: dict, flt: dict) -> bool:
    name, op = flt.get("propertyName", ""), str(flt.get("operator", "EQ")).upper()
    raw = rec["properties"].get(name)
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    if op in ("IN", "NOT_IN"):
        values = {str(v).lower() for v in flt.get("values", [])}
        return (raw is not None and str(raw).lower() in values) == (op == "IN")
    left, right = _comparable(raw, name), _comparable(flt.get("value"), name)
    if op == "NEQ":
        return left != right
    if left is None or right is None:
        return False
    if isinstance(left, str) != isinstance(right, str):
        left, right = str(left), str(right)
    try:
        return {"EQ": left == right, "GT": left > right, "GTE": left >= right,
                "LT": left < right, "LTE": left <= right}[op]
    except KeyError:
        raise StoreError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: Cannot deserialize value of type `FilterOperatorEnum` from String \"{op}\"") from None
