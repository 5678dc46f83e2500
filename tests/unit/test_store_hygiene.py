"""Store hygiene: retention prunes exactly what it should (never the audit log) and the file really
shrinks; backups taken while the writer writes are consistent; restore is refused while an engine
holds the lease; erasure removes one customer's personal data everywhere and nobody else's; a
store of another schema is refused with a message that says what to do."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from opsconsole.engine.audit import AuditLog
from opsconsole.engine.lease import Lease, read_lease
from opsconsole.settings import RetentionSettings, load_settings
from opsconsole.store import backup, erasure, hygiene
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import SchemaMismatch, check_schema, ensure_schema, head_revision, upgrade
from opsconsole.store.tables import (
    audit, conflicts, customers, exceptions, golden_fields, inbox, incidents, rejected_webhooks, runs, spans, steps,
    xrefs,
)
from opsconsole.store.writer import Writer

DAY = 86400.0
NOW = 1_800_000_000.0
OLD = NOW - 400 * DAY  # older than every default retention
RECENT = NOW - 1 * DAY
KEY = b"k" * 32


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    eng = make_engine(url, write=True)
    yield url, path, eng
    eng.dispose()


def _audit(eng, log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        with eng.begin() as c:
            log.append(c, "alice", "retry.requested", f"exception:{i}", {"n": i}, at=OLD)
        log.flush_head()


def _run(i: int, at: float, status: str = "succeeded", **extra) -> dict:
    return {"id": i, "workflow": "quote_to_order", "business_key": f"hubspot:quote:{i}", "correlation_id": f"c{i:031d}",
            "status": status, "created_at": at, "updated_at": at, "finished_at": at, "context": {}, **extra}


def _step(i: int, run_id: int, at: float, payload: object) -> dict:
    return {"id": i, "run_id": run_id, "seq": 1, "name": "upsert_contact", "target_system": "xero",
            "operation": "PUT /Contacts", "idempotency_key": f"k{i}", "status": "succeeded", "attempts": 1,
            "request": payload, "response": {"ok": True}, "started_at": at, "finished_at": at}


def _span(i: int, at: float, payload: object, run_id: int | None = None, corr: str = "c") -> dict:
    return {"id": i, "correlation_id": corr, "span_id": f"{i:016x}", "run_id": run_id, "system": "xero",
            "operation": "PUT /Contacts", "status": "ok", "http_status": 200, "started_at": at, "duration_ms": 1.0,
            "request": payload, "response": None}


def _exc(i: int, state: str, at: float, **extra) -> dict:
    return {"id": i, "workflow": "quote_to_order", "category": "validation", "state": state, "last_error": "bad",
            "payload": {"x": 1}, "created_at": at, "updated_at": at, **extra}


def _inbox(i: int, at: float, body: bytes, status: str = "processed", **extra) -> dict:
    return {"id": i, "source": "hubspot", "event_key": f"e{i}", "event_type": "t", "received_at": at, "raw_body": body,
            "headers": {}, "status": status, **extra}


def _rejected(i: int, at: float) -> dict:
    return {"id": i, "source": "hubspot", "reason": "bad signature", "remote": "203.0.113.9", "at": at}


def _incident(i: int, state: str, at: float, delivery: str = "sent") -> dict:
    return {"id": i, "key": f"connector:xero:{i}", "kind": "connector", "summary": "xero unreachable", "state": state,
            "opened_at": at, "resolved_at": at if state == "resolved" else None, "delivery": delivery}


def _count(eng, table) -> int:
    with eng.connect() as c:
        return c.scalar(select(func.count()).select_from(table))


def test_a_new_store_is_in_incremental_auto_vacuum(store):
    _url, path, _eng = store
    assert sqlite3.connect(path).execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_prune_then_vacuum_shrinks_the_file_by_the_payloads_and_never_touches_the_audit_log(store, tmp_path):
    url, path, eng = store
    log = AuditLog(KEY, tmp_path / "audit.head")
    _audit(eng, log)
    blob = "x" * 2000  # per old step and span: what pruning should give back
    old_runs, kept_runs = 2000, 120
    with eng.begin() as c:
        c.execute(insert(runs), [_run(i, OLD) for i in range(1, old_runs + 1)]
                  + [_run(old_runs + i, RECENT) for i in range(1, kept_runs + 1)]
                  + [_run(5000 + i, OLD, status="failed") for i in range(1, 31)])  # failed: kept whatever its age
        c.execute(insert(steps), [_step(i, i, OLD, {"blob": blob}) for i in range(1, old_runs + kept_runs + 1)])
        c.execute(insert(spans), [_span(i, OLD, {"blob": blob}) for i in range(1, 301)]
                  + [_span(1000 + i, RECENT, {"blob": "y"}) for i in range(1, 41)])
        c.execute(insert(inbox), [_inbox(i, OLD, b"z" * 1000) for i in range(1, 101)]
                  + [_inbox(200 + i, OLD, b"p" * 10, status="pending") for i in range(1, 11)]
                  + [_inbox(300 + i, RECENT, b"r" * 10) for i in range(1, 21)])
        c.execute(insert(exceptions), [_exc(i, "resolved", OLD) for i in range(1, 41)]
                  + [_exc(100 + i, "closed", OLD) for i in range(1, 31)]
                  + [_exc(200 + i, "open", OLD) for i in range(1, 21)]
                  + [_exc(300 + i, "resolved", RECENT) for i in range(1, 11)])
        c.execute(insert(rejected_webhooks), [_rejected(i, OLD) for i in range(1, 51)]
                  + [_rejected(100 + i, RECENT) for i in range(1, 6)])
        c.execute(insert(incidents), [_incident(i, "resolved", OLD) for i in range(1, 9)]
                  + [_incident(20 + i, "resolved", OLD, delivery="failed") for i in range(1, 3)]  # a notice owed
                  + [_incident(30 + i, "resolved", OLD, delivery="pending") for i in range(1, 3)]
                  + [_incident(40 + i, "open", OLD) for i in range(1, 4)]
                  + [_incident(50 + i, "resolved", RECENT) for i in range(1, 3)])
    audit_rows = _count(eng, audit)
    retention = RetentionSettings(batch_rows=300)
    planned = hygiene.prune(eng, retention, NOW, dry_run=True)
    transactions = []

    def run(op):
        transactions.append(op)
        with eng.begin() as c:
            return op(c)

    counts = hygiene.prune(eng, retention, NOW, run=run)
    assert counts == planned == {"inbox_raw": 100, "runs": old_runs, "steps": old_runs, "spans": 300, "exceptions": 70,
                                 "rejected_webhooks": 50, "incidents": 8}
    assert len(transactions) >= old_runs // 300  # bounded batches, never one long transaction
    assert hygiene.prune(eng, retention, NOW) == dict.fromkeys(hygiene.KINDS, 0)  # nothing left to do
    assert _count(eng, runs) == kept_runs + 30 and _count(eng, steps) == kept_runs
    assert _count(eng, spans) == 40 and _count(eng, exceptions) == 30 and _count(eng, inbox) == 130
    assert _count(eng, rejected_webhooks) == 5
    with eng.connect() as c:  # kept: notices still owed, open incidents, recent ones
        assert sorted(c.scalars(select(incidents.c.id))) == [21, 22, 31, 32, 41, 42, 43, 51, 52]
    with eng.connect() as c:  # stripped raw bodies keep their rows (a re-delivery is still a duplicate)
        assert c.scalar(select(func.count()).select_from(inbox).where(func.length(inbox.c.raw_body) == 0)) == 100
        assert c.scalar(select(func.count()).select_from(audit)) == audit_rows and log.verify(c).ok
    payload = old_runs * len(blob) + 300 * len(blob) + 100 * 1000
    result = hygiene.vacuum(eng)
    assert result.mode == "incremental" and not result.full_vacuum and result.pages_freed > 0
    assert result.bytes_before - result.bytes_after >= 0.9 * payload, result
    assert result.bytes_after == path.stat().st_size  # the WAL was checkpointed and truncated


def test_the_engines_prune_job_goes_through_the_writer_in_small_operations(store):
    import asyncio
    import logging

    _url, _path, eng = store
    with eng.begin() as c:
        c.execute(insert(spans), [_span(i, time.time() - 60 * DAY, {"b": "x" * 3000}) for i in range(1, 101)])
    writer = Writer(eng).start()
    try:
        job = hygiene.PruneJob(RetentionSettings(batch_rows=20), eng, lambda op: writer.run_sync(op),
                               logging.getLogger("test"))
        asyncio.run(job.run())
    finally:
        writer.stop()
    assert job.last_result["pruned"]["spans"] == 100 and writer.ops >= 5  # 20 rows per writer operation
    assert job.last_result["vacuum"]["pages_freed"] > 0 and _count(eng, spans) == 0


def test_vacuum_switches_an_older_file_to_incremental_once(tmp_path):
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE t (b BLOB)")
    raw.executemany("INSERT INTO t VALUES (?)", [(os.urandom(3000),) for _ in range(500)])
    raw.commit()
    raw.execute("DELETE FROM t")
    raw.commit()
    raw.close()
    eng = make_engine(f"sqlite:///{path}", write=True)
    with pytest.raises(hygiene.HygieneRefused, match="auto_vacuum=none"):
        hygiene.vacuum(eng, allow_full=False)
    first = hygiene.vacuum(eng)
    assert first.full_vacuum and first.mode_before == "none" and first.mode == "incremental"
    assert first.bytes_after < first.bytes_before - 1_000_000
    assert not hygiene.vacuum(eng).full_vacuum
    eng.dispose()


def test_a_backup_taken_while_the_writer_writes_is_consistent(store, tmp_path):
    url, _path, eng = store
    writer = Writer(eng).start()
    stop = threading.Event()
    written = [0]

    def write_pairs():  # every operation adds a run and its step: a consistent copy has as many of each
        i = 0
        while not stop.is_set():
            batch = [i + k for k in range(1, 21)]
            i += 20

            def op(c, batch=batch):
                c.execute(insert(runs), [_run(n, RECENT, context={"pad": "q" * 500}) for n in batch])
                c.execute(insert(steps), [_step(n, n, RECENT, {"pad": "s" * 500}) for n in batch])
            writer.run_sync(op)
            written[0] = i

    t = threading.Thread(target=write_pairs)
    t.start()
    try:
        while written[0] < 2000:
            time.sleep(0.01)
        result = backup.backup(url, tmp_path / "b" / "copy.db")
        during = written[0]
    finally:
        stop.set()
        t.join()
        writer.stop()
    assert during > 2000 and result.revision == head_revision()
    copy = sqlite3.connect(result.path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    n_runs, n_steps = (copy.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "steps"))
    assert n_runs == n_steps > 0 and n_runs % 20 == 0
    assert copy.execute("SELECT count(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()[0] == 0
    copy.close()
    assert not Path(f"{result.path}.partial").exists()


def test_restore_is_refused_while_an_engine_holds_the_lease_and_keeps_the_audit_chain(store, tmp_path):
    url, _path, eng = store
    log = AuditLog(KEY, tmp_path / "audit.head")
    _audit(eng, log, 3)
    with eng.begin() as c:
        c.execute(insert(runs), [_run(1, RECENT)])
    copy = backup.backup(url, tmp_path / "backup.db").path
    worker = Lease(eng, "worker:host:1", ttl_s=30)
    assert worker.try_acquire()
    with eng.begin() as c:  # written after the backup: the restore loses it
        c.execute(insert(runs), [_run(2, RECENT)])
    _audit(eng, log, 2)
    with pytest.raises(hygiene.HygieneRefused, match="an engine holds the lease .worker:host:1"):
        backup.restore(url, copy, audit=log, actor="olga")
    assert _count(eng, runs) == 2
    fencing = worker.fencing
    worker.release()
    result = backup.restore(url, copy, audit=AuditLog(KEY, tmp_path / "audit.head"), actor="olga")
    assert result.revision == head_revision() and not result.upgraded and result.audit_entry == 4
    with eng.connect() as c:
        assert c.execute(select(runs.c.id)).scalars().all() == [1]
        held = read_lease(c)
        assert not held.alive and held.fencing > fencing  # a frozen old engine can never commit here
        last = c.execute(select(audit).order_by(audit.c.id.desc())).mappings().first()
        assert (last["action"], last["actor"]) == ("store.restored", "olga")
        assert AuditLog(KEY, tmp_path / "audit.head").verify(c).ok  # the head outside the store followed
    assert not worker.try_acquire() or worker.fencing > fencing  # the old holder starts afresh


def test_restore_checks_the_backups_schema(store, tmp_path):
    url, _path, eng = store
    copy = Path(backup.backup(url, tmp_path / "backup.db").path)
    raw = sqlite3.connect(copy)
    raw.execute("UPDATE alembic_version SET version_num = 'ffff9999'")
    raw.commit()
    raw.close()
    with pytest.raises(hygiene.HygieneRefused, match="newer than this opsconsole .* upgrade opsconsole"):
        backup.restore(url, copy)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(hygiene.HygieneRefused, match="not a SQLite store"):
        backup.restore(url, tmp_path / "junk.db")
    with pytest.raises(hygiene.HygieneRefused, match="no backup file"):
        backup.restore(url, tmp_path / "missing.db")


# --- erasure ----------------------------------------------------------------------------------------
PERSONAL = {  # per customer: what must go (a), what must stay (b)
    "a": ["alice@acme.example", "Alice", "Liddell", "+44 20 7946 0001", "1 Rabbit Hole Lane", "GB111111111"],
    "b": ["bob@bolt.example", "Bobby", "Tables", "+44 20 7946 0002", "2 Drop Street", "GB222222222"],
}


def _seed_customer(c, tag: str, base: int) -> None:
    email, first, last, phone, street, vat = PERSONAL[tag]
    cid, con = f"cus_{tag}", f"con_{tag}"
    c.execute(insert(customers).values(canonical_id=cid, legal_name=f"{tag.upper()} Ltd", match_name=tag,
                                       tax_number=vat, created_at=OLD))
    c.execute(insert(xrefs), [
        {"system": "hubspot", "object_type": "company", "external_id": f"{base}", "canonical_id": cid, "created_at": OLD},
        {"system": "xero", "object_type": "contact", "external_id": f"X-{base}", "canonical_id": cid, "created_at": OLD},
        {"system": "hubspot", "object_type": "contact", "external_id": f"{base + 1}", "canonical_id": con, "created_at": OLD},
        {"system": "email", "object_type": "contact", "external_id": f"{cid}/{email}", "canonical_id": con,
         "created_at": OLD},
    ])
    contact = {"Name": f"{tag.upper()} Ltd", "FirstName": first, "LastName": last, "EmailAddress": email,
               "TaxNumber": vat, "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": phone}],
               "Addresses": [{"AddressType": "STREET", "AddressLine1": street, "City": "London"}], "Total": "10.00"}
    # a quote run resolved to the customer (account key), a company run found by business key only
    c.execute(insert(runs).values(_run(base, RECENT, account_key=cid, inbox_id=base, last_error=f"rejected {email}",
                                       context={"mapped": {"contact": contact}})))
    c.execute(insert(runs).values(_run(base + 1, RECENT, status="failed", business_key=f"hubspot:company:{base}:1700")))
    c.execute(insert(steps), [_step(base, base, RECENT, {"Contacts": [contact]})])
    c.execute(insert(spans), [_span(base, RECENT, {"body": {"Contacts": [contact]}}, run_id=base, corr=f"c{base:031d}")])
    c.execute(insert(exceptions), [_exc(base, "open", RECENT, run_id=base + 1, business_key=f"hubspot:company:{base}:1700",
                                        payload={"properties": {"email": email, "vat_number": vat, "name": "Co"}},
                                        last_error=f"409 from xero for {email}")])
    c.execute(insert(inbox), [  # the quote's event is found through its run, the malformed one by business key
        _inbox(base, RECENT, json.dumps([{"objectId": base, "propertyName": "email", "propertyValue": email}]).encode(),
               business_key=f"hubspot:quote:{base}"),
        _inbox(base + 1, RECENT, f"not json {email} {phone}".encode(), status="invalid",
               business_key=f"hubspot:company:{base}:1700"),
    ])
    c.execute(insert(golden_fields), [
        {"entity": "customer", "canonical_id": cid, "field": "tax_number", "value": vat, "system": "hubspot",
         "event_id": "e", "set_at": OLD},
        {"entity": "customer", "canonical_id": cid, "field": "legal_name", "value": f"{tag.upper()} Ltd",
         "system": "hubspot", "event_id": "e", "set_at": OLD},
        *({"entity": "contact", "canonical_id": con, "field": f, "value": v, "system": "hubspot", "event_id": "e",
           "set_at": OLD} for f, v in (("email", email), ("first_name", first), ("last_name", last), ("phone", phone))),
    ])
    c.execute(insert(conflicts).values(kind="ownership", entity="customer", canonical_id=cid, field="tax_number",
                                       values={"hubspot": vat, "xero": vat + "0"}, proposed=vat,
                                       dedupe_key=f"d{tag}", created_at=OLD))


def _dump(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        db.text_factory = lambda b: b.decode(errors="replace")
        return "\n".join(db.iterdump())
    finally:
        db.close()


def test_erase_removes_one_customers_personal_data_everywhere_and_nobody_elses(store, tmp_path):
    url, path, eng = store
    log = AuditLog(KEY, tmp_path / "audit.head")
    _audit(eng, log, 2)
    with eng.begin() as c:
        _seed_customer(c, "a", 100)
        _seed_customer(c, "b", 200)
    before = _dump(path)
    assert all(v in before for v in PERSONAL["a"] + PERSONAL["b"])
    planned = erasure.erase_customer(eng, "cus_a", dry_run=True)
    result = erasure.erase_customer(eng, "cus_a", audit=log, actor="dpo")
    assert result.counts == planned.counts == {
        "runs": 1, "steps": 1, "spans": 1, "exceptions": 1, "inbox": 2, "golden_fields": 5, "conflicts": 1,
        "customers": 1, "xrefs": 1}
    after = _dump(path)
    for value in PERSONAL["a"]:
        assert value not in after, value
    assert all(v in after for v in PERSONAL["b"])  # the other customer is untouched
    assert "A Ltd" in after and "X-100" in after  # company names and ids stay: traces still add up
    raw = path.read_bytes() + (Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b"")
    assert b"alice@acme.example" not in raw  # not even in free pages or the WAL (secure_delete, checkpoint)
    with eng.connect() as c:
        step = c.execute(select(steps.c.request).where(steps.c.id == 100)).scalar()
        contact = step["Contacts"][0]
        assert contact["EmailAddress"] == hygiene.ERASED and contact["Total"] == "10.00"
        assert contact["Addresses"][0] == {"AddressType": "STREET", "AddressLine1": hygiene.ERASED, "City": hygiene.ERASED}
        entry = c.execute(select(audit).where(audit.c.id == result.audit_entry)).mappings().first()
        assert (entry["action"], entry["subject"]) == ("customer.erased", "customer:cus_a")
        assert not any(v in json.dumps(entry["detail"]) for v in PERSONAL["a"])
        assert log.verify(c).ok
    again = erasure.erase_customer(eng, "cus_a", dry_run=True)
    assert again.counts == {}  # idempotent
    with pytest.raises(hygiene.HygieneRefused, match="no customer cus_zz"):
        erasure.erase_customer(eng, "cus_zz")


# --- the CLI --------------------------------------------------------------------------------------
@pytest.fixture
def cli_store(tmp_path, monkeypatch):
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "sqlite:///{tmp_path}/s.db"\nvar_dir = "{tmp_path}"\n'
                      'audit_key = "env:TEST_AUDIT_KEY"\n[retention]\nspans_days = 7\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("TEST_AUDIT_KEY", "k" * 32)
    settings = load_settings(config)
    upgrade(settings.store_url)
    eng = make_engine(settings.store_url, write=True)
    yield settings, eng
    eng.dispose()


def _cli(*args: str):
    from opsconsole.cli import main

    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_the_db_verbs_and_erase(cli_store, tmp_path):
    settings, eng = cli_store
    assert settings.retention.spans_days == 7 and settings.retention.inbox_raw_days == 30
    now = time.time()
    with eng.begin() as c:
        c.execute(insert(spans), [_span(i, now - 8 * DAY, {"b": "x"}) for i in range(1, 6)])
        _seed_customer(c, "a", 100)
    code, out = _cli("db", "prune", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["counts"]["spans"] == 5 and _count(eng, spans) == 6
    code, out = _cli("db", "prune", "--json")
    assert code == 0 and json.loads(out)["status"] == "done" and _count(eng, spans) == 1
    code, out = _cli("db", "vacuum", "--json")
    assert code == 0 and json.loads(out)["mode"] == "incremental"
    code, out = _cli("db", "backup", str(tmp_path / "b.db"), "--json")
    assert code == 0 and json.loads(out)["revision"] == head_revision()
    code, out = _cli("erase", "--customer", "cus_a", "--yes", "--json", "--as", "dpo")
    assert code == 0 and json.loads(out)["counts"]["golden_fields"] == 5
    code, out = _cli("erase", "--customer", "cus_nobody", "--yes", "--json")
    assert code == 1 and '"status": "refused"' in out and "no customer cus_nobody" in out
    code, out = _cli("audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"]
    lease_holder = Lease(eng, "worker:elsewhere:9", ttl_s=30)
    assert lease_holder.try_acquire()
    code, out = _cli("db", "restore", str(tmp_path / "b.db"), "--yes")
    assert code == 1 and "an engine holds the lease (worker:elsewhere:9" in out
    lease_holder.release()
    code, out = _cli("db", "restore", str(tmp_path / "b.db"), "--yes", "--json")
    assert code == 0 and json.loads(out)["status"] == "done"
    with eng.connect() as c:  # the backup was taken before the erasure: the data is back (erase again)
        assert c.scalar(select(customers.c.tax_number).where(customers.c.canonical_id == "cus_a")) == "GB111111111"


# --- schema versions ------------------------------------------------------------------------------
def test_a_store_of_another_schema_is_refused_with_what_to_do(store, tmp_path, monkeypatch):
    url, _path, eng = store
    assert check_schema(url) == head_revision()
    with eng.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff9999'")
    with pytest.raises(SchemaMismatch, match=f"revision ffff9999, newer than this opsconsole .which expects "
                                             f"{head_revision()}.: upgrade opsconsole"):
        check_schema(url)
    with pytest.raises(SchemaMismatch, match="upgrade opsconsole"):
        ensure_schema(url)  # an engine refuses a store newer than its code
    from opsconsole.services import Services

    settings = load_settings(None, store_url=url, var_dir=str(tmp_path), audit_key="literal-key")
    with pytest.raises(SchemaMismatch, match="upgrade opsconsole"):
        Services(settings)
    older = tmp_path / "older.db"
    older_url = f"sqlite:///{older}"
    upgrade(older_url, "0001")
    with pytest.raises(SchemaMismatch, match=f"revision 0001, this opsconsole expects {head_revision()}: "
                                             "run `opsconsole db upgrade`"):
        check_schema(older_url)
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "{older_url}"\nvar_dir = "{tmp_path}"\naudit_key = "literal-key"\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    code, out = _cli("runs", "list", "--json")
    assert code == 1 and "run `opsconsole db upgrade`" in out and "Traceback" not in out
    assert ensure_schema(older_url) == "upgraded"  # the engine upgrades an older store on start
    assert check_schema(older_url) == head_revision()
    with pytest.raises(SchemaMismatch, match="no schema yet"):
        check_schema(f"sqlite:///{tmp_path / 'empty.db'}")
