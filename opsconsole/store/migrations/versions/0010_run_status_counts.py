"""run_status_counts: the number of runs in each status, kept by triggers (SQLite)

The console's status line and tab counts need runs by status on every poll; a GROUP BY over a
million runs takes ~70 ms (more while the engine writes). Triggers keep one row per status exact
inside the transaction that changes a run, so the read is a seven-row table. A run's status changes
a handful of times in its life: one extra upsert each. Other dialects get nothing here; the
services then count with GROUP BY.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 00:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_ADD = ("INSERT INTO run_status_counts(status, n) VALUES (new.status, 1) "
        "ON CONFLICT(status) DO UPDATE SET n = n + 1;")
_SUB = "UPDATE run_status_counts SET n = n - 1 WHERE status = old.status;"
TRIGGERS = {
    "run_status_counts_insert": f"AFTER INSERT ON runs BEGIN {_ADD} END",
    "run_status_counts_update": f"AFTER UPDATE OF status ON runs WHEN old.status IS NOT new.status BEGIN {_SUB} {_ADD} END",
    "run_status_counts_delete": f"AFTER DELETE ON runs BEGIN {_SUB} END",
}


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE run_status_counts (status VARCHAR(16) PRIMARY KEY, n INTEGER NOT NULL)")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute("INSERT INTO run_status_counts(status, n) SELECT status, count(*) FROM runs GROUP BY status")


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS run_status_counts")
