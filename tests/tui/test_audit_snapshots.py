"""Snapshots of the audit pane at 100x30 and 80x24: a seeded chain, verified (a fixed time taken),
fixed clock, no live ticks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from opsconsole.tui.app import OpsConsoleApp

from .audit_data import AUDIT_IDS, seed_audit
from .conftest import ENGINE_LABEL, make_services, screen_text


@pytest.fixture
def audit_services(tmp_path):
    services = make_services(tmp_path)
    seed_audit(services)
    real = services.chain_status
    services.chain_status = lambda should_stop=None: replace(real(should_stop), seconds=0.004)  # a fixed time taken
    yield services
    services.close()


def _run_before(app: OpsConsoleApp, seen: list[str]):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        seen.append(screen_text(app))
    return run_before


def _ids_on_screen(text: str) -> list[int]:
    ids = []
    for line in text.splitlines():
        first = line.split()[:1]
        if first and first[0].isdigit() and "-" in line and ":" in line:
            ids.append(int(first[0]))
    return ids


def test_audit_pane_snapshot(audit_services, snap_compare):
    app = OpsConsoleApp(audit_services, engine_label=ENGINE_LABEL, refresh_s=3600)
    seen: list[str] = []
    assert snap_compare(app, terminal_size=(100, 30), run_before=_run_before(app, seen))
    text = seen[0]
    assert "6 Audit" in text
    assert "chain verified: 12 entries, head matches (took 4 ms)" in text
    assert _ids_on_screen(text) == AUDIT_IDS  # every seeded entry, newest first
    for column in ("at (UTC)", "actor", "action", "subject", "detail"):
        assert column in text
    assert "approve.requested" in text and "correction:31" in text


def test_audit_pane_at_80x24(audit_services, snap_compare):
    app = OpsConsoleApp(audit_services, engine_label=ENGINE_LABEL, refresh_s=3600)
    seen: list[str] = []
    assert snap_compare(app, terminal_size=(80, 24), run_before=_run_before(app, seen))
    text = seen[0]
    assert "chain verified: 12 entries" in text
    shown = _ids_on_screen(text)
    assert shown and shown == AUDIT_IDS[:len(shown)] and shown[0] == 12  # the newest first, as many as fit
    assert len(shown) >= 8
