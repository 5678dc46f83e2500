"""What a running engine gives its parts: the writer, reads, connector clients, tracing, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection, Engine

from opsconsole.engine.faultpoints import FaultPoints
from opsconsole.engine.tracing import new_span_id, traceparent
from opsconsole.settings import Settings, resolve_secret
from opsconsole.store.writer import Writer

T = TypeVar("T")


@dataclass
class EngineEnv:
    settings: Settings
    writer: Writer
    read_engine: Engine
    clients: dict[str, Any]
    faults: FaultPoints = field(default_factory=FaultPoints)
    audit: Any = None
    """The audit chain (governance re-checks approvals against it); None in a read-only dry run."""

    def client(self, name: str) -> Any:
        return self.clients[name]

    def traceparent(self, state) -> str:
        """A fresh child span of the run's trace, for one outbound request."""
        return traceparent(state.correlation_id, new_span_id())

    def read(self, fn: Callable[[Connection], T]) -> T:
        """A short indexed read (milliseconds at most), on the read engine."""
        with self.read_engine.connect() as conn:
            try:
                return fn(conn)
            finally:
                conn.rollback()


def build_clients(settings: Settings, *, transport: str | None = None, max_connections: int | None = None) -> dict:
    """One client per configured connector, found through the registry (credentials resolved here).
    Intercom is optional: without a base URL there is no client, and the steps that would write to
    customer success are skipped ("no Intercom connection")."""
    from connectors import registry

    out = {}
    vendors = [("hubspot", settings.hubspot), ("xero", settings.xero)]
    if settings.intercom.base_url:
        vendors.append(("intercom", settings.intercom))
    for name, cfg in vendors:
        options = {"tenant_id": cfg.tenant_id} if name == "xero" else {}
        out[name] = registry.load(name).client(
            cfg.base_url, token=resolve_secret(cfg.token), transport=transport or settings.http_transport,
            timeout_s=cfg.timeout_s, max_connections=max_connections or cfg.max_connections, **options)
    return out
