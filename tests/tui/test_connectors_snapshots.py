"""Snapshots of the Connectors pane at 100x30 and 80x24 (fixed clock, no live ticks), with the
seeded values asserted on screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import make_services, screen_text
from .connectors_data import seed_connectors
from .test_connectors_pane import row_lines
from .test_snapshots import snapshot_app


@pytest.fixture
def connector_services(tmp_path: Path):
    services = make_services(tmp_path)
    seed_connectors(services.settings.store_url)
    yield services
    services.close()


def _before(app, seen: list[str]):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        seen.append(screen_text(app))

    return run_before


def _assert_values(text: str) -> None:
    assert "5 Connectors" in text
    top, bottom = row_lines(text, "hubspot")
    assert "● active" in top and "30s ago" in top and "25.0%" in top and "95/100" in top and "2 in 24h" in top
    assert "1/4" in bottom
    top, bottom = row_lines(text, "xero")
    assert "⏸ paused" in top and "100.0%" in top and "0/60" in top and "0 in 24h" in top
    assert "bob 5m" in bottom and "2/2" in bottom and "429 wait 12s" in bottom
    top, bottom = row_lines(text, "intercom")
    assert "never" in top and "no calls" in bottom and "no engine" in bottom
    assert "P Pause" in text and "U Resume" in text


def test_connectors_pane_snapshot(connector_services, snap_compare):
    app = snapshot_app(connector_services)
    seen: list[str] = []
    assert snap_compare(app, terminal_size=(100, 30), run_before=_before(app, seen))
    text = seen[0]
    _assert_values(text)
    assert "bad signature, 2m ago" in row_lines(text, "hubspot")[1]
    assert "bad x-xero-signature, 3d ago" in row_lines(text, "xero")[1]
    assert "hubspot: active — 0 steps waiting (backoff) · P pause" in text


def test_connectors_pane_at_80x24(connector_services, snap_compare):
    app = snapshot_app(connector_services)
    seen: list[str] = []
    assert snap_compare(app, terminal_size=(80, 24), run_before=_before(app, seen))
    text = seen[0]
    _assert_values(text)
    assert "bad signature, 2m ago" in row_lines(text, "hubspot")[1]
    assert "bad x-xero-signature,…" in row_lines(text, "xero")[1]  # cut to the columns the others leave
    assert "hubspot: active" in text
