"""Contacts (the people at an account) in the golden record: what the contact workflows share.

A canonical contact has an id of its own (``con_...``) and cross-references like a customer's,
object type ``contact`` (HubSpot contact id, Intercom contact id); a HubSpot contact is matched to a
known contact by e-mail within the same customer (:func:`records.resolve_contact`). Its fields are
governed by ``data/ownership.toml`` ``[contact.*]``: the CRM owns e-mail, names and role, the phone
has no single owner.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from opsconsole.engine import governance

CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "role")
"""The contact fields the golden record keeps."""
NEW_CONTACT = "<new contact>"
"""The contact id a mapping reads with before the engine resolved it (in the matching commit)."""


def govern_contact(conn, contact_id: str, system: str, values: dict[str, Any], *, event_id: str,
                   at: datetime | None) -> dict:
    """Apply one system's contact values to the golden record (a change to a field the system does
    not own is a conflict, never applied). Returns the validate step's summary: the fields changed,
    the conflicts opened, the e-mail before the change and the golden values after it."""
    outcome, opened = governance.apply_to_golden(conn, governance.ownership_rules(), "contact", contact_id, system,
                                                 values, event_id=event_id, at=at or datetime.now(timezone.utc))
    golden = governance.load_golden(conn, "contact", contact_id)
    return {"contact_id": contact_id, "changed": sorted(outcome.changed), "conflicts": opened,
            "previous_email": (outcome.changed.get("email") or ("",))[0] or "",
            "golden": {name: golden.fields[name].value for name in CONTACT_FIELDS if name in golden.fields}}


def full_name(values: dict[str, Any]) -> str:
    return " ".join(v for v in (values.get("first_name") or "", values.get("last_name") or "") if v)
