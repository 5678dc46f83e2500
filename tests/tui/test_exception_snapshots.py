"""Snapshots of the exception detail view at 100x30 and 80x24: fixed clock, fixed engine label, a
payload with personal data (masked: the operator has no pii role)."""

from __future__ import annotations

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.exception import ExceptionScreen

from .conftest import ENGINE_LABEL, screen_text
from .test_exceptions_pane import PII_PAYLOAD, set_payload


def _detail_app(services, exception_id: int, seen: list[str]):
    app = OpsConsoleApp(services, engine_label=ENGINE_LABEL, refresh_s=3600)

    async def run_before(pilot) -> None:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("2")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.table("exceptions")
        table.move_cursor(row=[r.key.value for r in table.ordered_rows].index(str(exception_id)))
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        assert isinstance(app.screen, ExceptionScreen)
        seen.append(screen_text(app))

    return app, run_before


def test_exception_detail_snapshot(seeded_services, snap_compare):
    set_payload(seeded_services, 11, PII_PAYLOAD)
    seen: list[str] = []
    app, run_before = _detail_app(seeded_services, 11, seen)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
    text = seen[0]
    assert "exception 11" in text and "rejected_by_target" in text and "Q-1002" in text
    assert "run 2" in text and "corr0002" in text
    assert "Account code '999' is not a valid code for this document." in text
    assert "4 spans" in text and "PUT /Invoices" in text
    assert "t Trace" in text and "R Resolve" in text  # the footer
    assert ENGINE_LABEL in text


def test_exception_detail_at_80x24(seeded_services, snap_compare):
    seen: list[str] = []
    app, run_before = _detail_app(seeded_services, 13, seen)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    text = seen[0]
    assert "exception 13" in text and "validation" in text and "hubspot" in text and "Q-1005" in text
    assert "a malformed event" in text and "amount is not a decimal" in text
    assert "Fix the source record in the CRM" in text
    assert "no spans recorded" in text and "payload" in text
