"""Quotes and invoices for the Xero sandbox: numbering, status rules, totals (no HTTP here)."""

from __future__ import annotations

import uuid
from typing import Any, Callable

from connectors.xero.sandbox_models import (
    ContactBook, Invalid, Missing, contact_ref, currency, line_amount_types, ms_datetime, new_id, now_ms,
    parse_date, price_lines, render_date, today,
)

# Xero's documented quote status changes (a status may always be re-sent unchanged).
QUOTE_TRANSITIONS: dict[str, frozenset[str]] = {
    "DRAFT": frozenset({"DRAFT", "SENT", "DELETED"}),
    "SENT": frozenset({"SENT", "ACCEPTED", "DECLINED", "DRAFT", "DELETED"}),
    "ACCEPTED": frozenset({"ACCEPTED", "INVOICED", "SENT", "DELETED"}),
    "DECLINED": frozenset({"DECLINED", "SENT", "DELETED"}),
    "INVOICED": frozenset({"INVOICED", "ACCEPTED", "DELETED"}),
    "DELETED": frozenset({"DELETED"}),
}
QUOTE_CREATE_STATUSES = frozenset({"DRAFT", "SENT"})

INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    "DRAFT": frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"}),
    "SUBMITTED": frozenset({"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"}),
    "AUTHORISED": frozenset({"AUTHORISED", "VOIDED"}),
    "PAID": frozenset({"PAID"}),
    "VOIDED": frozenset(),
    "DELETED": frozenset(),
}
INVOICE_CREATE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})
INVOICE_LINE_TYPES = {"EXCLUSIVE": "Exclusive", "INCLUSIVE": "Inclusive", "NOTAX": "NoTax"}
TEXT_FIELDS_QUOTE = ("Reference", "Terms", "Title", "Summary", "BrandingThemeID")
TEXT_FIELDS_INVOICE = ("Reference", "BrandingThemeID", "Url", "SentToContact")


def _contact(contacts: ContactBook, ref: Any) -> dict[str, Any]:
    if not isinstance(ref, dict) or not any(ref.get(k) for k in ("ContactID", "ContactNumber", "Name")):
        raise Invalid("A Contact must be specified for this type of transaction")
    rec = contacts.find(ref)
    if rec is None:
        which = ref.get("ContactID") or ref.get("ContactNumber") or ref.get("Name")
        raise Invalid(f"The contact {which} could not be found.")
    return rec


class _Documents:
    id_field = ""
    kind = ""

    def __init__(self, contacts: ContactBook, base_currency: str) -> None:
        self.contacts = contacts
        self.base_currency = base_currency
        self.records: dict[str, dict[str, Any]] = {}
        self.updated: dict[str, int] = {}
        self.seq = 0

    def _existing(self, item: dict, path_id: str | None) -> dict | None:
        doc_id = path_id or item.get(self.id_field)
        if not doc_id:
            return None
        rec = self.records.get(str(doc_id))
        if rec is None:
            if path_id:
                raise Missing(path_id)
            raise Invalid(f"The {self.kind} with {self.id_field} {doc_id} could not be found.")
        return rec

    def _store(self, rec: dict[str, Any]) -> dict[str, Any]:
        ms = now_ms()
        rec["UpdatedDateUTC"] = ms_datetime(ms)
        self.records[rec[self.id_field]] = rec
        self.updated[rec[self.id_field]] = ms
        return rec


class QuoteBook(_Documents):
    id_field, kind = "QuoteID", "quote"

    def plan(self, item: Any, claims: dict, path_id: str | None = None) -> Callable[[], dict]:
        if not isinstance(item, dict):
            raise Invalid("A quote must be an object.")
        existing = self._existing(item, path_id)
        errors: list[str] = []
        contact = date = None
        try:
            contact = _contact(self.contacts, item.get("Contact"))
        except Invalid as exc:
            errors += exc.messages
        if item.get("Date") in (None, ""):
            errors.append("Date must be specified.")
        else:
            try:
                date = parse_date(item["Date"], "Date")
            except Invalid as exc:
                errors += exc.messages
        old = existing["Status"] if existing else None
        status = str(item.get("Status") or old or "DRAFT").upper()
        if status not in QUOTE_TRANSITIONS:
            errors.append(f"Status '{item.get('Status')}' is not a valid quote status.")
        elif old is None and status not in QUOTE_CREATE_STATUSES:
            errors.append(f"A new quote must be DRAFT or SENT, not {status}.")
        elif old is not None and status not in QUOTE_TRANSITIONS[old]:
            errors.append(f"The quote status cannot be changed from {old} to {status}.")
        lines = totals = None
        try:
            lat = line_amount_types(item.get("LineAmountTypes"), existing["LineAmountTypes"] if existing else "EXCLUSIVE")
            if existing is None or "LineItems" in item:
                lines, totals = price_lines(item.get("LineItems"), lat, required=True)
            code = currency(item.get("CurrencyCode"), existing["CurrencyCode"] if existing else
                            (contact or {}).get("DefaultCurrency") or self.base_currency)
            expiry = parse_date(item["ExpiryDate"], "ExpiryDate") if item.get("ExpiryDate") else None
        except Invalid as exc:
            errors += exc.messages
        if errors:
            raise Invalid(*errors)

        def apply() -> dict:
            if existing is None:
                self.seq += 1
                rec: dict[str, Any] = {"QuoteID": new_id(),
                                       "QuoteNumber": str(item.get("QuoteNumber") or f"QU-{self.seq:04d}"),
                                       "Terms": "", "CurrencyRate": 1.0}
            else:
                rec = existing
                if item.get("QuoteNumber"):
                    rec["QuoteNumber"] = str(item["QuoteNumber"])
            for f in TEXT_FIELDS_QUOTE:
                if item.get(f) is not None:
                    rec[f] = item[f]
            rec["Contact"] = contact_ref(contact)
            if lines is not None:
                rec["LineItems"] = lines
                rec.update(totals)
            rec.update(render_date(date, "Date"))
            if expiry is not None:
                rec.update(render_date(expiry, "ExpiryDate"))
            rec.update(Status=status, CurrencyCode=code, LineAmountTypes=lat, StatusAttributeString="OK")
            return self._store(rec)

        return apply


class InvoiceBook(_Documents):
    id_field, kind = "InvoiceID", "invoice"

    def __init__(self, contacts: ContactBook, base_currency: str) -> None:
        super().__init__(contacts, base_currency)
        self.by_number: dict[str, str] = {}

    def plan(self, item: Any, claims: dict, path_id: str | None = None, *, update_by_number: bool = False
             ) -> Callable[[], dict]:
        if not isinstance(item, dict):
            raise Invalid("An invoice must be an object.")
        existing = self._existing(item, path_id)
        number = str(item["InvoiceNumber"]) if item.get("InvoiceNumber") else None
        if existing is None and number and update_by_number and number in self.by_number:
            existing = self.records[self.by_number[number]]
        errors: list[str] = []
        inv_type = str(item.get("Type") or (existing or {}).get("Type") or "")
        if inv_type not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be specified as ACCREC or ACCPAY." if not inv_type
                          else f"Invoice Type '{inv_type}' is not supported.")
        contact = None
        if existing is None or item.get("Contact"):
            try:
                contact = _contact(self.contacts, item.get("Contact"))
            except Invalid as exc:
                errors += exc.messages
        old = existing["Status"] if existing else None
        status = str(item.get("Status") or old or "DRAFT").upper()
        if old is None and status not in INVOICE_CREATE_STATUSES:
            errors.append(f"A new invoice must be DRAFT, SUBMITTED or AUTHORISED, not {status}.")
        elif old is not None and status not in INVOICE_TRANSITIONS.get(old, frozenset()):
            errors.append("Invoice not of valid status for modification")
        if inv_type == "ACCREC" and number and existing is None and number in self.by_number:
            errors.append("Invoice # must be unique.")
        if inv_type == "ACCREC" and number and existing is None and claims.get(("inv", number)):
            errors.append("Invoice # must be unique.")
        lines = totals = date = due = None
        try:
            lat = line_amount_types(item.get("LineAmountTypes"),
                                    (existing or {}).get("LineAmountTypes", "Exclusive"))
            if existing is None or "LineItems" in item:
                lines, totals = price_lines(item.get("LineItems"), lat, required=status != "DRAFT")
            date = parse_date(item["Date"], "Date") if item.get("Date") else None
            due = parse_date(item["DueDate"], "DueDate") if item.get("DueDate") else None
            code = currency(item.get("CurrencyCode"), (existing or {}).get("CurrencyCode") or
                            (contact or {}).get("DefaultCurrency") or self.base_currency)
        except Invalid as exc:
            errors += exc.messages
        if status == "AUTHORISED" and due is None and not (existing or {}).get("DueDate"):
            errors.append("Due Date must be specified for an approved invoice.")
        if errors:
            raise Invalid(*errors)
        if inv_type == "ACCREC" and number and existing is None:
            claims[("inv", number)] = True

        def apply() -> dict:
            if existing is None:
                rec: dict[str, Any] = {
                    "Type": inv_type, "InvoiceID": new_id(), "Reference": "",
                    "Payments": [], "Prepayments": [], "Overpayments": [], "CreditNotes": [],
                    "AmountPaid": 0.0, "AmountCredited": 0.0, "CurrencyRate": 1.0, "SentToContact": False,
                    "IsDiscounted": False, "HasAttachments": False, "HasErrors": False,
                }
                rec.update(render_date(date or today(), "Date"))
                inv_number = number
                if inv_type == "ACCREC" and not inv_number:
                    self.seq += 1
                    inv_number = f"INV-{self.seq:04d}"
                    while inv_number in self.by_number:
                        self.seq += 1
                        inv_number = f"INV-{self.seq:04d}"
                rec["InvoiceNumber"] = inv_number or ""
                if inv_type == "ACCREC":
                    self.by_number[inv_number] = rec["InvoiceID"]
            else:
                rec = existing
                if date is not None:
                    rec.update(render_date(date, "Date"))
            for f in TEXT_FIELDS_INVOICE:
                if item.get(f) is not None:
                    rec[f] = item[f]
            if contact is not None:
                rec["Contact"] = contact_ref(contact)
                if inv_type == "ACCREC":
                    contact["IsCustomer"] = True
                else:
                    contact["IsSupplier"] = True
            if due is not None:
                rec.update(render_date(due, "DueDate"))
            if lines is not None:
                rec["LineItems"] = lines
                rec.update(totals)
                rec["AmountDue"] = totals["Total"]
            rec.update(Status=status, CurrencyCode=code, LineAmountTypes=INVOICE_LINE_TYPES[lat],
                       StatusAttributeString="OK")
            if status in ("VOIDED", "DELETED"):
                rec["AmountDue"] = 0.0
            return self._store(rec)

        return apply


def filter_invoices(records: list[dict], params: Any) -> list[dict]:
    """GET /Invoices' documented filters (getInvoices): ``IDs``, ``InvoiceNumbers`` and ``ContactIDs``,
    each a comma-separated list (``style: form, explode: false``; ids are uuids). A malformed uuid
    raises Invalid (Xero answers 400)."""
    def values(name: str) -> list[str]:
        return [p.strip() for v in params.getlist(name) for p in v.split(",") if p.strip()]

    for name, read in (("IDs", lambda r: r.get("InvoiceID")),
                       ("ContactIDs", lambda r: (r.get("Contact") or {}).get("ContactID"))):
        wanted = values(name)
        if not wanted:
            continue
        try:
            ids = {str(uuid.UUID(v)) for v in wanted}
        except ValueError:
            raise Invalid(f"{name} must be a comma-separated list of uuids") from None
        records = [r for r in records if str(read(r) or "").lower() in ids]
    numbers = set(values("InvoiceNumbers"))
    if numbers:
        records = [r for r in records if r.get("InvoiceNumber") in numbers]
    return records
