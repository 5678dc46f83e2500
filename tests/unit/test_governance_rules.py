"""Matching (duplicate prevention) and ownership/survivorship, as the data files in data/ define them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from canonical.matching import Identity, MatchingRules, best_match, match
from canonical.ownership import FieldState, GoldenRecord, OwnershipRules, apply_change, empty, survive

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
RULES = MatchingRules.load()
OWN = OwnershipRules.load()


@pytest.mark.parametrize("a,b,decision,evidence", [
    (dict(name="Acme Corporation", tax_number="GB 123 456 789"), dict(name="ACME Corp.", tax_number="GB123456789"),
     "link", "same tax number, same legal name"),
    (dict(name="Acme Corp", domain="acme.example"), dict(name="Acme Corporation", domain="https://www.acme.example/"),
     "link", "same legal name, same web domain"),
    (dict(name="Acme Corp"), dict(name="Acme Corporation"), "suspect", "same legal name"),
    (dict(name="Acme", emails=["jo@acme.example"]), dict(name="Acme Ltd", domain="acme.example"),
     "suspect", "same legal name, same e-mail domain"),
    (dict(name="Acme", tax_number="GB1"), dict(name="Acme", tax_number="GB2"), "new", "different tax numbers, same legal name"),
    (dict(name="Acme", emails=["a@gmail.com"]), dict(name="Zenith", emails=["b@gmail.com"]), "new", "no shared evidence"),
])
def test_match_decisions_follow_the_thresholds(a, b, decision, evidence):
    m = match(Identity.of("hubspot", "1", **a), Identity.of("xero", "2", **b), RULES)
    assert (m.decision, m.reason) == (decision, evidence)
    assert 0.0 <= m.score <= 1.0


def test_best_match_picks_the_strongest_candidate():
    record = Identity.of("hubspot", "1", name="Acme Corp", tax_number="GB123")
    candidates = [Identity.of("xero", "a", name="Acme Corp"), Identity.of("xero", "b", name="Other", tax_number="GB123")]
    assert best_match(record, candidates, RULES).b.external_id == "b"
    assert best_match(record, [], RULES) is None


def test_thresholds_must_be_ordered():
    raw = RULES.model_dump()
    raw["thresholds"] = {"link": 0.4, "suspect": 0.5}
    with pytest.raises(ValidationError, match="must be below link"):
        MatchingRules.model_validate(raw)


def _golden(**values) -> GoldenRecord:
    g = GoldenRecord("customer", "cus_1")
    for name, (system, value) in values.items():
        g.fields[name] = FieldState(value, system, "e0", T0)
    return g


def test_a_change_in_a_non_owner_is_a_conflict_not_an_overwrite():
    g = _golden(tax_number=("xero", "GB111"), domain=("hubspot", "acme.example"))
    out = apply_change(g, OWN, "hubspot", {"tax_number": "GB222"}, event_id="e1", at=T0 + timedelta(hours=1))
    assert out.changed == {} and g.fields["tax_number"].value == "GB111"
    [conflict] = out.conflicts
    assert (conflict.field, conflict.owner, conflict.challenger) == ("tax_number", "xero", "hubspot")
    assert conflict.values == {"xero": "GB111", "hubspot": "GB222"} and conflict.billing_impacting
    assert "raise a correction" in conflict.proposed
    assert conflict.rule == "owned by xero, source priority, billing-impacting"


def test_the_owner_changes_its_field_with_provenance():
    g = _golden(tax_number=("xero", "GB111"))
    out = apply_change(g, OWN, "xero", {"tax_number": "GB333"}, event_id="e2", at=T0 + timedelta(hours=1))
    assert out.changed == {"tax_number": ("GB111", "GB333")}
    assert g.fields["tax_number"] == FieldState("GB333", "xero", "e2", T0 + timedelta(hours=1))


def test_empty_never_overwrites_filled_unless_the_owner_may_clear():
    g = _golden(tax_number=("xero", "GB111"), domain=("hubspot", "acme.example"))
    out = apply_change(g, OWN, "xero", {"tax_number": ""}, event_id="e3", at=T0 + timedelta(hours=1))
    assert out.ignored == {"tax_number": "an empty value never overwrites a filled one"}
    out = apply_change(g, OWN, "hubspot", {"domain": ""}, event_id="e4", at=T0 + timedelta(hours=1))
    assert out.changed == {"domain": ("acme.example", "")}  # domain: owner_may_clear


def test_a_non_owner_may_fill_a_value_nobody_has_set():
    g = _golden()
    out = apply_change(g, OWN, "hubspot", {"tax_number": "GB9"}, event_id="e5", at=T0)
    assert out.changed == {"tax_number": (None, "GB9")} and g.fields["tax_number"].system == "hubspot"


def test_out_of_order_and_redelivered_changes_are_ignored():
    g = _golden(domain=("hubspot", "new.example"))
    g.fields["domain"] = FieldState("new.example", "hubspot", "e9", T0 + timedelta(hours=2))
    out = apply_change(g, OWN, "hubspot", {"domain": "old.example"}, event_id="e8", at=T0 + timedelta(hours=1))
    assert out.ignored == {"domain": "older than the value it would replace"}
    out = apply_change(g, OWN, "hubspot", {"domain": "newer.example"}, event_id="e8", at=T0 + timedelta(hours=3))
    assert out.ignored == {"domain": "event already applied"} and g.fields["domain"].value == "new.example"


def test_survivorship_rules():
    rule = OWN.rule("customer", "billing_address")
    short = FieldState({"line1": "1 Way", "city": "Leeds"}, "hubspot", "a", T0)
    full = FieldState({"line1": "1 Way", "city": "Leeds", "postal_code": "LS1"}, "intercom", "b", T0)
    assert survive(OWN, rule, [short, full]) is full  # no xero value: most complete
    owned = FieldState({"line1": "2 Road"}, "xero", "c", T0 - timedelta(days=1))
    assert survive(OWN, rule, [short, full, owned]) is owned  # the owner's value always survives
    email = OWN.rule("customer", "email")
    old, new = FieldState("a@x.example", "xero", "a", T0), FieldState("b@x.example", "intercom", "b", T0 + timedelta(1))
    assert survive(OWN, email, [old, new, FieldState("", "hubspot", "c", T0 + timedelta(2))]) is new


def test_billing_impacting_fields_are_the_documented_ones():
    assert OWN.billing_impacting("customer") == [
        "billing_address", "currency", "legal_entity", "legal_name", "payment_terms", "tax_number", "tax_profile"]


_systems = st.sampled_from(["xero", "hubspot", "intercom"])
_fields = st.sampled_from(["legal_name", "tax_number", "domain", "email", "billing_address"])
_values = st.one_of(st.just(""), st.text(min_size=1, max_size=8), st.fixed_dictionaries({"city": st.text(max_size=5)}))
_change = st.tuples(_systems, st.dictionaries(_fields, _values, max_size=4), st.integers(0, 100))


@settings(max_examples=100, deadline=None)
@given(st.lists(_change, max_size=12))
def test_applying_the_same_changes_twice_changes_nothing(changes):
    g = GoldenRecord("customer", "cus_1")
    for i, (system, values, minute) in enumerate(changes):
        apply_change(g, OWN, system, values, event_id=f"e{i}", at=T0 + timedelta(minutes=minute))
    snapshot = dict(g.fields)
    for i, (system, values, minute) in enumerate(changes):
        out = apply_change(g, OWN, system, values, event_id=f"e{i}", at=T0 + timedelta(minutes=minute))
        assert out.changed == {} and out.conflicts == []
    assert g.fields == snapshot


@settings(max_examples=100, deadline=None)
@given(st.lists(_change, max_size=12))
def test_the_same_values_again_in_a_new_event_change_nothing(changes):
    g = GoldenRecord("customer", "cus_1")
    for i, (system, values, minute) in enumerate(changes):
        at = T0 + timedelta(minutes=minute)
        apply_change(g, OWN, system, values, event_id=f"e{i}", at=at)
        snapshot = dict(g.fields)
        out = apply_change(g, OWN, system, values, event_id=f"e{i}-again", at=at)
        assert out.changed == {} and g.fields == snapshot


@settings(max_examples=100, deadline=None)
@given(st.lists(_change, max_size=12))
def test_a_non_owner_never_replaces_an_owned_filled_value(changes):
    g = GoldenRecord("customer", "cus_1")
    for i, (system, values, minute) in enumerate(changes):
        before = dict(g.fields)
        apply_change(g, OWN, system, values, event_id=f"e{i}", at=T0 + timedelta(minutes=minute))
        for name, state in before.items():
            rule = OWN.rule("customer", name)
            if rule.owner not in ("any", system) and not empty(state.value):
                assert g.fields[name] == state


def test_backfill_links_across_systems_and_raises_one_suspect_per_pair_of_customers():
    from canonical.linking import plan_links

    records = [
        Identity.of("hubspot", "1", name="Acme Corporation", tax_number="GB1", domain="acme.example"),
        Identity.of("xero", "x1", name="ACME Corp.", tax_number="GB 1"),
        Identity.of("intercom", "i1", name="Acme Corp", emails=["a@acme.example"]),
        Identity.of("hubspot", "2", name="Acme Corp"),  # a second CRM Acme: never merged into the first
        Identity.of("hubspot", "3", name="Zenith"),
        Identity.of("xero", "x2", name="Zenith Ltd", tax_number="GB9", canonical_id="cus_z"),
        Identity.of("xero", "x3", name="Nimbus", tax_number="GB7", canonical_id="cus_n1"),
        Identity.of("hubspot", "4", name="Nimbus", tax_number="GB7", canonical_id="cus_n2"),  # two customers already
    ]
    plan = plan_links(records, RULES)
    clusters = sorted(sorted((m.system, m.external_id) for m in c.members) for c in plan.clusters)
    assert clusters == [[("hubspot", "1"), ("xero", "x1")], [("hubspot", "2")], [("hubspot", "3")], [("hubspot", "4")],
                        [("intercom", "i1")], [("xero", "x2")], [("xero", "x3")]]
    pairs = [(m.a.external_id, m.b.external_id, m.decision) for m in plan.suspects]
    assert pairs == [("x3", "4", "link"), ("1", "i1", "suspect"), ("1", "2", "suspect"), ("i1", "2", "suspect"),
                     ("3", "x2", "suspect")]
