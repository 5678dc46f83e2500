"""What the console asks before keeping or taking a value: the value in force and who set it
(opsconsole/tui/decisions.py), including a field the owner has never set."""

from __future__ import annotations

from datetime import datetime, timezone

from opsconsole.tui.decisions import conflict_preview, value_in_force
from opsconsole.viewmodels import ConflictRow


def row(values: dict, owner: str = "xero", challenger: str = "hubspot", field: str = "legal_name") -> ConflictRow:
    return ConflictRow(1, "ownership", "customer", "cus_1", field, owner, "owned by xero", values, challenger,
                       "", False, None, "open", "", "", None, None, datetime(2026, 12, 1, tzinfo=timezone.utc), 0.0)


def test_the_owner_s_value_is_kept():
    r = row({"xero": "Acme Corporation", "hubspot": "ACME Corp."})
    assert value_in_force(r) == ("xero", "Acme Corporation")
    question, detail = conflict_preview(r, "keep")
    assert question == "Keep the xero value of legal_name for customer cus_1? (conflict 1)"
    assert detail.startswith("xero (owner): Acme Corporation stays.\nhubspot: ACME Corp. is not applied.")


def test_a_field_the_owner_never_set_keeps_the_golden_record_s_value():
    r = row({"golden": "Acme Corporation", "hubspot": "ACME Corp."})
    assert value_in_force(r) == ("golden", "Acme Corporation")
    question, detail = conflict_preview(r, "keep")
    assert question == "Keep the current value of legal_name for customer cus_1? (conflict 1)"
    assert detail.startswith("the golden record (xero, the owner, has not set it): Acme Corporation stays.")
    _, take = conflict_preview(r, "take")
    assert take.startswith("hubspot: ACME Corp. replaces\nthe golden record (xero, the owner, has not set it): "
                           "Acme Corporation.")


def test_a_value_set_by_a_third_system_is_named_by_it():
    r = row({"intercom": "acme.io", "xero": "acme.com"}, owner="hubspot", challenger="xero", field="domain")
    assert value_in_force(r) == ("intercom", "acme.io")
    assert conflict_preview(r, "keep")[1].startswith("intercom (in force; hubspot owns it): acme.io stays.")
