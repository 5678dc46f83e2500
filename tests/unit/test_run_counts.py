"""Runs per status kept by triggers (migration 0010) stay equal to a GROUP BY through inserts,
status changes, other updates and deletes."""

from __future__ import annotations

from sqlalchemy import create_engine, func, insert, select, update

from opsconsole import run_counts
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import runs


def _run(i: int, status: str) -> dict:
    return dict(id=i, workflow="quote_to_order", business_key=f"k{i}", account_key="a", correlation_id=f"{i:032x}",
                status=status, current_step="", mapping_version="1", attempt=1, created_at=float(i),
                updated_at=float(i), last_error="", context={})


def test_the_counts_follow_every_change(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(insert(runs), [_run(i, "pending") for i in range(1, 11)])
        c.execute(update(runs).where(runs.c.id <= 6).values(status="running"))
        c.execute(update(runs).where(runs.c.id <= 4).values(status="succeeded"))
        c.execute(update(runs).where(runs.c.id == 5).values(status="failed", last_error="x"))
        c.execute(update(runs).where(runs.c.id == 1).values(current_step="done"))  # not a status change
        c.execute(update(runs).where(runs.c.id == 2).values(status="succeeded"))  # the same status again
        c.execute(runs.delete().where(runs.c.id.in_([3, 10])))
    with engine.connect() as c:
        kept = run_counts.runs_by_status(c)
        grouped = dict(c.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all())
        assert run_counts.has_counter(c)
        assert run_counts.runs_by_status(c, counter=False) == grouped
    assert kept == grouped == {"succeeded": 3, "running": 1, "failed": 1, "pending": 3}
    engine.dispose()


def test_a_store_migrated_with_runs_in_it_starts_with_their_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url, revision="0009")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(insert(runs), [_run(i, "failed" if i % 3 == 0 else "succeeded") for i in range(1, 31)])
    upgrade(url)
    with engine.connect() as c:
        assert run_counts.runs_by_status(c) == {"failed": 10, "succeeded": 20}
    engine.dispose()
