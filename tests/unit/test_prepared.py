"""The hot path's prepared statements: one cursor per DBAPI connection, no statement left open."""

from __future__ import annotations

import sqlite3

from sqlalchemy import bindparam, select

from opsconsole.store import prepared as P
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import xrefs


def _store(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url, make_engine(url, write=True)


_BY_EXTERNAL = select(xrefs.c.canonical_id).where(xrefs.c.external_id == bindparam("ext"))
_BY_SYSTEM = select(xrefs.c.canonical_id).where(xrefs.c.system == bindparam("system")).order_by(xrefs.c.id)


def test_statements_share_one_cursor_and_finish(tmp_path):
    url, engine = _store(tmp_path)
    with engine.begin() as conn:
        for n in range(3):
            P.insert_ignore(conn, xrefs, ("system", "object_type", "external_id"), {
                "system": "hubspot", "object_type": "company", "external_id": str(n), "canonical_id": f"cus_{n}",
                "created_at": 0.0})
        first = P._cursor(conn)
        assert P.scalar(conn, "test_by_external", _BY_EXTERNAL, {"ext": "1"}) == "cus_1"
        assert P._cursor(conn) is first
        assert P.rows(conn, "test_by_external", _BY_EXTERNAL, {"ext": "2"}) == [("cus_2",)]
    # a read outside any transaction must not leave a statement (and so a read snapshot) open: a
    # TRUNCATE checkpoint from another connection would then report the store busy
    with engine.connect() as conn:
        assert P.scalar(conn, "test_by_system", _BY_SYSTEM, {"system": "hubspot"}) == "cus_0"  # of three rows
        other = sqlite3.connect(tmp_path / "store.db")
        busy, _log, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        other.close()
        assert busy == 0
        conn.rollback()


def test_a_reconnected_connection_gets_a_cursor_of_its_own(tmp_path):
    url, engine = _store(tmp_path)
    with engine.connect() as conn:
        before = P._cursor(conn)
        conn.invalidate()  # the DBAPI connection is closed; the next use reconnects
        conn.rollback()
        assert P.scalar(conn, "test_by_external", _BY_EXTERNAL, {"ext": "x"}) is None
        assert P._cursor(conn) is not before


def test_intercom_contacts_of_a_customer_only_its_own(tmp_path):
    """The prebuilt query: a customer id's LIKE wildcards are escaped (``cus_a_b`` is not ``cus_aXb``),
    archived cross-references are left out, and the limit is a parameter."""
    from opsconsole.engine import records
    from opsconsole.engine.provisioning import intercom_contact

    url, engine = _store(tmp_path)
    with engine.begin() as conn:
        for customer, email, person, archived in (("cus_a_b", "ann@a.example", "ic_1", None),
                                                  ("cus_a_b", "bob@a.example", "ic_2", None),
                                                  ("cus_a_b", "cy@a.example", "ic_3", 1.0),
                                                  ("cus_aXb", "dee@x.example", "ic_4", None)):
            contact = f"con_{person}"
            records.put_xref(conn, records.EMAIL_KEY, records.CONTACT, records.contact_email_key(customer, email), contact)
            records.put_xref(conn, "intercom", records.CONTACT, person, contact)
            if archived:
                conn.execute(xrefs.update().where(xrefs.c.external_id == person).values(archived_at=archived))
    with engine.connect() as conn:
        assert records.intercom_contacts(conn, "cus_a_b") == ["ic_1", "ic_2"]
        assert records.intercom_contacts(conn, "cus_a_b", limit=1) == ["ic_1"]
        assert records.intercom_contacts(conn, "cus_aXb") == ["ic_4"]
        assert records.intercom_contacts(conn, "cus_zzz") == [] and records.intercom_contacts(conn, "") == []
        assert intercom_contact(conn, "cus_aXb") == "ic_4" and intercom_contact(conn, "cus_zzz") is None
        conn.rollback()


def test_keys_of_new_rows_without_returning(tmp_path):
    """On SQLite the inserts take the new row's key from the cursor, not from a RETURNING clause:
    a repeated key is None, interleaved inserts into other tables never lend their rowid, and an
    upsert answers the same row's id whether it inserted or updated."""
    from opsconsole.store.tables import customers, runs, steps

    url, engine = _store(tmp_path)
    keys = ("system", "object_type", "external_id")

    def xref(n):
        return {"system": "hubspot", "object_type": "company", "external_id": str(n), "canonical_id": f"cus_{n}",
                "created_at": 0.0}

    def step(run_id, seq, status):
        return {"run_id": run_id, "seq": seq, "name": "s", "target_system": "xero", "operation": "op",
                "idempotency_key": f"k{run_id}:{seq}", "status": status, "attempts": 1, "request": {"n": seq}}

    with engine.begin() as conn:
        first = P.insert_ignore(conn, xrefs, keys, xref(1))
        assert P.insert_ignore(conn, xrefs, keys, xref(1)) is None  # (the cursor's rowid is still first's)
        second = P.insert_ignore(conn, xrefs, keys, xref(2))
        assert (first, second) == (1, 2)
        assert P.insert_row(conn, customers, {"canonical_id": "cus_text_key", "legal_name": "A", "match_name": "a",
                                              "created_at": 0.0}) == "cus_text_key"
        run_id = P.insert_row(conn, runs, {"workflow": "w", "business_key": "b", "correlation_id": "c" * 32,
                                           "status": "pending", "created_at": 0.0, "updated_at": 0.0, "context": {}})
        a = P.upsert(conn, steps, ("run_id", "seq"), step(run_id, 0, "waiting"))
        P.insert_ignore(conn, xrefs, keys, xref(3))  # another table's insert between the two upserts
        b = P.upsert(conn, steps, ("run_id", "seq"), step(run_id, 1, "succeeded"))
        assert P.upsert(conn, steps, ("run_id", "seq"), step(run_id, 0, "succeeded")) == a != b
        rows = conn.execute(select(steps.c.id, steps.c.seq, steps.c.status, steps.c.request).order_by(steps.c.seq)).all()
        assert [tuple(r) for r in rows] == [(a, 0, "succeeded", {"n": 0}), (b, 1, "succeeded", {"n": 1})]
