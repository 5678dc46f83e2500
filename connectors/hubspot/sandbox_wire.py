"""How the HubSpot sandbox answers: orjson-rendered JSON and HubSpot's error bodies (shared by the
sandbox's vendor routes and its control routes)."""

from __future__ import annotations

import math
import uuid

import orjson
from starlette.responses import JSONResponse as _StarletteJSON
from starlette.responses import Response


class JSONResponse(_StarletteJSON):
    """JSON rendered with orjson (several times faster than json.dumps for the sandbox's records)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


def hubspot_error(status: int, message: str, category: str, **extra) -> JSONResponse:
    """An error exactly as HubSpot shapes it."""
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return JSONResponse(body, status_code=status)


def render_429(retry_after: float = 1.0) -> Response:
    body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()), "policyName": "TEN_SECONDLY_ROLLING"}
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


def render_5xx() -> Response:
    return hubspot_error(502, "Bad Gateway: the upstream service did not respond in time", "INTERNAL_ERROR")
