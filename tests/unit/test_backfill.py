"""Backfill over a real SQLite store: the plan's writes (customers, cross-references, golden fields,
suspected duplicates, one audit entry of counts), idempotence, and deciding a backfill's suspects."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from canonical.matching import MatchingRules
from canonical.ownership import FieldState, GoldenRecord, OwnershipRules
from opsconsole.engine import backfill as bf
from opsconsole.engine import governance as gov
from opsconsole.engine import records
from opsconsole.engine.audit import AuditLog
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import audit, conflicts, customers, golden_fields, xrefs

MATCHING = MatchingRules.load()
OWNERSHIP = OwnershipRules.load()
T0 = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
A = bf.AccountRecord

# hubspot 1 + xero x1 + intercom i1: one customer in all three (tax number, then name + web domain)
# hubspot 2 + xero x2: linked by tax number only (another trading name)
# hubspot 3 / xero x3: the same name and nothing else: a suspected duplicate
# hubspot 4 / hubspot 5: one company twice in the CRM (same tax number): a suspected duplicate
# xero x6: the same name and web site as hubspot 6, another tax number: two customers, no suspect
ACCOUNTS = [
    A("hubspot", "1", "Acme Corporation", "acme.example", "US941234567", (), T0),
    A("xero", "x1", "ACME Corp.", "", "US 941 234 567", ("ap@acme.example",), T0),
    A("intercom", "i1", "Acme Corp", "https://www.acme.example", "", (), T0),
    A("hubspot", "2", "Pine Bakery LLC", "pinebakery.example", "IE148878003A", (), T0),
    A("xero", "x2", "Pine Bakery Holdings", "", "IE148878003A", (), T0),
    A("hubspot", "3", "Maple Analytics Ltd", "mapleanalytics.example", "", (), T0),
    A("xero", "x3", "Maple Analytics Ltd", "", "", ("maple@gmail.com",), T0),
    A("hubspot", "4", "Swift Media Ltd", "swiftmedia.example", "GB111", (), T0),
    A("hubspot", "5", "Swift Media Limited", "", "GB 111", (), T0),
    A("hubspot", "6", "Oak Networks GmbH", "oaknetworks.example", "DE1", (), T0),
    A("xero", "x6", "Oak Networks GmbH", "https://oaknetworks.example", "DE2", (), T0),
]
READ = {"hubspot": 6, "xero": 4, "intercom": 1}


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    eng = make_engine(url, write=True)
    yield eng, AuditLog(b"k" * 32, tmp_path / "audit.head")
    eng.dispose()


def _backfill(store, accounts=ACCOUNTS, dry_run=False):
    eng, log = store
    with eng.connect() as c:
        known = bf.known_xrefs(c, (a.key for a in accounts))
    plan = bf.plan_backfill(accounts, known, MATCHING)
    if dry_run:
        with eng.connect() as c:
            return plan, bf.dry_run_report(c, plan, READ)

    async def run(op):
        with eng.begin() as conn:
            return op(conn)

    return plan, asyncio.run(bf.apply_plan(plan, run, audit=log, actor="olivia", rules=OWNERSHIP, read=READ, at=T0))


def _count(eng, table, *where) -> int:
    with eng.connect() as c:
        return c.scalar(select(func.count()).select_from(table).where(*where))


def _state(eng) -> dict:
    with eng.connect() as c:
        return {"customers": sorted(c.scalars(select(customers.c.canonical_id))),
                "xrefs": sorted(tuple(r) for r in c.execute(select(xrefs.c.system, xrefs.c.external_id, xrefs.c.canonical_id))),
                "golden": sorted(tuple(r) for r in c.execute(select(golden_fields.c.canonical_id, golden_fields.c.field,
                                                                    golden_fields.c.system, golden_fields.c.event_id))),
                "conflicts": sorted(tuple(r) for r in c.execute(select(conflicts.c.dedupe_key, conflicts.c.state))),
                "audit": c.scalar(select(func.count()).select_from(audit))}


def _xref(eng, system, external_id) -> str:
    with eng.connect() as c:
        return records.xref_canonical(c, system, bf.OBJECT_TYPE[system], external_id)


def test_backfill_writes_customers_xrefs_golden_fields_suspects_and_one_audit_entry_of_counts(store):
    eng, log = store
    plan, report = _backfill(store)
    assert (report.customers, report.linked_customers, report.in_all_systems, report.new_customers) == (8, 2, 1, 8)
    assert report.xrefs_added == {"hubspot": 6, "xero": 4, "intercom": 1} and report.already_linked == 0
    assert (report.suspects, report.suspects_raised, report.suspects_known) == (2, 2, 0)
    assert _count(eng, customers) == 8 and _count(eng, xrefs) == 11
    acme = _xref(eng, "hubspot", "1")
    assert _xref(eng, "xero", "x1") == acme == _xref(eng, "intercom", "i1")
    assert _xref(eng, "xero", "x2") == _xref(eng, "hubspot", "2")
    assert len({_xref(eng, "hubspot", "6"), _xref(eng, "xero", "x6")}) == 2  # different tax numbers: two companies
    # the golden record: survivorship per field, each with the system and record it came from
    with eng.connect() as c:
        golden = gov.load_golden(c, "customer", acme)
    assert {k: (v.value, v.system, v.event_id) for k, v in golden.fields.items()} == {
        "legal_name": ("ACME Corp.", "xero", "backfill:xero:x1"),  # the ERP owns the legal name
        "tax_number": ("US941234567", "xero", "backfill:xero:x1"),
        "domain": ("acme.example", "hubspot", "backfill:hubspot:1"),  # the CRM owns the domain
        "email": ("ap@acme.example", "xero", "backfill:xero:x1")}
    assert report.golden_fields == _count(eng, golden_fields) == 22  # 4+3+2+2+3+2+3+3
    # suspects: the smaller customer's record against the known customer
    with eng.connect() as c:
        rows = [dict(r) for r in c.execute(select(conflicts).order_by(conflicts.c.id)).mappings()]
    assert [(r["kind"], r["state"], r["values"]["record"]["external_id"], r["values"]["candidate"]["external_id"],
             r["score"]) for r in rows] == [("duplicate", "open", "5", "4", 1.0), ("duplicate", "open", "x3", "3", 0.5)]
    assert rows[1]["canonical_id"] == _xref(eng, "hubspot", "3") and rows[1]["rule"] == "same legal name"
    # one audit entry: counts only, no names or ids
    with eng.connect() as c:
        entries = list(c.execute(select(audit)).mappings())
        assert log.verify(c).ok
    assert [(e["actor"], e["action"], e["subject"]) for e in entries] == [("olivia", "sync.backfill", "backfill")]
    detail = json.dumps(entries[0]["detail"])
    assert entries[0]["detail"]["new_customers"] == 8 and entries[0]["detail"]["suspects_raised"] == 2
    assert not any(word in detail for word in ("Acme", "Maple", "x1", "acme.example", "cus_"))


def test_a_second_backfill_changes_nothing(store):
    eng, _ = store
    _backfill(store)
    before = _state(eng)
    plan, report = _backfill(store)
    assert _state(eng) == before  # not even an audit entry
    assert (report.new_customers, sum(report.xrefs_added.values()), report.suspects_raised, report.golden_fields,
            report.audit_id) == (0, 0, 0, 0, None)
    assert (report.already_linked, report.suspects_known, report.customers) == (11, 2, 8)
    assert not report.wrote


def test_dry_run_writes_nothing_and_says_what_would_be_written(store):
    eng, _ = store
    plan, report = _backfill(store, dry_run=True)
    assert _count(eng, customers) == _count(eng, xrefs) == _count(eng, conflicts) == _count(eng, audit) == 0
    assert (report.dry_run, report.new_customers, report.suspects_raised, report.golden_fields) == (True, 8, 2, None)
    assert report.xrefs_added == {"hubspot": 6, "xero": 4, "intercom": 1}
    assert [sorted((m.system, m.external_id) for m in c.members) for c in plan.linked] == [
        [("hubspot", "1"), ("intercom", "i1"), ("xero", "x1")], [("hubspot", "2"), ("xero", "x2")]]


def test_an_existing_cross_reference_is_authoritative(store):
    """Records that already share a customer stay one (a person linked them), whatever their score;
    a record linked live is not given a second customer, and its golden fields are only filled in."""
    eng, _ = store
    with eng.begin() as c:
        cid = records.new_customer(c, legal_name="Maple Analytics Ltd", tax_number="", domain="mapleanalytics.example")
        records.put_xref(c, "hubspot", "company", "3", cid)
        records.put_xref(c, "xero", "contact", "x3", cid)
        golden = GoldenRecord("customer", cid, {"legal_name": FieldState("Maple", "hubspot", "e1", T0)})
        gov.save_golden(c, golden, ["legal_name"])
    plan, report = _backfill(store)
    assert (report.new_customers, report.already_linked, report.suspects, report.linked_customers) == (6, 2, 1, 3)
    assert report.customers == 7  # 8 clusters, two of them one customer already
    assert _xref(eng, "xero", "x3") == _xref(eng, "hubspot", "3") == cid
    with eng.connect() as c:
        golden = gov.load_golden(c, "customer", cid)
    assert golden.fields["legal_name"].value == "Maple" and golden.fields["domain"].system == "hubspot"


def test_deciding_a_backfill_suspect_link_merges_the_customers_separate_keeps_them(store):
    eng, log = store
    _backfill(store)
    with eng.connect() as c:
        (swift, _), (maple, _) = c.execute(select(conflicts.c.id, conflicts.c.score).order_by(conflicts.c.id)).all()
    hub4, hub5 = _xref(eng, "hubspot", "4"), _xref(eng, "hubspot", "5")
    with eng.begin() as c:
        assert gov.resolve_conflict(c, log, swift, "sam", "link") == {"correction": None, "run": None}
        gov.resolve_conflict(c, log, maple, "sam", "separate")
    assert _xref(eng, "hubspot", "5") == _xref(eng, "hubspot", "4") == hub4
    with eng.connect() as c:
        row = c.execute(select(xrefs).where(xrefs.c.external_id == "5")).mappings().one()
        assert row["previous_canonical_id"] == hub5  # kept as an alias
        assert c.scalar(select(func.count()).where(customers.c.canonical_id == hub5)) == 0  # never matched again
        assert c.scalar(select(func.count()).where(golden_fields.c.canonical_id == hub5)) == 0
    assert _xref(eng, "xero", "x3") != _xref(eng, "hubspot", "3")
    assert _count(eng, customers) == 7
    before = _state(eng)
    _, report = _backfill(store)  # decided: nothing is raised again
    assert _state(eng) == before and (report.suspects, report.suspects_known, report.suspects_raised) == (1, 1, 0)


def test_vendor_records_become_account_records():
    assert bf.xero_account({"ContactID": "c1", "ContactStatus": "ARCHIVED", "Name": "Old"}) is None
    x = bf.xero_account({"ContactID": "c2", "Name": "Kestrel", "EmailAddress": "ap@kestrel.example",
                         "ContactPersons": [{"EmailAddress": "cfo@kestrel.example"}], "TaxNumber": "GB 1",
                         "Website": "https://www.kestrel.example/about", "UpdatedDateUTC": "/Date(1736154000000+0000)/"})
    assert (x.key, x.identity().domain, x.identity().tax_number, x.identity().email_domains) == (
        ("xero", "contact", "c2"), "kestrel.example", "GB1", frozenset({"kestrel.example"}))
    assert x.updated_at == datetime(2025, 1, 6, 9, tzinfo=timezone.utc)
    i = bf.intercom_account({"type": "company", "id": "65ab", "company_id": "cs-1", "name": "Kestrel",
                             "website": "kestrel.example", "updated_at": 1736154000})
    assert i.key == ("intercom", "company", "cs-1") and i.updated_at == x.updated_at
    h = bf.hubspot_account({"id": "7", "properties": {"name": "Kestrel", "domain": "kestrel.example", "vat_number": None},
                            "updatedAt": "2025-01-06T09:00:00Z"})
    assert h.key == ("hubspot", "company", "7") and h.golden_values() == {"legal_name": "Kestrel", "domain": "kestrel.example"}


def test_the_cli_refuses_while_an_engine_holds_the_lease_and_names_it(tmp_path, monkeypatch):
    from opsconsole.cli import main
    from opsconsole.engine.lease import Lease

    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "{url}"\nvar_dir = "{tmp_path}"\naudit_key = "test-key"\n'
                      '[hubspot]\nbase_url = "http://127.0.0.1:9"\ntoken = "t"\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    upgrade(url)
    eng = make_engine(url, write=True)
    try:
        assert Lease(eng, "worker:ops-1:4242", ttl_s=60).try_acquire()
        result = CliRunner().invoke(main, ["sync", "backfill"])
        assert result.exit_code == 1
        assert "the engine of worker:ops-1:4242 is running" in result.output and "--dry-run" in result.output
        result = CliRunner().invoke(main, ["sync", "backfill", "--json"])
        doc = json.loads(result.stdout)
        assert result.exit_code == 1 and doc["status"] == "refused" and "worker:ops-1:4242" in doc["error"]
    finally:
        eng.dispose()


def test_the_plan_prints_names_as_plain_text():
    from rich.console import Console

    from opsconsole.verbs.sync import _print_plan

    evil = A("hubspot", "9", "[bold red]Evil\x1b[2J Corp", "evil.example", "GB9")
    twin = A("xero", "x9", "[bold red]Evil\x1b[2J Corp", "", "GB 9")
    plan = bf.plan_backfill([evil, twin], {}, MATCHING)
    console = Console(record=True, width=120, force_terminal=False)
    _print_plan(console, plan)
    text = console.export_text()
    assert "hubspot: [bold red]Evil Corp [9]" in text and "\x1b" not in text


def test_overlap_seeding_is_deterministic_and_idempotent():
    from connectors.hubspot.sandbox import HubSpotSandbox
    from connectors.intercom.sandbox import IntercomSandbox
    from connectors.sandbox_overlap import overlap_records, seed_overlap
    from connectors.xero.sandbox import XeroSandbox

    hubspot = HubSpotSandbox()
    hubspot.seed(12, scenario=True)
    xero, intercom = XeroSandbox(), IntercomSandbox()
    assert seed_overlap(hubspot, xero, intercom) == seed_overlap(hubspot, xero, intercom) == {"xero": 8, "intercom": 6}
    contacts, companies = overlap_records(list(hubspot.store.objects["companies"].values()))
    assert [c["ContactNumber"] for c in contacts] == ["ERP-ACME", "ERP-G1", "ERP-G2", "ERP-G3", "ERP-G4", "ERP-G5",
                                                      "ERP-G7", "ERP-ONLY-1"]
    assert [c["company_id"] for c in companies] == ["cs-acme", "cs-northwind", "cs-g1", "cs-g4", "cs-g6", "cs-only-1"]
