"""The Connectors pane's seed (on top of conftest's): spans in the last hour, the engine's governor
records, a paused connector, rejected webhooks and a step waiting for Xero."""

from __future__ import annotations

from sqlalchemy import create_engine, insert

from opsconsole.store import tables as t

from .conftest import FIXED_NOW


def _span(i, system, status, http, ago):
    return dict(correlation_id="corr0003", span_id=f"c{i}", parent_span_id="", run_id=3, system=system,
                operation="GET /x", status=status, http_status=http, started_at=FIXED_NOW - ago, duration_ms=10.0,
                request=None, response=None)


SPANS = [
    # hubspot: 4 calls in the last hour, 1 an error (25.0%), the newest success 30 s ago
    _span(1, "hubspot", "ok", 200, 30), _span(2, "hubspot", "error", 503, 60), _span(3, "hubspot", "ok", 200, 600),
    _span(4, "hubspot", "ok", 201, 1800), _span(5, "hubspot", "error", 500, 5000),  # older than the hour
    # xero: 2 calls in the last hour, both 429s (100.0%); its newest success is conftest's, 2 h ago
    _span(6, "xero", "error", 429, 400), _span(7, "xero", "error", 429, 420),
]
HEALTH = [
    dict(system="hubspot", budget_left=95, budget_limit=100, blocked_for_s=0.0, throttled=0,
         vendor_said_at=FIXED_NOW - 30, recorded_at=FIXED_NOW - 2, holder="console:opsbox:4242"),
    dict(system="xero", budget_left=0, budget_limit=60, blocked_for_s=12.0, throttled=2,
         vendor_said_at=FIXED_NOW - 400, recorded_at=FIXED_NOW - 2, holder="console:opsbox:4242"),
]
STATE = [dict(system="xero", paused=True, paused_by="bob", paused_at=FIXED_NOW - 300, reason="Xero maintenance",
              updated_at=FIXED_NOW - 300)]
REJECTED = [  # conftest holds one: hubspot, "bad signature", 2 minutes ago
    dict(source="hubspot", reason="missing X-HubSpot-Signature-v3", remote="203.0.113.9", at=FIXED_NOW - 3600),
    dict(source="hubspot", reason="timestamp too old", remote="203.0.113.9", at=FIXED_NOW - 2 * 86400),
    dict(source="xero", reason="bad x-xero-signature", remote="198.51.100.7", at=FIXED_NOW - 3 * 86400),
]
WAITING_STEP = dict(run_id=5, seq=2, name="create_sales_order", target_system="xero", operation="PUT /Quotes",
                    idempotency_key="Q-1004:create_sales_order", status="waiting", attempts=0, error="",
                    error_category="", started_at=FIXED_NOW - 290)


def seed_connectors(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(t.spans), SPANS)
        conn.execute(insert(t.connector_health), HEALTH)
        conn.execute(insert(t.connector_state), STATE)
        conn.execute(insert(t.rejected_webhooks), REJECTED)
        conn.execute(insert(t.steps), [WAITING_STEP])
    engine.dispose()
