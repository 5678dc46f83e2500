"""Repeating invoices (the billing schedule) for the Xero sandbox: templates with a schedule, DRAFT or
AUTHORISED, DELETED (by update) final. Like the other books, ``plan`` validates one element (raising
:class:`Invalid` with Xero's messages) and returns the closure that applies it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from connectors.xero.sandbox_documents import INVOICE_LINE_TYPES, _contact, _Documents
from connectors.xero.sandbox_finance import _ms_date, add_months
from connectors.xero.sandbox_models import (
    Invalid, contact_ref, currency, line_amount_types, new_id, parse_date, price_lines, today,
)

SCHEDULE_UNITS = frozenset({"WEEKLY", "MONTHLY"})
DUE_DATE_TYPES = frozenset({"DAYSAFTERBILLDATE", "DAYSAFTERBILLMONTH", "DAYSAFTERINVOICEDATE",
                            "DAYSAFTERINVOICEMONTH", "OFCURRENTMONTH", "OFFOLLOWINGMONTH"})
REPEATING_STATUSES = frozenset({"DRAFT", "AUTHORISED"})
# Repeating invoice templates: DRAFT or AUTHORISED, DELETED (by update) is final.
REPEATING_TRANSITIONS: dict[str, frozenset[str]] = {
    "DRAFT": frozenset({"DRAFT", "AUTHORISED", "DELETED"}),
    "AUTHORISED": frozenset({"AUTHORISED", "DELETED"}),
    "DELETED": frozenset(),
}
REPEATING_DELETED = "This repeating invoice template has been deleted and cannot be modified."


# --- repeating invoices ------------------------------------------------------------------------------
def _schedule(raw: Any) -> tuple[dict[str, Any], date]:
    if not isinstance(raw, dict):
        raise Invalid("A Schedule must be specified for a repeating invoice.")
    errors: list[str] = []
    period = raw.get("Period")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        errors.append("Schedule Period must be a whole number greater than zero.")
    unit = str(raw.get("Unit") or "").upper()
    if unit not in SCHEDULE_UNITS:
        errors.append("Schedule Unit must be WEEKLY or MONTHLY.")
    due = raw.get("DueDate")
    if isinstance(due, bool) or not isinstance(due, int) or due < 0:
        errors.append("Schedule DueDate must be a whole number.")
    due_type = str(raw.get("DueDateType") or "").upper()
    if due_type not in DUE_DATE_TYPES:
        errors.append("Schedule DueDateType is not valid.")
    start = end = None
    try:
        if not raw.get("StartDate"):
            raise Invalid("Schedule StartDate must be specified.")
        start = parse_date(raw["StartDate"], "StartDate")
        end = parse_date(raw["EndDate"], "EndDate") if raw.get("EndDate") else None
    except Invalid as exc:
        errors += exc.messages
    if start and end and end < start:
        errors.append("Schedule EndDate must be after StartDate.")
    if errors:
        raise Invalid(*errors)
    assert start is not None
    nxt, step = start, 0
    while nxt < today():
        step += 1
        nxt = start + timedelta(weeks=period * step) if unit == "WEEKLY" else add_months(start, period * step)
    schedule = {"Period": period, "Unit": unit, "DueDate": due, "DueDateType": due_type,
                "StartDate": _ms_date(start)}
    if end is None or nxt <= end:
        schedule["NextScheduledDate"] = _ms_date(nxt)
    if end is not None:
        schedule["EndDate"] = _ms_date(end)
    return schedule, start


class RepeatingInvoiceBook(_Documents):
    id_field, kind = "RepeatingInvoiceID", "repeating invoice"

    def plan(self, item: Any, claims: dict, path_id: str | None = None) -> Callable[[], dict]:
        if not isinstance(item, dict):
            raise Invalid("A repeating invoice must be an object.")
        existing = self._existing(item, path_id)
        if existing is not None:
            return self._plan_update(item, existing)
        errors: list[str] = []
        inv_type = str(item.get("Type") or "")
        if inv_type not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be specified as ACCREC or ACCPAY." if not inv_type
                          else f"Invoice Type '{inv_type}' is not supported.")
        contact = schedule = lines = totals = None
        lat = "EXCLUSIVE"
        try:
            contact = _contact(self.contacts, item.get("Contact"))
        except Invalid as exc:
            errors += exc.messages
        try:
            schedule, _ = _schedule(item.get("Schedule"))
        except Invalid as exc:
            errors += exc.messages
        status = str(item.get("Status") or "DRAFT").upper()
        if status not in REPEATING_STATUSES:
            errors.append(f"A repeating invoice must be DRAFT or AUTHORISED, not {status}.")
        try:
            lat = line_amount_types(item.get("LineAmountTypes"), "EXCLUSIVE")
            lines, totals = price_lines(item.get("LineItems"), lat, required=True)
            code = currency(item.get("CurrencyCode"), (contact or {}).get("DefaultCurrency") or self.base_currency)
        except Invalid as exc:
            errors += exc.messages
        if errors:
            raise Invalid(*errors)

        def apply() -> dict:
            rid = new_id()
            rec: dict[str, Any] = {
                "Schedule": schedule, "RepeatingInvoiceID": rid, "ID": rid, "Type": inv_type,
                "Reference": str(item.get("Reference") or ""), "HasAttachments": False,
                "ApprovedForSending": bool(item.get("ApprovedForSending", False)),
                "SendCopy": bool(item.get("SendCopy", False)), "MarkAsSent": bool(item.get("MarkAsSent", False)),
                "IncludePDF": bool(item.get("IncludePDF", False)), "Contact": contact_ref(contact),
                "Status": status, "LineAmountTypes": INVOICE_LINE_TYPES[lat], "LineItems": lines, **totals,
                "CurrencyCode": code,
            }
            if item.get("BrandingThemeID"):
                rec["BrandingThemeID"] = item["BrandingThemeID"]
            self._store(rec)
            rec.pop("UpdatedDateUTC", None)  # not a RepeatingInvoice field
            return rec

        return apply


    def _plan_update(self, item: dict, existing: dict) -> Callable[[], dict]:
        """POST /RepeatingInvoices/{id} (or POST /RepeatingInvoices naming a RepeatingInvoiceID): change
        the template's fields, approve it (DRAFT → AUTHORISED) or delete it (Status DELETED, final)."""
        errors: list[str] = []
        old = existing["Status"]
        status = str(item.get("Status") or old).upper()
        if old == "DELETED":
            errors.append(REPEATING_DELETED)
        elif status not in REPEATING_TRANSITIONS:
            errors.append(f"A repeating invoice must be DRAFT, AUTHORISED or DELETED, not {status}.")
        elif status not in REPEATING_TRANSITIONS[old]:
            errors.append(f"The repeating invoice status cannot be changed from {old} to {status}.")
        if item.get("Type") and item["Type"] != existing["Type"]:
            errors.append("The Type of a repeating invoice cannot be changed.")
        contact = schedule = lines = totals = None
        lat = line_amount_types(None, existing["LineAmountTypes"])
        if item.get("Contact"):
            try:
                contact = _contact(self.contacts, item["Contact"])
            except Invalid as exc:
                errors += exc.messages
        if item.get("Schedule") is not None:
            try:
                schedule, _ = _schedule(item["Schedule"])
            except Invalid as exc:
                errors += exc.messages
        try:
            lat = line_amount_types(item.get("LineAmountTypes"), existing["LineAmountTypes"])
            if "LineItems" in item or "LineAmountTypes" in item:
                lines, totals = price_lines(item["LineItems"] if "LineItems" in item else existing["LineItems"],
                                            lat, required=True)
            code = currency(item.get("CurrencyCode"), existing["CurrencyCode"])
        except Invalid as exc:
            errors += exc.messages
        if errors:
            raise Invalid(*errors)

        def apply() -> dict:
            rec = existing
            for f in ("Reference", "BrandingThemeID"):
                if item.get(f) is not None:
                    rec[f] = str(item[f])
            for f in ("ApprovedForSending", "SendCopy", "MarkAsSent", "IncludePDF"):
                if item.get(f) is not None:
                    rec[f] = bool(item[f])
            if contact is not None:
                rec["Contact"] = contact_ref(contact)
            if schedule is not None:
                rec["Schedule"] = schedule
            if lines is not None:
                rec["LineItems"] = lines
                rec.update(totals)
            rec.update(Status=status, CurrencyCode=code, LineAmountTypes=INVOICE_LINE_TYPES[lat])
            if status == "DELETED":  # a deleted template schedules nothing
                rec["Schedule"].pop("NextScheduledDate", None)
            self._store(rec)
            rec.pop("UpdatedDateUTC", None)  # not a RepeatingInvoice field
            return rec

        return apply


__all__ = ["RepeatingInvoiceBook"]
