"""Filter-as-you-type over the runs of a large store, in bounded time.

A substring filter (``LIKE '%term%'``) over a million runs scans them all: a second per keystroke.
On SQLite the store keeps a trigram full-text index of the runs' business keys and last errors
(``runs_search``, migration 0008, kept by triggers on insert and on a changed last error), so:

- a **sparse** term (few matches: a quote number, an invoice id, an error text) is answered from the
  index: the matching ids, newest first, and their exact count;
- a **dense** term (many matches; under three characters, which a trigram index cannot answer; or
  part of a workflow or status name) is answered by scanning newest first, which stops as soon as
  the page is full, with its count capped at :data:`COUNT_CAP` (shown as "1000+": counting further would scan on).

Either way a run matches when its business key, last error, workflow or status contains the term
(case-insensitive for ASCII, as LIKE) or its correlation id starts with it.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, literal_column, or_, select, text

COUNT_CAP = 1_000
SPARSE = 2_000
"""At most this many index matches: answer from the index (else scan newest first)."""
STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "scheduled", "superseded")


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def match_condition(runs, term: str):
    like = _like(term)
    prefix = term.lower()
    return or_(*(col.like(like, escape="\\") for col in (runs.c.business_key, runs.c.last_error, runs.c.workflow,
                                                         runs.c.status)),
               and_(runs.c.correlation_id >= prefix, runs.c.correlation_id < prefix + "\uffff"))


def has_index(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite" and conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs_search'")).first() is not None


def _dense_by_name(term: str) -> bool:
    from opsconsole.engine.workflows import WORKFLOWS

    t = term.lower()
    return any(t in name for name in (*WORKFLOWS, *STATUSES))


def page(conn: Connection, runs, base_cond: list, term: str, columns, offset: int, limit: int
         ) -> tuple[list, int, bool]:
    """(rows newest first, total, whether the total is exact) for ``term`` within ``base_cond``."""
    match = match_condition(runs, term)
    if len(term) >= 3 and not _dense_by_name(term) and has_index(conn):
        quoted = '"' + term.replace('"', '""') + '"'
        ids = conn.execute(text("SELECT rowid FROM runs_search WHERE runs_search MATCH :q LIMIT :n"),
                           {"q": quoted, "n": SPARSE + 1}).scalars().all()
        if len(ids) <= SPARSE:
            prefix = term.lower()
            by_corr = and_(runs.c.correlation_id >= prefix, runs.c.correlation_id < prefix + "\uffff")
            cond = and_(*base_cond, or_(runs.c.id.in_(ids), by_corr), match)
            rows = conn.execute(select(*columns).where(cond).order_by(runs.c.id.desc())
                                .offset(offset).limit(limit)).mappings().all()
            total = conn.execute(select(func.count()).select_from(runs).where(cond)).scalar() or 0
            return list(rows), total, True
    cond = and_(*base_cond, match)
    rows = conn.execute(select(*columns).where(cond).order_by(runs.c.id.desc()).offset(offset).limit(limit)
                        ).mappings().all()
    capped = select(literal_column("1")).select_from(runs).where(cond).limit(COUNT_CAP + 1).subquery()
    total = conn.execute(select(func.count()).select_from(capped)).scalar() or 0
    return list(rows), min(total, COUNT_CAP), total <= COUNT_CAP
