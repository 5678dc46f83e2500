"""Keeping the runs' full-text index (``runs_search``, migrations 0008 and 0011) on SQLite.

New runs are indexed in bulk, not one by one from an INSERT trigger: the engine's writer calls
:func:`index_new_runs` in its commit thread, inside each group's transaction just before COMMIT,
so a run and its index entry commit together, and the trigram tokenising (SQLite's C code) runs
while the event loop goes on. ``runs_search_state.last_id`` is the watermark up to which every run
is indexed; a run above it (written by something other than the engine's writer) is found by the
search scanning that short tail (:mod:`opsconsole.run_search`) until the engine's next commit.
"""

from __future__ import annotations

from sqlalchemy import Connection

WATERMARK = "(SELECT last_id FROM runs_search_state WHERE id = 1)"
_INDEX = ("INSERT INTO runs_search(rowid, business_key, last_error) "
          f"SELECT id, business_key, last_error FROM runs WHERE id > {WATERMARK}")
# max(id) after the insert above: every run is indexed. (Deleting the newest runs lowers it, so the
# id SQLite reuses for the next run is above the watermark again.) Written only when it moves: a
# commit without new runs dirties no page for it.
_MAX = "coalesce((SELECT max(id) FROM runs), 0)"
_ADVANCE = f"UPDATE runs_search_state SET last_id = {_MAX} WHERE id = 1 AND last_id != {_MAX}"
STATEMENTS = (_INDEX, _ADVANCE)
"""What :func:`index_new_runs` runs, for a tool on a plain DBAPI connection."""


def index_new_runs(conn: Connection) -> None:
    """Index the runs above the watermark and move it up, in ``conn``'s open transaction."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        for sql in STATEMENTS:
            cursor.execute(sql)
    finally:
        cursor.close()
