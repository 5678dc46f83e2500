"""The HubSpot sandbox's ``POST /crm/v3/objects/{objectType}`` (create one record), as a part of
:class:`connectors.hubspot.sandbox.HubSpotSandbox`.

As HubSpot's "Create" reference (``SimplePublicObjectInputForCreate``) documents it: ``properties`` (the
portal's properties only: an unknown one is 400 PROPERTY_DOESNT_EXIST) and optional ``associations``,
``[{"to": {"id": "<record id>"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
"associationTypeId": N}]}]``, where the type id names both the direction and the target object type
(e.g. deal→company 341, or 5 for the primary company; company→deal 342; deal→contact 3). The answer is
201 with the new record (``SimplePublicObject``) and a ``*.creation`` webhook is fired. A type id that
does not start at this object type, a category the sandbox does not define (labels are
``USER_DEFINED``), or a target that does not exist is HubSpot's 400 VALIDATION_ERROR; nothing is
created then.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.hubspot.store import ASSOCIATION_TYPE_IDS, OBJECT_TYPE_IDS, StoreError

# HubSpot-defined "Primary" association types (v4 "Association type id values"), beyond the unlabelled
# ones the store keeps: they associate the same pair (read back through the unlabelled type).
PRIMARY_TYPE_IDS = {("contacts", "companies"): 1, ("companies", "contacts"): 2,
                    ("deals", "companies"): 5, ("companies", "deals"): 6}


def association_targets(from_type: str) -> dict[int, str]:
    """HubSpot-defined association type id -> target object type, for records of ``from_type``."""
    out = {tid: to for (frm, to), tid in ASSOCIATION_TYPE_IDS.items() if frm == from_type}
    out.update({tid: to for (frm, to), tid in PRIMARY_TYPE_IDS.items() if frm == from_type})
    return out


def _invalid(message: str) -> StoreError:
    return StoreError(400, "VALIDATION_ERROR", message)


def plan_associations(store, type_: str, associations: object) -> list[tuple[str, str]]:
    """(target type, target id) pairs for a create's ``associations``, every one checked first."""
    if associations is None:
        return []
    if not isinstance(associations, list):
        raise _invalid("Invalid input JSON on line 1: associations must be an array")
    targets = association_targets(type_)
    pairs: list[tuple[str, str]] = []
    for item in associations:
        to = item.get("to") if isinstance(item, dict) else None
        types = item.get("types") if isinstance(item, dict) else None
        if not isinstance(to, dict) or to.get("id") in (None, "") or not isinstance(types, list) or not types:
            raise _invalid("Invalid input JSON on line 1: each association needs to.id and types")
        to_id = str(to["id"])
        for spec in types:
            category = spec.get("associationCategory") if isinstance(spec, dict) else None
            type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
            if category != "HUBSPOT_DEFINED" or not isinstance(type_id, int) or type_id not in targets:
                raise _invalid(f"{category} {type_id} is not a valid association type for {type_} "
                               f"(association {to_id})")
            to_type = targets[type_id]
            rec = store.objects[to_type].get(to_id)
            if rec is None or rec["archived"]:
                raise _invalid(f"Could not create association: {to_type} {to_id} does not exist")
            pairs.append((to_type, to_id))
    return pairs


class CreateRoutes:
    """``POST /crm/v3/objects/{objectType}`` (mixed into the sandbox, which owns the store and webhooks)."""

    async def _create(self, request: Request, type_: str) -> Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise _invalid("Invalid input JSON on line 1: properties is required")
        props = body["properties"]
        self.store.check_properties(type_, props)
        read_only = [k for k in props if k in ("hs_object_id", "createdate", "hs_createdate")]
        if read_only:
            raise _invalid(f'Property values were not valid: [{{"isValid":false,"message":"{read_only[0]} is a '
                           f'read only property; its value cannot be set.","error":"READ_ONLY_VALUE",'
                           f'"name":"{read_only[0]}"}}]')
        for prop in self.store.unique_properties(type_):
            value = props.get(prop)
            if value not in (None, "") and self.store.find_by(type_, prop, str(value)) is not None:
                raise StoreError(409, "CONFLICT", f"A {type_} record already has that value: {prop}={value}")
        pairs = plan_associations(self.store, type_, body.get("associations"))
        now = int(time.time() * 1000)
        rec = self.store.create(type_, props, at_ms=now)
        for to_type, to_id in pairs:
            self.store.associate(type_, rec["id"], to_type, to_id)
        self.webhooks.dispatch([self.webhooks.object_event("creation", OBJECT_TYPE_IDS[type_], rec["id"],
                                                           occurred_ms=now, source="INTEGRATION")])
        return JSONResponse(self.store.render(type_, rec, list(props)), status_code=201)


__all__ = ["PRIMARY_TYPE_IDS", "CreateRoutes", "association_targets", "plan_associations"]
