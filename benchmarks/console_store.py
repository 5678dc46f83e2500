"""A large store for the console benchmark: 1,000,000 runs, 100,000 exceptions and the rest.

Built once per schema head under ``benchmarks/results/`` (it takes a minute) and reused; the rows
are deterministic (seeded random), spread over 30 days with a busy last hour, with the statuses,
categories and states a production store shows.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from opsconsole.store import search_index
from opsconsole.store.migrate import head_revision, upgrade

RUNS = 1_000_000
EXCEPTIONS = 100_000
WORKFLOWS = ("quote_to_order", "company_to_contact", "contact_to_company", "invoice_feedback", "onboarding",
             "renewal_readiness", "cs_company_to_crm", "crm_contact_to_cs_erp")
CATEGORIES = ("validation", "rate_limit", "downstream_5xx", "timeout", "auth", "rejected_by_target")
STEP_NAMES = ("validate", "upsert_contact", "create_sales_order", "create_invoice", "update_crm_company")
NOW = time.time()


def store_path(root: Path) -> Path:
    return root / f"console-store-{head_revision()}-{RUNS}.db"


def build(root: Path) -> Path:
    """The benchmark store (built if missing). Returns its path."""
    path = store_path(root)
    if path.exists():
        return path
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    upgrade(f"sqlite:///{tmp}")
    rnd = random.Random(20261130)
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany(
        "INSERT INTO runs (id, workflow, business_key, account_key, correlation_id, status, current_step,"
        " mapping_version, inbox_id, attempt, created_at, updated_at, finished_at, last_error, context)"
        " VALUES (?,?,?,?,?,?,?,?,NULL,?,?,?,?,?,'{}')", _runs(rnd))
    for sql in search_index.STATEMENTS:  # the runs' search index, as the engine's writer fills it
        db.execute(sql)
    db.executemany(
        "INSERT INTO exceptions (id, run_id, step_id, inbox_id, workflow, business_key, correlation_id, category,"
        " system, state, title, last_error, payload, owner, resolution, created_at, updated_at)"
        " VALUES (?,?,NULL,NULL,?,?,?,?,?,?,?,?,'{}',?,'',?,?)", _exceptions(rnd))
    db.executemany(
        "INSERT INTO conflicts (id, kind, entity, canonical_id, field, owner, rule, \"values\", challenger, proposed,"
        " billing_impacting, score, event_id, dedupe_key, state, resolution, resolved_by, note, created_at)"
        " VALUES (?, 'ownership', 'customer', ?, 'tax_number', 'xero', 'the ERP owns tax_number', ?, 'hubspot',"
        " ?, 1, NULL, ?, ?, ?, '', '', '', ?)",
        [(i, f"cus_{i:08d}", '{"xero": "GB1", "hubspot": "GB2"}', f"GB{i}", f"ev{i}", f"dk{i}",
          "open" if i % 3 else "resolved", NOW - i * 60) for i in range(1, 5001)])
    db.executemany(
        "INSERT INTO corrections (id, conflict_id, entity, canonical_id, field, before, after, target_system,"
        " billing_impacting, requested_by, reason, state, decided_by, decision_reason, created_at)"
        " VALUES (?, ?, 'customer', ?, 'tax_number', '\"GB1\"', '\"GB2\"', 'xero', 1, 'sam', 'new certificate',"
        " ?, '', '', ?)",
        [(i, i, f"cus_{i:08d}", "pending" if i % 4 else "applied", NOW - i * 90) for i in range(1, 2001)])
    db.commit()
    db.execute("ANALYZE")
    db.close()
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    return path


def _runs(rnd: random.Random):
    for i in range(1, RUNS + 1):
        # the newest 20,000 runs in the last hour, the rest over 30 days before it
        age = (RUNS - i) * 0.18 if i > RUNS - 20_000 else 3600 + (RUNS - i) * 2.6
        created = NOW - age
        roll = rnd.random()
        status = "succeeded" if roll < 0.93 else "failed" if roll < 0.97 else "waiting" if roll < 0.99 else "pending"
        wf = WORKFLOWS[rnd.randrange(len(WORKFLOWS))]
        error = f"Xero 429: rate limit exceeded (minute limit) for order QU-{i:07d}" if status == "failed" else ""
        yield (i, wf, f"hubspot:quote:{400_000_000 + i}", f"cus_{rnd.randrange(50_000):08d}", f"{i:032x}", status,
               STEP_NAMES[rnd.randrange(len(STEP_NAMES))], "3", 1 + (status != "succeeded") * rnd.randrange(5),
               created, created + rnd.random() * 3, created + 3 if status == "succeeded" else None, error)


def _exceptions(rnd: random.Random):
    for i in range(1, EXCEPTIONS + 1):
        created = NOW - (EXCEPTIONS - i) * 25.0
        roll = rnd.random()
        state = "open" if roll < 0.6 else "acknowledged" if roll < 0.7 else "resolved"
        cat = CATEGORIES[rnd.randrange(len(CATEGORIES))]
        run_id = RUNS - (EXCEPTIONS - i) * 9
        yield (i, run_id, WORKFLOWS[rnd.randrange(len(WORKFLOWS))], f"hubspot:quote:{400_000_000 + run_id}",
               f"{run_id:032x}", cat, "xero" if cat != "validation" else "hubspot", state,
               f"{cat.replace('_', ' ')} on order QU-{run_id:07d}", f"{cat}: the target refused order QU-{run_id:07d}",
               "alice" if state == "acknowledged" else "", created, created + 1)
