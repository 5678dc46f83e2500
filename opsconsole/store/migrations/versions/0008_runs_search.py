"""runs_search: a trigram full-text index of the runs' business keys and last errors (SQLite)

The console filters runs as you type; on a large store a substring scan is too slow
(opsconsole/run_search.py). The index is external-content (it stores only the trigrams) and kept by
triggers: a run's business key never changes and its last error changes only on a failure, so the
engine's hot path (status and step updates) never touches it. Other dialects get nothing here
(PostgreSQL would use pg_trgm); the console then scans.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 21:20:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TRIGGERS = {
    "runs_search_insert": "AFTER INSERT ON runs BEGIN "
    "INSERT INTO runs_search(rowid, business_key, last_error) VALUES (new.id, new.business_key, new.last_error); END",
    # an UPDATE that sets last_error to what it was (the runner writes it on every step) changes nothing
    "runs_search_update": "AFTER UPDATE OF business_key, last_error ON runs "
    "WHEN old.last_error IS NOT new.last_error OR old.business_key IS NOT new.business_key BEGIN "
    "INSERT INTO runs_search(runs_search, rowid, business_key, last_error) "
    "VALUES ('delete', old.id, old.business_key, old.last_error); "
    "INSERT INTO runs_search(rowid, business_key, last_error) VALUES (new.id, new.business_key, new.last_error); END",
    "runs_search_delete": "AFTER DELETE ON runs BEGIN "
    "INSERT INTO runs_search(runs_search, rowid, business_key, last_error) "
    "VALUES ('delete', old.id, old.business_key, old.last_error); END",
}


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE runs_search USING fts5(business_key, last_error, content='runs', "
               "content_rowid='id', tokenize='trigram')")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute("INSERT INTO runs_search(runs_search) VALUES ('rebuild')")


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS runs_search")
