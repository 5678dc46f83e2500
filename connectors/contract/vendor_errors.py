"""What a response must look like when its status is not in the vendor's description.

The rule: a status the operation's description does not list (Xero lists 200 and 400; Intercom mostly
200 and 401; neither lists 429 or 5xx) is held to the error shape the vendor documents for that
status elsewhere, in its developer documentation, and never passes unchecked. A 2xx that the
description does not list is always a violation (the sandbox invented a success).

Each entry: status (``"404"``) or range (``"5XX"``) -> :class:`ErrorShape`. A status with no entry is
a violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ErrorShape:
    media_type: str
    """The Content-Type (without parameters) the vendor answers with."""
    schema: dict | None = None
    """JSON schema (OpenAPI 3.0 dialect; ``#/components/...`` refs resolve in the vendor's description)."""
    headers: tuple[str, ...] = ()
    """Headers the vendor always sends with this status."""
    source: str = ""
    """Where the vendor documents it."""
    header_schemas: dict[str, dict] = field(default_factory=dict)


# Xero, developer.xero.com/documentation/api/accounting/responsecodes ("HTTP response codes and
# errors"), .../guides/oauth2/troubleshooting (401/403 bodies) and .../guides/oauth2/limits (429).
_XERO_PROBLEM = {  # the identity layer's problem-details body
    "type": "object", "required": ["Title", "Status", "Detail"],
    "properties": {"Type": {"type": "string", "nullable": True}, "Title": {"type": "string"},
                   "Status": {"type": "integer"}, "Detail": {"type": "string"},
                   "Instance": {"type": "string"}, "Extensions": {"type": "object"}},
}
_XERO_API_EXCEPTION = {"$ref": "#/components/schemas/Error"}
XERO: dict[str, ErrorShape] = {
    "400": ErrorShape("application/json", _XERO_API_EXCEPTION, source="responsecodes: 400 Bad Request (ApiException)"),
    "401": ErrorShape("application/json", _XERO_PROBLEM, source="oauth2/troubleshooting: 401 Unauthorized"),
    "403": ErrorShape("application/json", _XERO_PROBLEM, source="oauth2/troubleshooting: 403 Forbidden"),
    "404": ErrorShape("text/plain", source="responsecodes: 404 Not Found (plain text)"),
    "429": ErrorShape("text/plain", headers=("Retry-After", "X-Rate-Limit-Problem"),
                      header_schemas={"Retry-After": {"type": "number", "minimum": 0},
                                      "X-Rate-Limit-Problem": {"type": "string",
                                                               "enum": ["minute", "day", "appminute", "concurrent"]}},
                      source="oauth2/limits: 429 with Retry-After and X-Rate-Limit-Problem"),
    "500": ErrorShape("application/json", _XERO_API_EXCEPTION, source="responsecodes: 500 Internal Error"),
    "501": ErrorShape("text/plain", source="responsecodes: 501 Not Implemented"),
    "503": ErrorShape("text/plain", source="responsecodes: 503 Not Available / organisation offline"),
}

# Intercom, developers.intercom.com "Errors" (every error is an ``error.list``) and "Rate Limiting"
# (429 carries X-RateLimit-Limit/-Remaining/-Reset, no Retry-After).
_INTERCOM_ERROR = {"$ref": "#/components/schemas/error"}
_INT = {"type": "integer", "minimum": 0}
INTERCOM: dict[str, ErrorShape] = {
    "429": ErrorShape("application/json", _INTERCOM_ERROR,
                      headers=("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"),
                      header_schemas={"X-RateLimit-Limit": _INT, "X-RateLimit-Remaining": _INT,
                                      "X-RateLimit-Reset": _INT},
                      source="Rate Limiting: 429 error.list with X-RateLimit-* headers"),
    "4XX": ErrorShape("application/json", _INTERCOM_ERROR, source="Errors: error.list"),
    "5XX": ErrorShape("application/json", _INTERCOM_ERROR, source="Errors: error.list"),
}

# HubSpot: its description (hubspot_shapes) gives every operation a ``default`` error already.
HUBSPOT: dict[str, ErrorShape] = {
    "4XX": ErrorShape("application/json", {"$ref": "#/components/schemas/Error"}, source="Error handling"),
    "5XX": ErrorShape("application/json", {"$ref": "#/components/schemas/Error"}, source="Error handling"),
}

UNDOCUMENTED: dict[str, dict[str, ErrorShape]] = {"hubspot": HUBSPOT, "xero": XERO, "intercom": INTERCOM}


def shape_for(vendor: str, status: int) -> ErrorShape | None:
    table = UNDOCUMENTED[vendor]
    return table.get(str(status)) or table.get(f"{str(status)[0]}XX")


__all__ = ["ErrorShape", "UNDOCUMENTED", "shape_for"]
