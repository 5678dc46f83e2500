"""A real SQLite store seeded with fixed rows, and Services over it with a fixed clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from opsconsole.services import Services
from opsconsole.settings import load_settings
from opsconsole.store import tables as t
from opsconsole.store.migrate import upgrade

FIXED_NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
ENGINE_LABEL = "engine: this console (fencing 3) · ingress http://127.0.0.1:8123"
EVIL_KEY = "Q-\x1b[31mEVIL\x1b]0;pwned\x07[bold red]boom[/bold red]"


def _run(id, workflow, key, status, step, *, attempt=1, created=0.0, error="", mapping="1"):
    return dict(id=id, workflow=workflow, business_key=key, account_key=f"acct-{id}", correlation_id=f"corr{id:04d}",
                status=status, current_step=step, mapping_version=mapping, attempt=attempt,
                created_at=FIXED_NOW - created, updated_at=FIXED_NOW - created / 2, last_error=error, context={})


RUNS = [
    _run(1, "quote_to_order", "Q-1001", "succeeded", "", created=3 * 86400),
    _run(2, "quote_to_order", "Q-1002", "failed", "create_invoice", attempt=6, created=7200,
         error="Xero 422: Account code '999' is not a valid code for this document."),
    _run(3, "company_to_contact", "C-2001", "running", "upsert_contact", created=4),
    _run(4, "quote_to_order", "Q-1003", "failed", "create_customer", attempt=6, created=180,
         error="Xero 429: rate limit exceeded (day limit)"),
    _run(5, "quote_to_order", "Q-1004", "waiting", "create_sales_order", attempt=2, created=45),
    _run(6, "quote_to_order", EVIL_KEY, "failed", "create_customer", attempt=6, created=90,
         error="Xero 503 \x1b[2J[link=http://x]click[/link]"),
]

STEPS = [
    dict(run_id=2, seq=1, name="create_customer", target_system="xero", operation="PUT /Contacts",
         idempotency_key="Q-1002:create_customer", status="succeeded", attempts=1,
         request={"Contacts": [{"Name": "Acme Ltd", "TaxNumber": "GB123"}]},
         response={"Contacts": [{"ContactID": "c-1", "Name": "Acme Ltd"}]},
         started_at=FIXED_NOW - 7200, finished_at=FIXED_NOW - 7200 + 0.084),
    dict(run_id=2, seq=2, name="create_sales_order", target_system="xero", operation="PUT /Quotes",
         idempotency_key="Q-1002:create_sales_order", status="succeeded", attempts=1,
         request={"Quotes": [{"Contact": {"ContactID": "c-1"}, "Reference": "Q-1002"}]},
         response={"Quotes": [{"QuoteID": "q-9"}]}, started_at=FIXED_NOW - 7199, finished_at=FIXED_NOW - 7199 + 0.120),
    dict(run_id=2, seq=3, name="create_invoice", target_system="xero", operation="PUT /Invoices",
         idempotency_key="Q-1002:create_invoice", status="failed", attempts=6,
         request={"Invoices": [{"Type": "ACCREC", "Reference": "Q-1002",
                                "LineItems": [{"Description": "Platform seat", "AccountCode": "999",
                                               "Quantity": 10, "UnitAmount": "49.00"}]}]},
         response={"ErrorNumber": 10, "Type": "ValidationException",
                   "Message": "Account code '999' is not a valid code for this document."},
         error="Xero 422: Account code '999' is not a valid code for this document.",
         error_category="rejected_by_target", started_at=FIXED_NOW - 7198, finished_at=FIXED_NOW - 7198 + 0.231),
]

SPANS = [
    dict(correlation_id="corr0002", span_id=f"s{i}", parent_span_id="", run_id=2, system=system, operation=op,
         status=status, http_status=http, started_at=FIXED_NOW - 7200 + i, duration_ms=ms, request=None, response=None)
    for i, (system, op, status, http, ms) in enumerate([
        ("hubspot", "GET /crm/v3/objects/quotes/1002", "ok", 200, 31.0),
        ("xero", "PUT /Contacts", "ok", 200, 84.0),
        ("xero", "PUT /Quotes", "ok", 200, 120.0),
        ("xero", "PUT /Invoices", "error", 422, 231.0),
    ])
]


def _exc(id, run_id, category, system, state, error, *, created, key="", workflow="quote_to_order", owner=""):
    return dict(id=id, run_id=run_id, step_id=None, inbox_id=None, workflow=workflow, business_key=key,
                correlation_id=f"corr{run_id:04d}" if run_id else "", category=category, system=system, state=state,
                title=f"{category} at {system}", last_error=error, payload={"business_key": key, "run": run_id},
                owner=owner, created_at=FIXED_NOW - created, updated_at=FIXED_NOW - created)


EXCEPTIONS = [
    _exc(11, 2, "rejected_by_target", "xero", "open", RUNS[1]["last_error"], created=7000, key="Q-1002"),
    _exc(12, 4, "rate_limit", "xero", "open", RUNS[3]["last_error"], created=120, key="Q-1003"),
    _exc(13, None, "validation", "hubspot", "open", "quote 1005: amount is not a decimal: 'abc'", created=30,
         key="Q-1005", workflow="quote_to_order"),
    _exc(14, 6, "downstream_5xx", "xero", "acknowledged", RUNS[5]["last_error"], created=60, key=EVIL_KEY,
         owner="bob"),
    _exc(10, 1, "timeout", "xero", "closed", "timed out after 10s", created=2 * 86400, key="Q-1001"),
]
OPEN_EXCEPTION_IDS = [14, 13, 12, 11]

# --- governance: conflicts and corrections (direct inserts, as the engine's governance functions write them) ---
ACME = "cus_4f1c2a9e8b7d6c5a4f3e"
GLOBEX = "cus_9a8b7c6d5e4f3a2b1c0d"
EVIL_NAME = "[bold magenta]Evil[/bold magenta] Corp\x1b[31m Ltd"
EVIL_NAME_SHOWN = "[bold magenta]Evil[/bold magenta] Corp Ltd"


def _conflict(id, kind, canonical_id, field, owner, challenger, values, *, created, billing=False, rule="",
              proposed="", score=None, run_id=None, state="open", resolution=""):
    return dict(id=id, kind=kind, entity="customer", canonical_id=canonical_id, field=field, owner=owner, rule=rule,
                values=values, challenger=challenger, proposed=proposed, billing_impacting=billing, score=score,
                event_id=f"{challenger}:evt-{id}", dedupe_key=f"fixture:{id}", state=state, resolution=resolution,
                resolved_by="bob" if state != "open" else "", note="", correction_id=None, run_id=run_id,
                created_at=FIXED_NOW - created)


CONFLICTS = [
    _conflict(21, "ownership", ACME, "payment_terms", "xero", "hubspot", {"xero": "NET30", "hubspot": "NET45"},
              created=3600, billing=True, rule="owned by xero, source priority, billing-impacting",
              proposed="keep the xero value, or raise a correction for finance to write the hubspot value"),
    _conflict(22, "ownership", GLOBEX, "domain", "hubspot", "intercom",
              {"hubspot": "globex.example", "intercom": "globex-support.example"}, created=600,
              rule="owned by hubspot, most recent non empty",
              proposed="keep the hubspot value (the system of record), or take the intercom value"),
    _conflict(23, "duplicate", ACME, "", "", "hubspot", {
        "record": {"system": "hubspot", "object_type": "company", "external_id": "9001", "legal_name": EVIL_NAME,
                   "tax_number": "GB123", "domain": "acme.example"},
        "candidate": {"system": "xero", "external_id": "c-1", "canonical_id": ACME, "name": "Acme Ltd",
                      "tax_number": "GB123", "domain": "acme.example"}},
        created=120, rule="tax number matches", score=0.92, run_id=5,
        proposed="link the record to the known customer, or keep it as a separate customer"),
    _conflict(20, "ownership", ACME, "currency", "xero", "hubspot", {"xero": "GBP", "hubspot": "USD"}, created=86400,
              billing=True, state="resolved", resolution="keep"),
]
OPEN_CONFLICT_IDS = [23, 22, 21]
GOLDEN = [dict(entity="customer", canonical_id=ACME, field="payment_terms", value="NET30", system="xero",
               event_id="xero:evt-77", set_at=FIXED_NOW - 2 * 86400)]


def _correction(id, canonical_id, field, before, after, requested_by, *, created, reason="", state="pending",
                conflict_id=None):
    return dict(id=id, conflict_id=conflict_id, entity="customer", canonical_id=canonical_id, field=field,
                before=before, after=after, target_system="xero", billing_impacting=True, requested_by=requested_by,
                reason=reason, state=state, decided_by="carol" if state != "pending" else "", decision_reason="",
                created_at=FIXED_NOW - created)


CORRECTIONS = [
    _correction(31, ACME, "payment_terms", "NET30", "NET60", "bob", created=1800, conflict_id=19,
                reason="customer signed the NET60 addendum"),
    _correction(32, GLOBEX, "legal_name", "Globex Ltd", EVIL_NAME, "alice", created=300,
                reason="renamed after the merger"),
    _correction(30, ACME, "currency", "GBP", "EUR", "bob", created=86400, state="approved"),
]
PENDING_CORRECTION_IDS = [32, 31]
ROLES = {"alice": ["support", "finance"], "bob": ["support"], "carol": ["finance"]}


def seed(url: str, *, extra_runs: int = 0) -> None:
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        runs = list(RUNS)
        for i in range(extra_runs):
            runs.append(_run(100 + i, "company_to_contact", f"C-{5000 + i}", "succeeded", "", created=86400 + i))
        conn.execute(insert(t.runs), runs)
        conn.execute(insert(t.steps), [{"error": "", "error_category": "", **step} for step in STEPS])
        conn.execute(insert(t.spans), SPANS)
        conn.execute(insert(t.exceptions), EXCEPTIONS)
        conn.execute(insert(t.rejected_webhooks), [
            dict(source="hubspot", reason="bad signature", remote="203.0.113.9", at=FIXED_NOW - 120)])
        conn.execute(insert(t.lease), [dict(name="engine", holder="console:opsbox:4242", fencing=3,
                                            expires_at=4_000_000_000.0, acquired_at=FIXED_NOW - 600,
                                            info={"ingress": "http://127.0.0.1:8123"})])
        conn.execute(insert(t.conflicts), CONFLICTS)
        conn.execute(insert(t.golden_fields), GOLDEN)
        conn.execute(insert(t.corrections), CORRECTIONS)
    engine.dispose()


def make_services(tmp_path: Path, *, extra_runs: int = 0, read_only: bool = False,
                  operator: str = "alice") -> Services:
    url = "sqlite:///" + str(tmp_path / "store.db")
    seed(url, extra_runs=extra_runs)
    settings = load_settings(None, store_url=url, var_dir=tmp_path, demo=True, roles=ROLES)
    return Services(settings, operator=operator, read_only=read_only, clock=lambda: FIXED_NOW)


@pytest.fixture
def seeded_services(tmp_path: Path):
    services = make_services(tmp_path)
    yield services
    services.close()


@pytest.fixture
def many_runs_services(tmp_path: Path):
    services = make_services(tmp_path, extra_runs=300)
    yield services
    services.close()


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text (for assertions)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False,
                      safe_box=False, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def fixed_plan(run_id: int = 2, from_step: str = "create_invoice", mapping: str = "original",
               problems: list[str] | None = None):
    """The dry run ``plan_replay`` would return, without the network."""
    from opsconsole.viewmodels import PlannedStep, ReplayPlan

    version = "1" if mapping == "original" else "2"
    steps = [
        PlannedStep("upsert_contact", "xero", "POST /Contacts", "Q-1002:upsert_contact", {"Contacts": []},
                    "already in the ERP — will be skipped"),
        PlannedStep("create_invoice", "xero", "PUT /Invoices", "Q-1002:create_invoice",
                    {"Invoices": [{"Reference": "Q-1002", "LineItems": [{"AccountCode": "200"}]}]},
                    "will be sent", previous={"Invoices": [{"Reference": "Q-1002",
                                                            "LineItems": [{"AccountCode": "999"}]}]},
                    diff=['-  "AccountCode": "999"', '+  "AccountCode": "200"']),
    ]
    # real step names of quote_to_order (a replay from a step the workflow lacks is refused)
    names = ["upsert_contact", "create_sales_order", "create_invoice"]
    return ReplayPlan(run_id, "quote_to_order", "Q-1002", from_step, version,
                      [s for s in steps if names.index(s.name) >= names.index(from_step)],
                      list(problems or []), names)


def store_rows(services, table) -> list[dict]:
    """All rows of a store table (tests only: the console itself never queries the store)."""
    from sqlalchemy import select

    with services._read.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


@pytest.fixture
def dashboard_services(tmp_path: Path):
    """The fixed seed plus the dashboard's runs, steps, exceptions and lifecycle rows (dashboard_data.py)."""
    from .dashboard_data import seed_dashboard

    services = make_services(tmp_path)
    seed_dashboard(services.settings.store_url)
    yield services
    services.close()
