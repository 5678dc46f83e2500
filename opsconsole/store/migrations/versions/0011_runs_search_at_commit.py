"""runs_search is filled at commit, off the engine's event loop, up to a watermark (SQLite)

Migration 0008 indexed every new run from an INSERT trigger. Measured under `make bench`, that
trigger (trigram tokenising of the business key into FTS5) was about two thirds of the cost of
inserting a run: some 100 µs of the engine's event loop per event. Now new runs are indexed in
bulk by one ``INSERT ... SELECT`` that the engine's writer runs in its commit thread, inside the
group's transaction just before COMMIT (so a run and its index entry still commit together), with
SQLite's C code running while the loop goes on (:func:`opsconsole.run_search.index_new_runs`).

``runs_search_state.last_id`` is the watermark: every run up to it is indexed, those above it (runs
written by something other than the engine's writer, e.g. a tool or a test, until the engine's next
commit) are found by the search scanning that tail. The update and delete triggers touch only
indexed runs, since an FTS5 'delete' of a row that was never indexed would corrupt the index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_INDEXED = "old.id <= (SELECT last_id FROM runs_search_state WHERE id = 1)"
_DELETE_OLD = ("INSERT INTO runs_search(runs_search, rowid, business_key, last_error) "
               "VALUES ('delete', old.id, old.business_key, old.last_error);")
_INSERT_NEW = "INSERT INTO runs_search(rowid, business_key, last_error) VALUES (new.id, new.business_key, new.last_error);"
TRIGGERS = {
    # an UPDATE that sets last_error to what it was (the runner writes it on every step) changes nothing
    "runs_search_update": "AFTER UPDATE OF business_key, last_error ON runs "
    f"WHEN (old.last_error IS NOT new.last_error OR old.business_key IS NOT new.business_key) AND {_INDEXED} "
    f"BEGIN {_DELETE_OLD} {_INSERT_NEW} END",
    "runs_search_delete": f"AFTER DELETE ON runs WHEN {_INDEXED} BEGIN {_DELETE_OLD} END",
}
# migration 0008's, for the downgrade
OLD_TRIGGERS = {
    "runs_search_insert": f"AFTER INSERT ON runs BEGIN {_INSERT_NEW} END",
    "runs_search_update": "AFTER UPDATE OF business_key, last_error ON runs "
    "WHEN old.last_error IS NOT new.last_error OR old.business_key IS NOT new.business_key "
    f"BEGIN {_DELETE_OLD} {_INSERT_NEW} END",
    "runs_search_delete": f"AFTER DELETE ON runs BEGIN {_DELETE_OLD} END",
}


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE runs_search_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_id INTEGER NOT NULL)")
    # every run so far was indexed by 0008's insert trigger
    op.execute("INSERT INTO runs_search_state (id, last_id) SELECT 1, coalesce(max(id), 0) FROM runs")
    for name in OLD_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("INSERT INTO runs_search(rowid, business_key, last_error) SELECT id, business_key, last_error "
               "FROM runs WHERE id > (SELECT last_id FROM runs_search_state WHERE id = 1)")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name, body in OLD_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute("DROP TABLE runs_search_state")
