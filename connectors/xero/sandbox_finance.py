"""Payments, credit notes and the aged receivables report for the Xero sandbox (repeating invoices:
:mod:`connectors.xero.sandbox_repeating`).

No HTTP here: each book's ``plan`` validates one element (raising :class:`Invalid` with Xero's
messages) and returns the closure that applies it, like the quote and invoice books.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from connectors.xero.sandbox_documents import INVOICE_LINE_TYPES, InvoiceBook, _contact, _Documents
from connectors.xero.sandbox_models import (
    CENT, EPOCH, Invalid, contact_ref, currency, dec, line_amount_types, ms_datetime, new_id, num, parse_date,
    price_lines, render_date, today,
)

OVERPAYMENT = "Payment amount exceeds the amount outstanding on this document"
PAYABLE_STATUSES = frozenset({"AUTHORISED"})
PAYMENT_TYPES = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT"}
CREDIT_TYPES = frozenset({"ACCRECCREDIT", "ACCPAYCREDIT"})
CREDIT_CREATE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})
# Xero's credit note status changes (a status may always be re-sent unchanged): DRAFT and SUBMITTED
# notes may be edited, authorised or deleted; an AUTHORISED note may only be VOIDED, and only while
# nothing is allocated against it; PAID, VOIDED and DELETED notes are final.
CREDIT_TRANSITIONS: dict[str, frozenset[str]] = {
    "DRAFT": frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"}),
    "SUBMITTED": frozenset({"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"}),
    "AUTHORISED": frozenset({"AUTHORISED", "VOIDED"}),
    "PAID": frozenset({"PAID"}),
    "VOIDED": frozenset(),
    "DELETED": frozenset(),
}
CREDIT_NOT_MODIFIABLE = "Credit Note not of valid status for modification"
CREDIT_ALLOCATED = "This Credit Note cannot be voided or edited because it has allocations or payments."


def _ms_date(d: date) -> str:
    return ms_datetime((d - EPOCH).days * 86_400_000)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year, month = d.year + month // 12, month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


# --- payments ---------------------------------------------------------------------------------------
class PaymentBook:
    """Payments applied to AUTHORISED invoices: AmountDue falls, AmountPaid rises, PAID when settled."""

    id_field = "PaymentID"

    def __init__(self, invoices: InvoiceBook) -> None:
        self.invoices = invoices
        self.records: dict[str, dict[str, Any]] = {}
        self.updated: dict[str, int] = {}

    def _invoice(self, item: dict) -> dict[str, Any]:
        ref = item.get("Invoice")
        inv = None
        if isinstance(ref, dict) and ref.get("InvoiceID"):
            inv = self.invoices.records.get(str(ref["InvoiceID"]))
            which = ref["InvoiceID"]
        else:
            number = (ref or {}).get("InvoiceNumber") if isinstance(ref, dict) else None
            number = number or item.get("InvoiceNumber")
            if not number:
                raise Invalid("You must specify either an InvoiceID or InvoiceNumber for the payment.")
            iid = self.invoices.by_number.get(str(number))
            inv = self.invoices.records.get(iid) if iid else None
            which = number
        if inv is None:
            raise Invalid(f"The invoice {which} could not be found.")
        return inv

    def plan(self, item: Any, claims: dict, path_id: str | None = None) -> Callable[[], dict]:
        if not isinstance(item, dict):
            raise Invalid("A payment must be an object.")
        errors: list[str] = []
        inv = amount = pay_date = None
        try:
            inv = self._invoice(item)
        except Invalid as exc:
            errors += exc.messages
        account = item.get("Account")
        if not isinstance(account, dict) or not (account.get("AccountID") or account.get("Code")):
            if not item.get("Code"):
                errors.append("You must specify either an AccountID or an Account Code for the payment.")
            account = {"Code": str(item["Code"])} if item.get("Code") else None
        try:
            if "Amount" not in item:
                raise Invalid("Amount is required.")
            amount = _money(dec(item["Amount"], "Amount"))
            if amount <= 0:
                raise Invalid("Payment amount must be greater than zero.")
        except Invalid as exc:
            errors += exc.messages
            amount = None
        try:
            pay_date = parse_date(item["Date"], "Date") if item.get("Date") else today()
        except Invalid as exc:
            errors += exc.messages
        if inv is not None:
            if inv["Status"] not in PAYABLE_STATUSES:
                errors.append("Payments can only be made against Authorised documents.")
            elif amount is not None:
                key = ("paid", inv["InvoiceID"])
                outstanding = _money(inv["AmountDue"]) - claims.get(key, Decimal(0))
                if amount > outstanding:
                    errors.append(OVERPAYMENT)
                else:
                    claims[key] = claims.get(key, Decimal(0)) + amount
        if errors:
            raise Invalid(*errors)
        assert inv is not None and amount is not None and pay_date is not None

        def apply() -> dict:
            pid = new_id()
            rate = float(item.get("CurrencyRate") or 1.0)
            reference = str(item.get("Reference") or "")
            due = _money(inv["AmountDue"]) - amount
            paid = _money(inv.get("AmountPaid") or 0) + amount
            inv["AmountDue"], inv["AmountPaid"] = num(due), num(paid)
            inv["Payments"] = [*inv.get("Payments", []), {
                "PaymentID": pid, "Date": _ms_date(pay_date), "Amount": num(amount), "Reference": reference,
                "CurrencyRate": rate, "HasAccount": False, "HasValidationErrors": False}]
            if due == 0:
                inv["Status"] = "PAID"
                inv["FullyPaidOnDate"] = _ms_date(pay_date)
            self.invoices._store(inv)
            acc = {k: account[k] for k in ("AccountID", "Code") if account.get(k)}
            rec = {
                "PaymentID": pid, "Date": _ms_date(pay_date), "BankAmount": num(amount), "Amount": num(amount),
                "Reference": reference, "CurrencyRate": rate, "PaymentType": PAYMENT_TYPES[inv["Type"]],
                "Status": "AUTHORISED", "IsReconciled": bool(item.get("IsReconciled", False)),
                "HasAccount": True, "HasValidationErrors": False, "StatusAttributeString": "OK",
                "Account": acc,
                "Invoice": {"Type": inv["Type"], "InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv["InvoiceNumber"],
                            "Contact": dict(inv["Contact"]), "CurrencyCode": inv["CurrencyCode"],
                            "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                            "IsDiscounted": False, "HasErrors": False, "LineItems": []},
            }
            ms = int(inv["UpdatedDateUTC"][6:-7])
            rec["UpdatedDateUTC"] = ms_datetime(ms)
            self.records[pid] = rec
            self.updated[pid] = ms
            return rec

        return apply


# --- credit notes -----------------------------------------------------------------------------------
class CreditNoteBook(_Documents):
    id_field, kind = "CreditNoteID", "credit note"

    def plan(self, item: Any, claims: dict, path_id: str | None = None) -> Callable[[], dict]:
        if not isinstance(item, dict):
            raise Invalid("A credit note must be an object.")
        existing = self._existing(item, path_id)
        if existing is not None:
            return self._plan_update(item, existing, claims)
        errors: list[str] = []
        cn_type = str(item.get("Type") or "")
        if cn_type not in CREDIT_TYPES:
            errors.append("Credit Note Type must be specified as ACCRECCREDIT or ACCPAYCREDIT." if not cn_type
                          else f"Credit Note Type '{cn_type}' is not supported.")
        contact = None
        try:
            contact = _contact(self.contacts, item.get("Contact"))
        except Invalid as exc:
            errors += exc.messages
        status = str(item.get("Status") or "DRAFT").upper()
        if status not in CREDIT_CREATE_STATUSES:
            errors.append(f"A new credit note must be DRAFT, SUBMITTED or AUTHORISED, not {status}.")
        number = str(item["CreditNoteNumber"]) if item.get("CreditNoteNumber") else None
        taken = {r.get("CreditNoteNumber") for r in self.records.values()}
        if number and (number in taken or claims.get(("cn", number))):
            errors.append("Credit Note # must be unique.")
        lines = totals = cn_date = None
        lat = "EXCLUSIVE"
        try:
            lat = line_amount_types(item.get("LineAmountTypes"), "EXCLUSIVE")
            lines, totals = price_lines(item.get("LineItems"), lat, required=status != "DRAFT")
            cn_date = parse_date(item["Date"], "Date") if item.get("Date") else today()
            code = currency(item.get("CurrencyCode"), (contact or {}).get("DefaultCurrency") or self.base_currency)
        except Invalid as exc:
            errors += exc.messages
        if errors:
            raise Invalid(*errors)
        if number:
            claims[("cn", number)] = True

        def apply() -> dict:
            cn_number = number
            if not cn_number:
                self.seq += 1
                cn_number = f"CN-{self.seq:04d}"
                while cn_number in taken:
                    self.seq += 1
                    cn_number = f"CN-{self.seq:04d}"
            rec: dict[str, Any] = {
                "Type": cn_type, "CreditNoteID": new_id(), "CreditNoteNumber": cn_number,
                "Reference": str(item.get("Reference") or ""), "Contact": contact_ref(contact),
                "Status": status, "LineAmountTypes": INVOICE_LINE_TYPES[lat], "LineItems": lines,
                **totals, "CurrencyCode": code, "CurrencyRate": 1.0, "RemainingCredit": totals["Total"],
                "Allocations": [], "Payments": [], "SentToContact": False, "HasAttachments": False,
                "HasErrors": False, "StatusAttributeString": "OK",
            }
            rec.update(render_date(cn_date, "Date"))
            return self._store(rec)

        return apply


    def _plan_update(self, item: dict, existing: dict, claims: dict) -> Callable[[], dict]:
        """POST /CreditNotes/{id} (or an element naming its CreditNoteID): Xero's status rules."""
        errors: list[str] = []
        old = existing["Status"]
        status = str(item.get("Status") or old).upper()
        allocated = bool(existing.get("Allocations") or existing.get("Payments")) or \
            _money(existing.get("RemainingCredit") or 0) != _money(existing.get("Total") or 0)
        if status not in CREDIT_TRANSITIONS:
            errors.append(f"Status '{item.get('Status')}' is not a valid credit note status.")
        elif status not in CREDIT_TRANSITIONS[old]:
            errors.append(CREDIT_NOT_MODIFIABLE)
        elif status == "VOIDED" and old != "VOIDED" and allocated:
            errors.append(CREDIT_ALLOCATED)
        if item.get("Type") and item["Type"] != existing["Type"]:
            errors.append("The Type of a credit note cannot be changed.")
        contact = None
        if item.get("Contact"):
            try:
                contact = _contact(self.contacts, item["Contact"])
            except Invalid as exc:
                errors += exc.messages
        number = str(item["CreditNoteNumber"]) if item.get("CreditNoteNumber") else None
        if number and number != existing.get("CreditNoteNumber"):
            taken = {r.get("CreditNoteNumber") for r in self.records.values()}
            if number in taken or claims.get(("cn", number)):
                errors.append("Credit Note # must be unique.")
        editing = "LineItems" in item or contact is not None or "LineAmountTypes" in item
        if editing and old == "AUTHORISED" and allocated:
            errors.append(CREDIT_ALLOCATED)
        lines = totals = cn_date = None
        lat = line_amount_types(None, existing["LineAmountTypes"])
        try:
            lat = line_amount_types(item.get("LineAmountTypes"), existing["LineAmountTypes"])
            if "LineItems" in item or "LineAmountTypes" in item:
                raw_lines = item["LineItems"] if "LineItems" in item else existing["LineItems"]
                lines, totals = price_lines(raw_lines, lat, required=status != "DRAFT")
            elif status != "DRAFT" and not existing["LineItems"] and status not in ("DELETED", "VOIDED"):
                raise Invalid("At least one line item is required.")
            cn_date = parse_date(item["Date"], "Date") if item.get("Date") else None
            code = currency(item.get("CurrencyCode"), existing["CurrencyCode"])
        except Invalid as exc:
            errors += exc.messages
        if errors:
            raise Invalid(*errors)
        if number:
            claims[("cn", number)] = True

        def apply() -> dict:
            rec = existing
            if number:
                rec["CreditNoteNumber"] = number
            for f in ("Reference", "BrandingThemeID", "SentToContact"):
                if item.get(f) is not None:
                    rec[f] = item[f]
            if contact is not None:
                rec["Contact"] = contact_ref(contact)
            if cn_date is not None:
                rec.update(render_date(cn_date, "Date"))
            if lines is not None:
                rec["LineItems"] = lines
                rec.update(totals)
                rec["RemainingCredit"] = totals["Total"]
            rec.update(Status=status, CurrencyCode=code, LineAmountTypes=INVOICE_LINE_TYPES[lat],
                       StatusAttributeString="OK")
            if status in ("VOIDED", "DELETED"):
                rec["RemainingCredit"] = 0.0
            return self._store(rec)

        return apply


# --- aged receivables by contact ----------------------------------------------------------------------
def _ms_to_date(ms_text: str) -> date:
    return EPOCH + timedelta(milliseconds=int(ms_text[6:].split("+")[0].rstrip(")/")))


def aged_receivables(invoices: InvoiceBook, contact: dict[str, Any], as_of: date, org_name: str) -> dict[str, Any]:
    """Xero's AgedReceivablesByContact report: one Row per outstanding ACCREC invoice, then a total."""
    header = {"RowType": "Header", "Cells": [{"Value": v} for v in
                                            ("Date", "Number", "Due Date", "", "Total", "Paid", "Credited", "Due")]}
    rows, sums = [], [Decimal(0)] * 4
    docs = sorted((r for r in invoices.records.values() if r["Type"] == "ACCREC"
                   and r.get("Contact", {}).get("ContactID") == contact["ContactID"]
                   and r["Status"] in ("AUTHORISED", "PAID")), key=lambda r: r["DateString"])
    for inv in docs:
        if _ms_to_date(inv["Date"]) > as_of or _money(inv["AmountDue"]) == 0:
            continue
        due_date = _ms_to_date(inv["DueDate"]) if inv.get("DueDate") else None
        overdue = (as_of - due_date).days if due_date else 0
        amounts = [_money(inv.get(k) or 0) for k in ("Total", "AmountPaid", "AmountCredited", "AmountDue")]
        sums = [a + b for a, b in zip(sums, amounts)]
        attrs = [{"Value": inv["InvoiceID"], "Id": "invoiceID"}]
        values = [inv["DateString"], inv["InvoiceNumber"], inv.get("DueDateString", ""),
                  f"{overdue} days overdue" if overdue > 0 else "", *(f"{a:.2f}" for a in amounts)]
        rows.append({"RowType": "Row", "Cells": [{"Value": v, "Attributes": attrs} for v in values]})
    summary = {"RowType": "SummaryRow", "Cells": [{"Value": "Total"}, {"Value": ""}, {"Value": ""}, {"Value": ""},
                                                   *({"Value": f"{s:.2f}"} for s in sums)]}
    report_date = f"{as_of.day} {as_of:%B %Y}"
    return {
        "ReportName": "Aged Receivables By Contact", "ReportType": "AgedReceivablesByContact",
        "ReportTitles": ["Invoices", contact["Name"], f"To {report_date}", f"Showing payments to {report_date}"],
        "ReportDate": report_date, "UpdatedDateUTC": ms_datetime((today() - EPOCH).days * 86_400_000),
        "Fields": [], "Rows": [header, {"RowType": "Section", "Title": "", "Rows": [*rows, summary]}],
    }


__all__ = ["OVERPAYMENT", "CreditNoteBook", "PaymentBook", "add_months", "aged_receivables"]
