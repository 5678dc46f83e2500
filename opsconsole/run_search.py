"""Filter-as-you-type over the runs of a large store, in bounded time.

A substring filter (``LIKE '%term%'``) over a million runs scans them all: a second per keystroke.
On SQLite the store keeps a trigram full-text index of the runs' business keys and last errors
(``runs_search``, migrations 0008 and 0011: new runs are indexed by the engine's writer at each
commit, a changed last error by a trigger; see :mod:`opsconsole.store.search_index`), so:

- a term of **three characters or more** is answered from the index, newest first (FTS5 reads its
  matches in descending rowid order and stops when the page is full), plus the runs whose
  correlation id starts with it and the runs not indexed yet (above the index's watermark: none
  once the engine has committed); its count is exact up to :data:`COUNT_CAP` ("1000+" beyond);
- a term that is **part of a workflow or status name** matches most runs: it is answered by
  scanning newest first, which stops as soon as the page is full, the count capped likewise;
- a term **under three characters**, which a trigram index cannot answer, is looked for in the
  newest :data:`SHORT_SCAN` runs only (:func:`scope` says so, for the console to show).

Either way a run matches when its business key, last error, workflow or status contains the term
(case-insensitive for ASCII, as LIKE) or its correlation id starts with it.
"""

from __future__ import annotations

from sqlalchemy import Connection, Integer, and_, func, literal_column, or_, select, text, union

from opsconsole.store.search_index import WATERMARK

COUNT_CAP = 1_000
COUNT_WINDOW = 5_000
"""Index matches a capped count looks at (then "1000+" may be a floor when other conditions apply)."""
SHORT_SCAN = 100_000
"""A term under three characters is looked for in this many newest runs."""
STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "scheduled", "superseded")
_FTS = "SELECT rowid FROM runs_search WHERE runs_search MATCH :q ORDER BY rowid DESC LIMIT :n"


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _by_corr(runs, term: str):
    prefix = term.lower()
    return and_(runs.c.correlation_id >= prefix, runs.c.correlation_id < prefix + "\uffff")


def match_condition(runs, term: str):
    like = _like(term)
    return or_(*(col.like(like, escape="\\") for col in (runs.c.business_key, runs.c.last_error, runs.c.workflow,
                                                         runs.c.status)),
               _by_corr(runs, term))


def has_index(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite" and conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs_search'")).first() is not None


def _dense_by_name(term: str) -> bool:
    from opsconsole.engine.workflows import WORKFLOWS

    t = term.lower()
    return any(t in name for name in (*WORKFLOWS, *STATUSES))


def scope(conn: Connection, runs, term: str) -> str:
    """What part of the store ``term`` was looked for in: "" (all of it), or "newest 100k runs"."""
    if not term or len(term) >= 3:
        return ""
    newest = conn.execute(select(func.max(runs.c.id))).scalar() or 0
    return f"newest {SHORT_SCAN // 1000}k runs" if newest > SHORT_SCAN else ""


def page(conn: Connection, runs, base_cond: list, term: str, columns, offset: int, limit: int
         ) -> tuple[list, int, bool]:
    """(rows newest first, total, whether the total is exact) for ``term`` within ``base_cond``."""
    match = match_condition(runs, term)
    if len(term) >= 3 and not _dense_by_name(term) and has_index(conn):
        return _indexed(conn, runs, base_cond, term, match, columns, offset, limit)
    cond = [*base_cond, match]
    if len(term) < 3:
        newest = select(func.max(runs.c.id)).scalar_subquery()
        cond.append(runs.c.id > newest - SHORT_SCAN)
    rows = conn.execute(select(*columns).where(*cond).order_by(runs.c.id.desc()).offset(offset).limit(limit)
                        ).mappings().all()
    if len(rows) < limit and (rows or offset == 0):  # the page ends the matches: no need to count them
        return list(rows), offset + len(rows), True
    capped = select(literal_column("1")).select_from(runs).where(*cond).limit(COUNT_CAP + 1).subquery()
    total = conn.execute(select(func.count()).select_from(capped)).scalar() or 0
    return list(rows), min(total, COUNT_CAP), total <= COUNT_CAP


def _fts_ids(quoted: str, n: int):
    return text(_FTS).bindparams(q=quoted, n=n).columns(rowid=Integer).subquery()


def _not_indexed(runs):
    return select(runs.c.id).where(runs.c.id > literal_column(WATERMARK))


def _indexed(conn: Connection, runs, base_cond: list, term: str, match, columns, offset: int, limit: int
             ) -> tuple[list, int, bool]:
    quoted = '"' + term.replace('"', '""') + '"'
    by_corr = _by_corr(runs, term)
    n = max(4 * (offset + limit), 500)
    while True:  # the newest n index matches; more when other conditions leave the page short
        window = _fts_ids(quoted, n)
        got, floor = conn.execute(select(func.count(), func.min(window.c.rowid))).first()
        exhausted = got < n
        # a correlation-id match older than the window would sort among matches it has not reached
        corr = by_corr if exhausted or floor is None else and_(by_corr, runs.c.id >= floor)
        ids = union(select(window.c.rowid), select(runs.c.id).where(corr), _not_indexed(runs))
        cond = and_(*base_cond, runs.c.id.in_(ids), match)
        rows = conn.execute(select(*columns).where(cond).order_by(runs.c.id.desc()).offset(offset).limit(limit)
                            ).mappings().all()
        if len(rows) == limit or exhausted:
            break
        n *= 8
    if len(rows) < limit and (rows or offset == 0):
        return list(rows), offset + len(rows), True
    window = _fts_ids(quoted, COUNT_WINDOW + 1)
    seen = conn.execute(select(func.count()).select_from(window)).scalar() or 0
    ids = union(select(window.c.rowid), select(runs.c.id).where(by_corr), _not_indexed(runs))
    capped = (select(literal_column("1")).select_from(runs).where(*base_cond, runs.c.id.in_(ids), match)
              .limit(COUNT_CAP + 1).subquery())
    total = conn.execute(select(func.count()).select_from(capped)).scalar() or 0
    return list(rows), min(total, COUNT_CAP), total <= COUNT_CAP and seen <= COUNT_WINDOW
