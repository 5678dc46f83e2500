"""The Intercom sandbox's wire: its limits and field sets, Intercom's error bodies, ids, paging cursors
and the rate-limit window with its headers (X-RateLimit-Limit / -Remaining / -Reset)."""

from __future__ import annotations

import base64
import math
import secrets
import time
import uuid
from typing import Any

import orjson
from starlette.responses import Response


VENDOR_LIMIT_PER_MINUTE = 10_000
WINDOW_S = 10
VENDOR_LIMIT = math.ceil(VENDOR_LIMIT_PER_MINUTE * WINDOW_S / 60)  # 1667 per 10-second window
DEMO_LIMIT = 100_000
DEFAULT_PER_PAGE = 15
MAX_PER_PAGE = 150
SCROLL_PAGE_SIZE = 100
SCROLL_IDLE_S = 60.0
APP_ID = "opsconsole-sandbox"
COLLECTIONS = ("companies", "contacts", "events", "tickets", "tags")

COMPANY_FIELDS = {"name", "company_id", "plan", "size", "website", "industry", "custom_attributes",
                  "remote_created_at", "monthly_spend"}
CONTACT_FIELDS = {"role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at",
                  "owner_id", "unsubscribed_from_emails", "custom_attributes"}
EVENT_FIELDS = {"event_name", "created_at", "user_id", "id", "email", "metadata"}
TICKET_TYPES = {"1": "Onboarding", "2": "Renewal risk", "3": "Billing question"}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_body(code: str, message: str | None, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [err]}


def _error(status: int, code: str, message: str | None, field: str | None = None) -> Response:
    return _json(error_body(code, message, field), status)


def _hex_id() -> str:
    return secrets.token_hex(12)  # Intercom ids are 24 hex characters


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(raw[2:]) if raw.startswith("o:") else None
    except (ValueError, UnicodeDecodeError):
        return None


class RateWindow:
    """Intercom's fixed 10-second windows: (allowed, limit, remaining, reset epoch)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.window_start = 0
        self.used = 0
        self.rejected = 0

    def hit(self, enforce: bool) -> tuple[bool, int, int, int]:
        now = time.time()
        start = int(now // WINDOW_S) * WINDOW_S
        if start != self.window_start:
            self.window_start, self.used = start, 0
        limit = VENDOR_LIMIT if enforce else DEMO_LIMIT
        reset = start + WINDOW_S
        if enforce and self.used >= limit:
            self.rejected += 1
            return False, limit, 0, reset
        self.used += 1
        return True, limit, max(0, limit - self.used), reset


def rate_limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset)}


def rate_limited(limit: int, reset: int) -> Response:
    """Intercom's 429: an error list, Remaining 0 and the reset time; no Retry-After."""
    return _json(error_body("rate_limit_exceeded", f"Exceeded rate limit of {limit} in 10_seconds"), 429,
                 rate_limit_headers(limit, 0, reset))


def unavailable() -> Response:
    return _error(503, "service_unavailable", "Sorry, the API service is temporarily unavailable")
