"""Personal data in the trace's step and span payloads is masked unless the operator holds the pii
role, as in the exception detail (the services mask it: the console and the CLI get the same)."""

from __future__ import annotations

from sqlalchemy import insert

from opsconsole.store import tables as t

from .conftest import FIXED_NOW, screen_text
from .test_panes import make_app, settle

PERSON = {"contact": {"name": "Ann Example", "email": "ann@example.com"}, "phone": "+44 20 7946 0000",
          "amount": "49.00"}


def _add_personal_step(services) -> None:
    with services._write.begin() as conn:
        conn.execute(insert(t.steps), [dict(
            run_id=4, seq=1, name="create_customer", target_system="xero", operation="PUT /Contacts",
            idempotency_key="Q-1003:create_customer", status="failed", attempts=6, request=PERSON,
            response={"Message": "rate limited for ann@example.com"}, error="Xero 429",
            error_category="rate_limit", started_at=FIXED_NOW - 100, finished_at=FIXED_NOW - 99)])
        conn.execute(insert(t.spans), [dict(
            correlation_id="corr0004", span_id="p1", parent_span_id="", run_id=4, system="xero",
            operation="PUT /Contacts", status="error", http_status=429, started_at=FIXED_NOW - 100,
            duration_ms=12.0, request=PERSON, response=None)])


def test_run_detail_masks_steps_and_spans_without_the_pii_role(seeded_services):
    _add_personal_step(seeded_services)
    detail = seeded_services.run_detail(4)
    (step,) = detail.steps
    assert step.request == {"contact": {"name": "•••", "email": "•••"}, "phone": "•••", "amount": "49.00"}
    assert step.response == {"Message": "rate limited for •••"}
    assert detail.spans[0].request == step.request
    assert detail.masked == 7  # 3 + 1 in the step, 3 in the span
    seeded_services.settings.roles = {**seeded_services.settings.roles, "alice": ["support", "pii"]}
    shown = seeded_services.run_detail(4)
    assert (shown.steps[0].request, shown.masked) == (PERSON, 0)


async def test_the_trace_says_how_many_values_it_masked(seeded_services):
    _add_personal_step(seeded_services)
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("down", "down")  # run 4 (newest first: 6 5 4)
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "run 4" in text and "7 personal values masked" in text
        assert "ann@example.com" not in text
