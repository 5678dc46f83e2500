"""Governed sync in a real store: golden record provenance, conflicts, corrections, maker-checker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from canonical.matching import Identity, MatchingRules, match
from canonical.ownership import OwnershipRules
from opsconsole.engine import governance as gov
from opsconsole.engine.audit import AuditLog
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import conflicts, corrections, customers, xrefs

T0 = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
RULES = OwnershipRules.load()
ROLES = {"fiona": ["finance"], "frank": ["finance"], "sam": ["support"]}


def has_role(operator: str, role: str) -> bool:
    return role in ROLES.get(operator, [])


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    eng = make_engine(url, write=True)
    yield eng, AuditLog(b"k" * 32, tmp_path / "audit.head")
    eng.dispose()


def _apply(eng, system, values, event, minutes=0):
    with eng.begin() as c:
        return gov.apply_to_golden(c, RULES, "customer", "cus_1", system, values, event_id=event,
                                   at=T0 + timedelta(minutes=minutes))


def _conflict_for_tax_number(eng):
    _apply(eng, "xero", {"tax_number": "GB111", "legal_name": "Acme Ltd"}, "xero:1")
    return _apply(eng, "hubspot", {"tax_number": "GB222", "domain": "acme.example"}, "hubspot:2", 5)


def test_golden_record_keeps_provenance_and_a_crm_edit_of_an_erp_field_is_a_conflict(store):
    eng, _ = store
    outcome, opened = _conflict_for_tax_number(eng)
    assert list(outcome.changed) == ["domain"] and len(opened) == 1
    with eng.connect() as c:
        golden = gov.load_golden(c, "customer", "cus_1")
        row = gov.get_conflict(c, opened[0])
    assert golden.fields["tax_number"].value == "GB111" and golden.fields["tax_number"].event_id == "xero:1"
    assert golden.fields["domain"].system == "hubspot" and golden.fields["domain"].set_at == T0 + timedelta(minutes=5)
    assert (row["kind"], row["field"], row["owner"], row["challenger"], row["state"]) == (
        "ownership", "tax_number", "xero", "hubspot", "open")
    assert row["values"] == {"xero": "GB111", "hubspot": "GB222"} and row["billing_impacting"]
    # the same edit redelivered (or polled) does not open a second conflict
    _, again = _apply(eng, "hubspot", {"tax_number": "GB222"}, "hubspot:3", 6)
    with eng.connect() as c:
        assert again == [] and c.scalar(select(func.count()).select_from(conflicts)) == 1


def test_billing_impacting_conflict_becomes_a_correction_only_another_finance_user_approves(store):
    eng, audit = store
    _, (conflict_id,) = _conflict_for_tax_number(eng)
    with eng.begin() as c:
        with pytest.raises(gov.GovernanceError, match="billing-impacting: raise a correction"):
            gov.resolve_conflict(c, audit, conflict_id, "fiona", "take")
    with eng.begin() as c:
        correction_id = gov.resolve_conflict(c, audit, conflict_id, "fiona", "correction",
                                             "customer sent a new VAT certificate")["correction"]
    with eng.connect() as c:
        corr = gov.get_correction(c, correction_id)
        assert (corr["state"], corr["before"], corr["after"], corr["target_system"]) == ("pending", "GB111", "GB222", "xero")
        assert gov.get_conflict(c, conflict_id)["resolution"] == "correction"
    for actor, message in [("fiona", "fiona requested correction 1; another finance approver must decide it"),
                           ("sam", "sam does not hold the finance role")]:
        with eng.begin() as c, pytest.raises(gov.GovernanceError) as exc:
            gov.decide_correction(c, audit, has_role, correction_id, actor, approve=True)
        assert str(exc.value) == message
    with eng.begin() as c:
        with pytest.raises(gov.GovernanceError, match="needs a reason"):
            gov.decide_correction(c, audit, has_role, correction_id, "frank", approve=False, reason=" ")
    with eng.begin() as c:
        assert gov.decide_correction(c, audit, has_role, correction_id, "frank", approve=True) == "approved"
    with eng.connect() as c:
        assert gov.approval_problem(c, audit, has_role, gov.get_correction(c, correction_id)) is None
        assert audit.verify(c).ok
    # the approver later loses the finance role: the engine's check at write time refuses it
    with eng.connect() as c:
        problem = gov.approval_problem(c, audit, lambda o, r: o == "fiona", gov.get_correction(c, correction_id))
    assert problem == "approval refused: frank does not hold the finance role"


def test_a_forged_approval_row_is_refused(store):
    eng, audit = store
    _, (conflict_id,) = _conflict_for_tax_number(eng)
    with eng.begin() as c:
        correction_id = gov.resolve_conflict(c, audit, conflict_id, "fiona", "correction")["correction"]
        some_entry = audit.append(c, "frank", "retry.requested", "exception:1", {})
    for forged_entry in (None, some_entry, 999):
        with eng.begin() as c:
            c.execute(update(corrections).where(corrections.c.id == correction_id).values(
                state="approved", decided_by="frank", approval_audit_id=forged_entry))
        with eng.connect() as c:
            problem = gov.approval_problem(c, audit, has_role, gov.get_correction(c, correction_id))
        assert problem == "approval refused: correction 1 has no authentic approval by frank in the audit chain"


def test_a_suspected_duplicate_is_recorded_once(store):
    eng, audit = store
    m = match(Identity.of("hubspot", "7", name="Acme Corp", canonical_id=""),
              Identity.of("xero", "x-1", name="Acme Corporation", canonical_id="cus_1"), MatchingRules.load())
    assert m.decision == "suspect"
    with eng.begin() as c:
        first = gov.record_duplicate(c, m, legal_name="Acme Corp", event_id="hubspot:9")
        second = gov.record_duplicate(c, m, legal_name="Acme Corp", event_id="hubspot:10")
    assert first is not None and second is None
    with eng.begin() as c:
        with pytest.raises(gov.GovernanceError, match="one of: link, separate"):
            gov.resolve_conflict(c, audit, first, "sam", "keep")
        assert gov.resolve_conflict(c, audit, first, "sam", "separate", "two different Acmes") == {
            "correction": None, "run": None}
    with eng.connect() as c:
        row = gov.get_conflict(c, first)
        assert (row["state"], row["resolution"], row["resolved_by"]) == ("resolved", "separate", "sam")
        xref = c.execute(select(xrefs).where(xrefs.c.system == "hubspot", xrefs.c.external_id == "7")).mappings().one()
        assert xref["canonical_id"] != "cus_1" and c.scalar(select(func.count()).select_from(customers)) == 1


def test_a_taken_value_needs_its_conflict_decision_in_the_audit_chain(store):
    eng, audit = store
    _apply(eng, "hubspot", {"domain": "acme.example"}, "hubspot:1")
    _, (conflict_id,) = _apply(eng, "intercom", {"domain": "support.example"}, "intercom:2", 5)
    with eng.begin() as c:
        done = gov.resolve_conflict(c, audit, conflict_id, "sam", "take")
    with eng.connect() as c:
        taken = gov.get_correction(c, done["correction"])
        assert (taken["state"], taken["billing_impacting"], taken["target_system"], taken["after"]) == (
            "approved", False, "hubspot", "support.example")
        assert gov.approval_problem(c, audit, has_role, taken) is None  # no finance role needed
        other = audit.append(c, "sam", "retry.requested", "exception:1", {})
    forged = {**taken, "id": 99, "approval_audit_id": other}
    with eng.connect() as c:
        assert gov.approval_problem(c, audit, has_role, forged) == (
            "approval refused: correction 99 has no authentic decision by sam in the audit chain")
