"""The runs filter on a large store: the trigram index (migrations 0008, 0011) answers sparse terms,
a newest-first scan answers dense ones with a capped count; both match the same runs. The index is
filled at commit up to a watermark; runs above it are found by scanning that tail."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, insert, select, text, update

from opsconsole import run_search
from opsconsole.store.migrate import upgrade
from opsconsole.store.search_index import index_new_runs
from opsconsole.store.tables import runs


def _run(i: int, key: str, *, error: str = "", status: str = "succeeded", workflow: str = "quote_to_order") -> dict:
    return dict(id=i, workflow=workflow, business_key=key, account_key="a", correlation_id=f"{i:032x}",
                status=status, current_step="", mapping_version="1", attempt=1, created_at=float(i),
                updated_at=float(i), last_error=error, context={})


def _migrated(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    return url, create_engine(url)


@pytest.fixture
def conn(tmp_path):
    _url, engine = _migrated(tmp_path)
    with engine.begin() as c:
        c.execute(insert(runs), [_run(i, f"hubspot:quote:{400_000_000 + i}") for i in range(1, 3001)])
        c.execute(insert(runs), [_run(3001, "xero:invoice:INV-0042:t", error="Xero 422: Account code '999' invalid",
                                      status="failed")])
        index_new_runs(c)  # what the engine's writer does at every commit
    with engine.connect() as c:
        yield c
    engine.dispose()


def _page(conn, term, offset=0, limit=10):
    rows, total, exact = run_search.page(conn, runs, [], term, [runs.c.id], offset, limit)
    return [r["id"] for r in rows], total, exact


def _like_ids(conn, term):
    return [r[0] for r in conn.execute(select(runs.c.id).where(run_search.match_condition(runs, term))
                                       .order_by(runs.c.id.desc()))]


def test_a_sparse_term_is_answered_from_the_index_exactly(conn):
    assert _page(conn, "400000123") == ([123], 1, True)
    assert _page(conn, "account CODE '999'") == ([3001], 1, True)  # case-insensitive, like LIKE
    assert _page(conn, "4000012") == (list(range(1299, 1289, -1)), 100, True)  # 400001200-400001299
    assert _page(conn, "nothing like this") == ([], 0, True)


def test_a_dense_term_scans_newest_first_with_a_capped_count(conn, monkeypatch):
    monkeypatch.setattr(run_search, "COUNT_CAP", 1000)
    ids, total, exact = _page(conn, "quote")  # every run (key or workflow): part of a workflow name, scanned
    assert (ids, total, exact) == (list(range(3001, 2991, -1)), 1000, False)
    assert _page(conn, "fail") == ([3001], 1, True)  # part of a status name: scanned, exact under the cap
    assert _page(conn, "42") == ([3001, 2942, 2842, 2742, 2642, 2542, 2442, 2429, 2428, 2427], 61, True)


@pytest.mark.parametrize("term", ["400000123", "4000012", "account code", "quote", "fail", "42", "0000000000000000000000000000bb"])
def test_both_ways_match_what_a_substring_scan_matches(conn, term):
    ids, total, _ = _page(conn, term, limit=5000)
    assert ids == _like_ids(conn, term)


def test_the_index_follows_inserts_error_changes_and_deletes(conn):
    conn.execute(update(runs).where(runs.c.id == 7).values(last_error="Intercom 404: contact gone"))
    assert _page(conn, "contact gone") == ([7], 1, True)
    conn.execute(update(runs).where(runs.c.id == 7).values(last_error=""))
    assert _page(conn, "contact gone") == ([], 0, True)
    conn.execute(insert(runs), [_run(5000, "hubspot:company:777:1", error="HubSpot 409: conflict")])
    assert _page(conn, "409: conf") == ([5000], 1, True)
    conn.execute(runs.delete().where(runs.c.id == 5000))
    assert conn.execute(text("SELECT count(*) FROM runs_search WHERE runs_search MATCH '\"409: conf\"'")).scalar() == 0


def test_a_term_under_three_characters_looks_in_the_newest_runs_only(conn, monkeypatch):
    monkeypatch.setattr(run_search, "SHORT_SCAN", 1000)
    conn.execute(update(runs).where(runs.c.id == 5).values(last_error="zq"))
    conn.execute(update(runs).where(runs.c.id == 2990).values(last_error="zq"))
    assert _page(conn, "zq") == ([2990], 1, True)  # run 5 is older than the newest 1000
    assert run_search.scope(conn, runs, "zq") == "newest 1k runs"
    assert run_search.scope(conn, runs, "zqx") == ""
    assert _page(conn, "zqx") == ([], 0, True)


def test_a_dense_indexed_term_pages_newest_first_from_the_index(conn, monkeypatch):
    monkeypatch.setattr(run_search, "COUNT_CAP", 1000)
    monkeypatch.setattr(run_search, "COUNT_WINDOW", 2000)
    # every run's key holds "hubspot:quote:4000", too many for an exact count
    assert _page(conn, "quote:4000", limit=5) == ([3000, 2999, 2998, 2997, 2996], 1000, False)
    # the last page ends the matches: their number is known exactly
    assert _page(conn, "quote:4000", offset=2990, limit=20) == (list(range(10, 0, -1)), 3000, True)
    # other conditions leave the first window short: the window grows until the page is full
    failed = [runs.c.status == "failed"]
    rows, total, exact = run_search.page(conn, runs, failed, "quote:40000000", [runs.c.id], 0, 5)
    assert ([r["id"] for r in rows], total, exact) == ([], 0, True)
    conn.execute(update(runs).where(runs.c.id.in_([3, 4])).values(status="failed"))
    rows, total, exact = run_search.page(conn, runs, failed, "quote:40000000", [runs.c.id], 0, 5)
    assert ([r["id"] for r in rows], total, exact) == ([4, 3], 2, True)


def _fts(conn, term):
    quoted = '"' + term.replace('"', '""') + '"'
    return [r[0] for r in conn.execute(text("SELECT rowid FROM runs_search WHERE runs_search MATCH :q ORDER BY rowid DESC"),
                                       {"q": quoted})]


def _integrity(conn):
    conn.execute(text("INSERT INTO runs_search(runs_search) VALUES ('integrity-check')"))  # raises when corrupt


def test_runs_above_the_watermark_are_found_by_scanning_and_indexed_at_the_next_commit(tmp_path):
    _url, engine = _migrated(tmp_path)
    with engine.begin() as c:
        c.execute(insert(runs), [_run(i, f"hubspot:quote:{500_000_000 + i}") for i in range(1, 11)])
        index_new_runs(c)
        # written by something other than the engine's writer: not indexed yet
        c.execute(insert(runs), [_run(11, "hubspot:quote:777000111", error="Timeout talking to Xero")])
    with engine.begin() as c:
        assert c.execute(text("SELECT last_id FROM runs_search_state")).scalar() == 10
        assert _fts(c, "777000111") == []
        assert _page(c, "777000111") == ([11], 1, True)  # the tail, scanned
        assert _page(c, "talking to xero") == ([11], 1, True)
        # a changed last error and a deletion above the watermark leave the index alone (an FTS5
        # 'delete' of a row it never indexed would corrupt it); below it, the trigger keeps it
        c.execute(update(runs).where(runs.c.id == 11).values(last_error="Rejected by Xero: 422"))
        c.execute(update(runs).where(runs.c.id == 3).values(last_error="Xero 503 twice"))
        c.execute(runs.delete().where(runs.c.id == 10))
        c.execute(insert(runs), [_run(12, "hubspot:quote:777000112")])
        c.execute(runs.delete().where(runs.c.id == 12))
        _integrity(c)
        index_new_runs(c)
        _integrity(c)
        assert c.execute(text("SELECT last_id FROM runs_search_state")).scalar() == 11
        assert _fts(c, "777000111") == [11] and _fts(c, "rejected by") == [11] and _fts(c, "talking") == []
        assert _fts(c, "503 twice") == [3] and _fts(c, "500000010") == []
        for term in ("777000111", "rejected by", "503 twice", "50000000"):
            assert _page(c, term)[0] == _like_ids(c, term)[:10]
        # the newest runs deleted (a store idle past its retention): the watermark comes down with them,
        # so the id SQLite gives the next run again is above it and gets indexed
        c.execute(runs.delete().where(runs.c.id >= 9))
        index_new_runs(c)
        assert c.execute(text("SELECT last_id FROM runs_search_state")).scalar() == 8
        c.execute(insert(runs), [{k: v for k, v in _run(0, "hubspot:quote:888000999").items() if k != "id"}])
        assert _page(c, "888000999") == ([9], 1, True)
        index_new_runs(c)
        _integrity(c)
        assert _fts(c, "888000999") == [9]
    engine.dispose()


def test_the_engine_writer_indexes_a_new_run_in_the_same_commit(tmp_path):
    from opsconsole.engine import records
    from opsconsole.store.db import make_engine
    from opsconsole.store.writer import Writer

    url, engine = _migrated(tmp_path)
    writer = Writer(make_engine(url, write=True), before_commit=index_new_runs).start()
    try:
        run_id = writer.run_sync(lambda c: records.open_run(c, "quote_to_order", "hubspot:quote:424242"))
    finally:
        writer.stop()
    with engine.connect() as c:
        assert c.execute(text("SELECT last_id FROM runs_search_state")).scalar() == run_id
        assert _fts(c, "424242") == [run_id]
    engine.dispose()
