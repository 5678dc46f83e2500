"""The engine's hot-path SQL: compiled once per dialect by SQLAlchemy, executed on the DBAPI cursor.

The engine runs thousands of small writes a second through the one writer, and SQLAlchemy's
per-execution machinery (statement cache keys, result proxies, type processing) costs several
times what SQLite takes to run such a statement. So each statement is built with SQLAlchemy Core
(portable: the dialect decides SQL and paramstyle), compiled once, and then run directly on the
connection's DBAPI cursor inside the same transaction. JSON columns are serialised here.
A statement is cached by its table and its columns in the order the caller names them (a call
site always names them in one order, so nothing is sorted per call).
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import JSON, Connection, Table, bindparam, insert, select, update
from sqlalchemy.sql.elements import ClauseElement

from opsconsole.store.db import _json_dumps

_cache: dict[tuple, "_Compiled"] = {}


_ABSENT = object()


class _Compiled:
    def __init__(self, stmt: ClauseElement, conn: Connection, table: Table | None) -> None:
        compiled = stmt.compile(dialect=conn.dialect)
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError(f"expanding parameters (IN lists) cannot be prepared: {self.sql}")
        self.names: list[str] | None = list(compiled.positiontup) if compiled.positiontup is not None else None
        self.binds = compiled.binds
        self.table = table
        self.order = self.names if self.names is not None else list(self.binds)
        self.json = frozenset(n for n, b in self.binds.items() if isinstance(b.type, JSON))
        self.returns = _returns(conn.dialect.name)
        self.pk = _pk(table).name if table is not None and table.primary_key.columns else None
        # per parameter, worked out once: (name, is JSON, the value when the caller gives none)
        self._plan = [(name, name in self.json, self._fallback(name)) for name in self.order]

    def _fallback(self, name: str) -> Callable[[], Any]:
        """The value of a parameter the caller left out: the statement's own literal, else the
        column's default (called each time when it is a function), else None."""
        value = self.binds[name].value
        column = self.table.c.get(name) if self.table is not None else None
        if value is None and column is not None and column.default is not None:
            default = column.default
            if default.is_callable:
                return lambda: default.arg(None)
            value = default.arg
        return lambda: value

    def args(self, params: dict) -> Any:
        # every statement of every event binds through here (some 200 values an event): one loop,
        # no method call per value
        values = []
        append = values.append
        get = params.get
        for name, is_json, fallback in self._plan:
            value = get(name, _ABSENT)
            if value is _ABSENT:
                value = fallback()
            if is_json and value is not None:
                value = _json_dumps(value)
            append(value)
        return values if self.names is not None else dict(zip(self.order, values))


def _compiled(key: Any, conn: Connection, build: Callable[[str], ClauseElement], table: Table | None) -> _Compiled:
    k = (key, conn.dialect.name)
    found = _cache.get(k)
    if found is None:
        found = _cache[k] = _Compiled(build(conn.dialect.name), conn, table)
    return found


_CURSOR = "opsconsole.prepared.cursor"


def _cursor(conn: Connection) -> Any:
    """One DBAPI cursor per DBAPI connection, kept in the connection's info (it follows the DBAPI
    connection through the pool): a new cursor per statement cost three times what running a
    small prepared statement on an existing one does. Every statement here is run to its end
    (rows are fetched whole), so the shared cursor never holds a statement open."""
    fairy = conn.connection
    dbapi = fairy.dbapi_connection
    found = fairy.info.get(_CURSOR)
    if found is None or found[0] is not dbapi:  # (a reconnected record gets a cursor of its own)
        found = fairy.info[_CURSOR] = (dbapi, dbapi.cursor())
    return found[1]


def _run(conn: Connection, c: _Compiled, params: dict):
    cursor = _cursor(conn)
    cursor.execute(c.sql, c.args(params))
    return cursor


def _dialect_insert(dialect: str, table: Table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def _pk(table: Table):
    return list(table.primary_key.columns)[0]


def _first(cursor) -> Any:
    rows_ = cursor.fetchall()  # fetched whole: the statement is finished and holds no read snapshot
    return rows_[0][0] if rows_ else None


def scalar(conn: Connection, key: str, stmt: ClauseElement, params: dict) -> Any:
    """First column of the first row of a prebuilt SELECT (or None)."""
    return _first(_run(conn, _compiled(("select", key), conn, lambda d: stmt, None), params))


# SQLite runs a RETURNING clause as a trigger sub-program: measured on the engine's store, it tripled
# the cost of a one-row INSERT (8 -> 24 us). SQLite's writer is the only one inside its BEGIN IMMEDIATE
# transaction, so the new row's key comes from the cursor (``lastrowid``, ``rowcount``) instead, and an
# upsert looks its row up first. Other dialects keep RETURNING.
def _returns(dialect: str) -> bool:
    return dialect != "sqlite"


def _new_key(cursor, c: _Compiled, params: dict) -> Any:
    """The key of the row a RETURNING-free INSERT just added: the caller's own, else SQLite's rowid
    (the tables' integer keys are rowid aliases)."""
    given = params.get(c.pk)
    return given if given is not None else cursor.lastrowid


def insert_ignore(conn: Connection, table: Table, keys: tuple[str, ...], params: dict) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING; the new row's key, or None when it existed."""
    cols = tuple(params)

    def build(d):
        stmt = _dialect_insert(d, table).values({c: bindparam(c) for c in cols}).on_conflict_do_nothing(
            index_elements=list(keys))
        return stmt.returning(_pk(table)) if _returns(d) else stmt
    c = _compiled(("ignore", table.name, keys, cols), conn, build, table)
    cursor = _run(conn, c, params)
    if c.returns:
        return _first(cursor)
    return _new_key(cursor, c, params) if cursor.rowcount == 1 else None


def insert_row(conn: Connection, table: Table, params: dict) -> Any:
    """INSERT one row; returns its primary key."""
    cols = tuple(params)

    def build(d):
        stmt = insert(table).values({c: bindparam(c) for c in cols})
        return stmt.returning(_pk(table)) if _returns(d) else stmt
    c = _compiled(("insert", table.name, cols), conn, build, table)
    cursor = _run(conn, c, params)
    return _first(cursor) if c.returns else _new_key(cursor, c, params)


def insert_many(conn: Connection, table: Table, rows: list[dict]) -> None:
    if not rows:
        return
    cols = tuple(rows[0])
    c = _compiled(("insert_many", table.name, cols), conn,
                  lambda d: insert(table).values({col: bindparam(col) for col in cols}), table)
    _cursor(conn).executemany(c.sql, [c.args(r) for r in rows])


def upsert(conn: Connection, table: Table, keys: tuple[str, ...], params: dict) -> int:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other given column; returns the row's id."""
    cols = tuple(params)
    if _returns(conn.dialect.name):
        def build(d):
            stmt = _dialect_insert(d, table).values({c: bindparam(c) for c in cols})
            return stmt.on_conflict_do_update(index_elements=list(keys),
                                              set_={c: stmt.excluded[c] for c in cols if c not in keys}
                                              ).returning(table.c.id)
        return _first(_run(conn, _compiled(("upsert", table.name, keys, cols), conn, build, table), params))
    found = _first(_run(conn, _compiled(("upsert_find", table.name, keys), conn, lambda d: select(table.c.id).where(
        *(table.c[k] == bindparam(k) for k in keys)), None), params))
    if found is None:
        return insert_row(conn, table, params)
    update_by_id(conn, table, found, {c: v for c, v in params.items() if c not in keys})
    return found


def update_by_id(conn: Connection, table: Table, row_id: int, values: dict) -> int:
    """UPDATE table SET <values> WHERE id = row_id, one compiled statement per column set."""
    cols = tuple(values)
    c = _compiled(("update", table.name, cols), conn, lambda d: update(table).where(
        table.c.id == bindparam("_id")).values({col: bindparam(f"v_{col}") for col in cols}), None)
    return _run(conn, c, {"_id": row_id, **{f"v_{col}": v for col, v in values.items()}}).rowcount


def execute(conn: Connection, key: str, stmt: ClauseElement, params: dict) -> int:
    """Run a prebuilt UPDATE/DELETE; returns the row count."""
    return _run(conn, _compiled(("exec", key), conn, lambda d: stmt, None), params).rowcount


def rows(conn: Connection, key: str, stmt: ClauseElement, params: dict) -> list[tuple]:
    """Every row of a prebuilt SELECT, as DBAPI tuples (JSON columns come back as text)."""
    return _run(conn, _compiled(("select", key), conn, lambda d: stmt, None), params).fetchall()


def upsert_many(conn: Connection, table: Table, keys: tuple[str, ...], rows_: list[dict]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE the other columns, for many rows of one shape."""
    if not rows_:
        return
    cols = tuple(rows_[0])

    def build(d):
        stmt = _dialect_insert(d, table).values({c: bindparam(c) for c in cols})
        return stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in cols if c not in keys})
    c = _compiled(("upsert_many", table.name, keys, cols), conn, build, table)
    _cursor(conn).executemany(c.sql, [c.args(r) for r in rows_])


def execute_many(conn: Connection, key: str, stmt: ClauseElement, params: list[dict]) -> None:
    """Run a prebuilt UPDATE/DELETE once per parameter set."""
    if not params:
        return
    c = _compiled(("exec", key), conn, lambda d: stmt, None)
    _cursor(conn).executemany(c.sql, [c.args(p) for p in params])
