"""HubSpot CRM v3/v4, as an OpenAPI 3.0 description written from HubSpot's developer documentation.

HubSpot publishes its API reference as pages (developers.hubspot.com/docs/api/crm/understanding-the-crm,
.../crm/companies, .../crm/search, .../crm/associations/v4, .../usage-details "Rate limits",
.../error-handling), not as a description we hold, so this module writes down, for every route the
sandbox serves, what those pages say: the CRM object shapes (``SimplePublicObject`` and its
collections and batch envelopes, named as HubSpot's reference names them), the error body, the 429
body, the ``X-HubSpot-RateLimit-*`` headers. It is then checked like the other vendors' descriptions.

Where the docs' prose and HubSpot's generated reference disagree, the prose and its examples win and
the choice is commented (batch-read ``propertiesWithHistory`` and a 207's ``errors[].links`` are
marked required in the generated reference, but the documented examples omit them).
"""

from __future__ import annotations

import copy

_STRING = {"type": "string"}
_DATE_TIME = {"type": "string", "format": "date-time"}
_INT_HEADER = {"schema": {"type": "integer", "minimum": 0}}

# "Rate limits": every authenticated answer may carry these (the daily pair only for private apps).
RATE_LIMIT_HEADERS = {name: {**_INT_HEADER, "description": "HubSpot rate-limit header"} for name in (
    "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, dict] = {
    # "Error handling": every error is {status: "error", message, correlationId, category, ...}.
    "Error": {
        "type": "object", "required": ["category", "correlationId", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "message": _STRING, "correlationId": {"type": "string", "format": "uuid"}, "category": _STRING,
            "subCategory": _STRING,
            "errors": {"type": "array", "items": _ref("ErrorDetail")},
            "context": {"type": "object", "additionalProperties": {"type": "array", "items": _STRING}},
            "links": {"type": "object", "additionalProperties": _STRING},
        },
    },
    "ErrorDetail": {
        "type": "object", "required": ["message"],
        "properties": {"message": _STRING, "in": _STRING, "code": _STRING, "subCategory": _STRING,
                       "context": {"type": "object", "additionalProperties": {"type": "array", "items": _STRING}}},
    },
    # "Rate limits": a 429 names the policy hit and carries no category.
    "RateLimitError": {
        "type": "object", "required": ["status", "message", "errorType", "correlationId"],
        "properties": {"status": {"type": "string", "enum": ["error"]}, "message": _STRING,
                       "errorType": {"type": "string", "enum": ["RATE_LIMIT"]},
                       "correlationId": {"type": "string", "format": "uuid"},
                       "policyName": {"type": "string", "enum": ["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"]},
                       "groupName": _STRING},
    },
    # "Understanding the CRM": property values are strings (or null when asked for and unset).
    "SimplePublicObject": {
        "type": "object", "required": ["id", "properties", "createdAt", "updatedAt"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "properties": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
            "propertiesWithHistory": {"type": "object"},
            "createdAt": _DATE_TIME, "updatedAt": _DATE_TIME,
            "archived": {"type": "boolean"}, "archivedAt": _DATE_TIME,
        },
    },
    "SimplePublicObjectWithAssociations": {
        "allOf": [_ref("SimplePublicObject"), {"type": "object", "properties": {
            "associations": {"type": "object", "additionalProperties": _ref("CollectionResponseAssociatedId")}}}],
    },
    "SimplePublicUpsertObject": {
        "allOf": [_ref("SimplePublicObject"), {"type": "object", "required": ["new"],
                                               "properties": {"new": {"type": "boolean"}}}],
    },
    "AssociatedId": {"type": "object", "required": ["id", "type"], "properties": {"id": _STRING, "type": _STRING}},
    "CollectionResponseAssociatedId": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("AssociatedId")}, "paging": _ref("Paging")},
    },
    "NextPage": {"type": "object", "required": ["after"], "properties": {"after": _STRING, "link": _STRING}},
    "Paging": {"type": "object", "properties": {"next": _ref("NextPage"), "prev": {"type": "object"}}},
    "ForwardPaging": {"type": "object", "properties": {"next": _ref("NextPage")}},
    "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("SimplePublicObjectWithAssociations")},
                       "paging": _ref("ForwardPaging")},
    },
    "CollectionResponseWithTotalSimplePublicObjectForwardPaging": {
        "type": "object", "required": ["total", "results"],
        "properties": {"total": {"type": "integer", "minimum": 0},
                       "results": {"type": "array", "items": _ref("SimplePublicObject")},
                       "paging": _ref("ForwardPaging")},
    },
    "BatchStatus": {"type": "string", "enum": ["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]},
    "BatchResponseSimplePublicObject": {
        "type": "object", "required": ["status", "results", "startedAt", "completedAt"],
        "properties": {"status": _ref("BatchStatus"), "results": {"type": "array", "items": _ref("SimplePublicObject")},
                       "requestedAt": _DATE_TIME, "startedAt": _DATE_TIME, "completedAt": _DATE_TIME,
                       "links": {"type": "object", "additionalProperties": _STRING}},
    },
    # A 207: some inputs failed. The documented examples carry status/category/message/context per
    # error (the generated reference also requires ``errors`` and ``links``; the examples omit them).
    "StandardError": {
        "type": "object", "required": ["status", "category", "message", "context"],
        "properties": {"status": _STRING, "id": _STRING, "category": _STRING, "subCategory": {},
                       "message": _STRING, "errors": {"type": "array", "items": _ref("ErrorDetail")},
                       "context": {"type": "object", "additionalProperties": {"type": "array", "items": _STRING}},
                       "links": {"type": "object", "additionalProperties": _STRING}},
    },
    "BatchResponseSimplePublicObjectWithErrors": {
        "allOf": [_ref("BatchResponseSimplePublicObject"), {"type": "object", "required": ["numErrors", "errors"], "properties": {
            "numErrors": {"type": "integer", "minimum": 1},
            "errors": {"type": "array", "items": _ref("StandardError")}}}],
    },
    "BatchResponseSimplePublicUpsertObject": {
        "type": "object", "required": ["status", "results", "startedAt", "completedAt"],
        "properties": {"status": _ref("BatchStatus"),
                       "results": {"type": "array", "items": _ref("SimplePublicUpsertObject")},
                       "requestedAt": _DATE_TIME, "startedAt": _DATE_TIME, "completedAt": _DATE_TIME},
    },
    "BatchResponseSimplePublicUpsertObjectWithErrors": {
        "allOf": [_ref("BatchResponseSimplePublicUpsertObject"), {"type": "object", "required": ["numErrors", "errors"], "properties": {
            "numErrors": {"type": "integer", "minimum": 1},
            "errors": {"type": "array", "items": _ref("StandardError")}}}],
    },
    # Associations v4: ids are numbers here (v3's are strings); labels are null for unlabelled ones.
    "AssociationSpecWithLabel": {
        "type": "object", "required": ["category", "typeId"],
        "properties": {"category": {"type": "string", "enum": ["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]},
                       "typeId": {"type": "integer"}, "label": {"type": "string", "nullable": True}},
    },
    "MultiAssociatedObjectWithLabel": {
        "type": "object", "required": ["toObjectId", "associationTypes"],
        "properties": {"toObjectId": {"type": "integer"},
                       "associationTypes": {"type": "array", "items": _ref("AssociationSpecWithLabel")}},
    },
    "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("MultiAssociatedObjectWithLabel")},
                       "paging": _ref("ForwardPaging")},
    },
    # --- request bodies ---
    "SimplePublicObjectInput": {
        "type": "object", "required": ["properties"],
        "properties": {"properties": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}}},
    },
    # "Create": properties plus optional associations ({to: {id}, types: [{category, type id}]}).
    "SimplePublicObjectInputForCreate": {
        "type": "object", "required": ["properties"],
        "properties": {
            "properties": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
            "associations": {"type": "array", "items": {
                "type": "object", "required": ["to", "types"],
                "properties": {"to": {"type": "object", "required": ["id"], "properties": {"id": _STRING}},
                               "types": {"type": "array", "items": {
                                   "type": "object", "required": ["associationCategory", "associationTypeId"],
                                   "properties": {"associationCategory": {"type": "string", "enum": [
                                       "HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]},
                                       "associationTypeId": {"type": "integer"}}}}}}},
        },
    },
    # The generated reference marks ``properties`` and ``propertiesWithHistory`` required; the
    # "Batch read" examples send neither, and HubSpot accepts that.
    "BatchReadInputSimplePublicObjectId": {
        "type": "object", "required": ["inputs"],
        "properties": {"inputs": {"type": "array", "items": {"type": "object", "required": ["id"],
                                                              "properties": {"id": _STRING}}},
                       "properties": {"type": "array", "items": _STRING},
                       "propertiesWithHistory": {"type": "array", "items": _STRING},
                       "idProperty": _STRING, "archived": {"type": "boolean"}},
    },
    "BatchInputSimplePublicObjectBatchInputUpsert": {
        "type": "object", "required": ["inputs"],
        "properties": {"inputs": {"type": "array", "items": {
            "type": "object", "required": ["id", "properties"],
            "properties": {"id": _STRING, "idProperty": _STRING, "objectWriteTraceId": _STRING,
                           "properties": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}}}}}},
    },
    "PublicObjectSearchRequest": {
        "type": "object",
        "properties": {
            "query": _STRING, "limit": {"type": "integer"}, "after": _STRING,
            "sorts": {"type": "array", "items": {}}, "properties": {"type": "array", "items": _STRING},
            "filterGroups": {"type": "array", "items": {"type": "object", "required": ["filters"], "properties": {
                "filters": {"type": "array", "items": {"type": "object", "required": ["propertyName", "operator"],
                                                       "properties": {"propertyName": _STRING, "operator": {
                                                           "type": "string", "enum": [
                                                               "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN",
                                                               "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
                                                               "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"]},
                                                           "value": _STRING, "highValue": _STRING,
                                                           "values": {"type": "array", "items": _STRING}}}}}}},
        },
    },
    "PublicMergeInput": {
        "type": "object", "required": ["primaryObjectId", "objectIdToMerge"],
        "properties": {"primaryObjectId": _STRING, "objectIdToMerge": _STRING},
    },
}


def _json(schema: str) -> dict:
    return {"application/json": {"schema": _ref(schema)}}


def _ok(schema: str | None, description: str = "successful operation") -> dict:
    out: dict = {"description": description, "headers": copy.deepcopy(RATE_LIMIT_HEADERS)}
    if schema:
        out["content"] = _json(schema)
    return out


_ERRORS = {
    "429": {"description": "rate limited (Rate limits)", "content": _json("RateLimitError")},
    "default": {"description": "an error (Error handling)", "content": _json("Error")},
}


def _query(name: str, schema: dict, explode: bool = True) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "style": "form", "explode": explode}


_CSV = {"type": "array", "items": _STRING}
PARAMETERS = {
    "objectType": {"name": "objectType", "in": "path", "required": True, "schema": _STRING},
    "objectId": {"name": "objectId", "in": "path", "required": True, "schema": _STRING},
    "toObjectType": {"name": "toObjectType", "in": "path", "required": True, "schema": _STRING},
    "limit": _query("limit", {"type": "integer"}),
    "after": _query("after", _STRING),
    "archived": _query("archived", {"type": "boolean"}),
    "properties": _query("properties", _CSV, explode=False),
    "propertiesWithHistory": _query("propertiesWithHistory", _CSV, explode=False),
    "associations": _query("associations", _CSV, explode=False),
    "idProperty": _query("idProperty", _STRING),
}


def _params(*names: str) -> list[dict]:
    # inline copies, not $refs: openapi-core resolves a $ref on every access, per request
    return [copy.deepcopy(PARAMETERS[n]) for n in names]


def _op(op_id: str, params: list[str], responses: dict, body: str | None = None) -> dict:
    op: dict = {"operationId": op_id, "parameters": _params(*params), "responses": {**responses, **_ERRORS}}
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    return op


PATHS = {
    "/crm/v3/objects/{objectType}": {
        "get": _op("basic-getPage", ["objectType", "limit", "after", "properties", "propertiesWithHistory",
                                     "associations", "archived"],
                   {"200": _ok("CollectionResponseSimplePublicObjectWithAssociationsForwardPaging")}),
        "post": _op("basic-create", ["objectType"], {"201": _ok("SimplePublicObject", "successful creation")},
                    body="SimplePublicObjectInputForCreate"),
    },
    "/crm/v3/objects/{objectType}/{objectId}": {
        "get": _op("basic-getById", ["objectType", "objectId", "properties", "propertiesWithHistory",
                                     "associations", "archived", "idProperty"],
                   {"200": _ok("SimplePublicObjectWithAssociations")}),
        "patch": _op("basic-update", ["objectType", "objectId", "idProperty"],
                     {"200": _ok("SimplePublicObject")}, body="SimplePublicObjectInput"),
        "delete": _op("basic-archive", ["objectType", "objectId"], {"204": _ok(None, "No content")}),
    },
    "/crm/v3/objects/{objectType}/batch/read": {
        "post": _op("batch-read", ["objectType", "archived"],
                    {"200": _ok("BatchResponseSimplePublicObject"),
                     "207": _ok("BatchResponseSimplePublicObjectWithErrors", "multiple statuses")},
                    body="BatchReadInputSimplePublicObjectId"),
    },
    "/crm/v3/objects/{objectType}/batch/upsert": {
        "post": _op("batch-upsert", ["objectType"],
                    {"200": _ok("BatchResponseSimplePublicUpsertObject"),
                     "207": _ok("BatchResponseSimplePublicUpsertObjectWithErrors", "multiple statuses")},
                    body="BatchInputSimplePublicObjectBatchInputUpsert"),
    },
    "/crm/v3/objects/{objectType}/search": {
        "post": _op("search-doSearch", ["objectType"],
                    {"200": _ok("CollectionResponseWithTotalSimplePublicObjectForwardPaging")},
                    body="PublicObjectSearchRequest"),
    },
    "/crm/v3/objects/{objectType}/merge": {
        "post": _op("public_object-merge", ["objectType"], {"200": _ok("SimplePublicObject")},
                    body="PublicMergeInput"),
    },
    "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}": {
        "get": _op("basic-getPage-associations", ["objectType", "objectId", "toObjectType", "limit", "after"],
                   {"200": _ok("CollectionResponseMultiAssociatedObjectWithLabelForwardPaging")}),
    },
}


def description() -> dict:
    """A fresh copy of the description (OpenAPI 3.0.3)."""
    return copy.deepcopy({
        "openapi": "3.0.3",
        "info": {"title": "HubSpot CRM (objects v3, associations v4), from the developer documentation",
                 "version": "v3"},
        "servers": [{"url": "https://api.hubapi.com"}],
        "security": [{"private_app": []}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "parameters": PARAMETERS,
                       "securitySchemes": {"private_app": {"type": "http", "scheme": "bearer"}}},
    })


__all__ = ["PATHS", "RATE_LIMIT_HEADERS", "SCHEMAS", "description"]
