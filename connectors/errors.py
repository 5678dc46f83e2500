"""Connector errors, grouped by what the caller should do (singer-sdk style).

Retriable (429, 5xx, timeouts) are retried with backoff; Auth is never retried; Fatal (other 4xx)
is not retried; Skippable means the record can be passed over. Each carries a ``category`` from
DESIGN's exception vocabulary and a short ``title`` for the console.

A 2xx answer whose body does not parse as the JSON its content-type announces is a
:class:`MalformedResponseError`: retriable, category ``downstream_5xx`` (the target failed to
answer, whatever its status said). The request may well have been carried out, so its retry must
carry the same idempotency key, as every write's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallRecord:
    """One HTTP exchange, kept for spans and exception payloads."""

    system: str
    method: str
    url: str
    status: int | None
    started_at: float
    duration_ms: float
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: Any = None
    response_headers: Any = field(default_factory=dict)  # httpx.Headers (a mapping); not copied per call
    response_body: Any = None
    traceparent: str = ""


class ConnectorError(Exception):
    """Base of every error a connector raises."""

    title = "Connector error"
    category = "downstream_5xx"
    retriable = False

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        status: int | None = None,
        body: Any = None,
        retry_after: float | None = None,
        call: CallRecord | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.call = call

    def __str__(self) -> str:
        where = f"{self.system} " if self.system else ""
        status = f"HTTP {self.status}: " if self.status else ""
        return f"{where}{status}{self.message}"


class RetriableError(ConnectorError):
    title = "Temporary failure"
    retriable = True


class RateLimitedError(RetriableError):
    title = "Rate limited"
    category = "rate_limit"


class DownstreamError(RetriableError):
    title = "Target unavailable"
    category = "downstream_5xx"


class MalformedResponseError(DownstreamError):
    """A success status over a body that is not the JSON it claims to be (cut short, garbled)."""

    title = "Malformed response"


class TimeoutError(RetriableError):  # noqa: A001 - the vocabulary's name
    title = "Timed out"
    category = "timeout"


class AuthError(ConnectorError):
    title = "Not authorised"
    category = "auth"


class FatalError(ConnectorError):
    title = "Rejected by target"
    category = "rejected_by_target"


class SkippableError(ConnectorError):
    title = "Skipped"
    category = "rejected_by_target"


class NotFoundError(FatalError):
    title = "Not found"


def classify_status(status: int) -> type[ConnectorError] | None:
    """The error class for an HTTP status, or None for success."""
    if status < 400:
        return None
    if status == 429:
        return RateLimitedError
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status >= 500:
        return DownstreamError
    return FatalError
