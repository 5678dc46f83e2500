"""The Xero sandbox's pure parts: dates, money, tax rates, line items, and the contacts book.

No HTTP here. Records are kept in the shape Xero returns them (money already rounded and rendered
as JSON numbers), so reads are a dict lookup. Every write validates the whole batch first and then
applies it, as Xero does with ``summarizeErrors=true`` (the default).
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

CENT = Decimal("0.01")
QTY = Decimal("0.0001")
EPOCH = date(1970, 1, 1)
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class Invalid(Exception):
    """One entity failed Xero's validation; ``messages`` become its ValidationErrors."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class Missing(Exception):
    """An id in the path is unknown: Xero answers 404."""


# --- ids -----------------------------------------------------------------------------------
_ids = random.Random()  # seeded from the OS; ids need to be unique, not secret


def new_id() -> str:
    """A random (version 4) UUID as Xero renders it. ``new_id()`` costs a getrandom call
    and a UUID object per id, and a write makes several ids (record, lines, envelope): under the
    bench that was a twelfth of the sandbox's CPU, on the cores the engine needs."""
    n = _ids.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --- dates ---------------------------------------------------------------------------------
def now_ms() -> int:
    return int(time.time() * 1000)


def ms_datetime(ms: int) -> str:
    """Xero's record timestamp form, e.g. ``/Date(1503348544227+0000)/``."""
    return f"/Date({ms}+0000)/"


def parse_date(value: Any, field: str) -> date:
    """A document date from ``YYYY-MM-DD``, an ISO date-time, or ``/Date(ms)/``."""
    if isinstance(value, str):
        text = value.strip()
        m = _MS_DATE.match(text)
        if m:
            return (datetime.fromtimestamp(int(m.group(1)) / 1000, UTC)).date()
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date() if "T" in text \
                else date.fromisoformat(text)
        except ValueError:
            pass
    raise Invalid(f"{field} is not a valid date. Use the format YYYY-MM-DD.")


def render_date(d: date, field: str) -> dict[str, str]:
    ms = (d - EPOCH).days * 86_400_000
    return {field: ms_datetime(ms), f"{field}String": f"{d.isoformat()}T00:00:00"}


def parse_modified_since(value: str | None) -> int | None:
    """Milliseconds from an If-Modified-Since header (ISO 8601 or an HTTP date); None if absent."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        import email.utils

        try:
            dt = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


# --- money and tax ----------------------------------------------------------------------------
def dec(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise Invalid(f"{field} must be a number.")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{field} must be a number.") from None
    if not d.is_finite():
        raise Invalid(f"{field} must be a number.")
    return d


def num(d: Decimal) -> float:
    """Render a rounded Decimal as Xero does (a JSON number; repr of the float is the decimal)."""
    return float(d)


TAX_RATES: dict[str, dict[str, Any]] = {
    "OUTPUT": {"Name": "15% GST on Income", "ReportTaxType": "OUTPUT", "Rate": Decimal("15"), "revenue": True},
    "INPUT": {"Name": "15% GST on Expenses", "ReportTaxType": "INPUT", "Rate": Decimal("15"), "revenue": False},
    "NONE": {"Name": "No GST", "ReportTaxType": "NONE", "Rate": Decimal("0"), "revenue": True},
    "EXEMPTOUTPUT": {"Name": "Zero Rated Income", "ReportTaxType": "EXEMPTOUTPUT", "Rate": Decimal("0"), "revenue": True},
    "GSTONIMPORTS": {"Name": "GST on Imports", "ReportTaxType": "GSTONIMPORTS", "Rate": Decimal("0"), "revenue": False},
}


def render_tax_rates() -> list[dict[str, Any]]:
    out = []
    for tax_type, t in TAX_RATES.items():
        rate = num(t["Rate"])
        out.append({
            "Name": t["Name"], "TaxType": tax_type, "ReportTaxType": t["ReportTaxType"],
            "CanApplyToAssets": True, "CanApplyToEquity": True, "CanApplyToExpenses": not t["revenue"] or tax_type == "NONE",
            "CanApplyToLiabilities": True, "CanApplyToRevenue": t["revenue"],
            "DisplayTaxRate": rate, "EffectiveRate": rate, "Status": "ACTIVE",
            "TaxComponents": [{"Name": "GST", "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}],
        })
    return out


LINE_FIELDS = ("ItemCode", "AccountCode", "TaxType", "Tracking")


def price_lines(raw: Any, line_amount_types: str, *, required: bool) -> tuple[list[dict], dict[str, float]]:
    """Validate and price line items; return (rendered lines, totals).

    ``line_amount_types`` is one of EXCLUSIVE / INCLUSIVE / NOTAX (upper case).
    """
    if raw in (None, []):
        if required:
            raise Invalid("At least one line item is required.")
        raw = []
    if not isinstance(raw, list):
        raise Invalid("LineItems must be a list.")
    lines, errors = [], []
    sub = tax_total = Decimal(0)
    for i, item in enumerate(raw, 1):
        try:
            if not isinstance(item, dict):
                raise Invalid(f"Line item {i} is not an object.")
            if not str(item.get("Description") or "").strip():
                raise Invalid("Description is required for each line item.")
            if "Quantity" not in item:
                raise Invalid("Quantity is required for each line item.")
            if "UnitAmount" not in item:
                raise Invalid("UnitAmount is required for each line item.")
            qty = dec(item["Quantity"], "Quantity").quantize(QTY, ROUND_HALF_UP)
            unit = dec(item["UnitAmount"], "UnitAmount").quantize(QTY, ROUND_HALF_UP)
            discount = dec(item["DiscountRate"], "DiscountRate") if item.get("DiscountRate") is not None else None
            amount = qty * unit
            if discount is not None:
                amount = amount * (Decimal(100) - discount) / Decimal(100)
            amount = amount.quantize(CENT, ROUND_HALF_UP)
            tax_type = item.get("TaxType")
            rate = Decimal(0)
            if tax_type:
                if tax_type not in TAX_RATES:
                    raise Invalid(f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction.")
                rate = TAX_RATES[tax_type]["Rate"]
            if line_amount_types == "NOTAX" or not rate:
                tax = Decimal(0)
            elif line_amount_types == "INCLUSIVE":
                tax = (amount * rate / (Decimal(100) + rate)).quantize(CENT, ROUND_HALF_UP)
            else:
                tax = (amount * rate / Decimal(100)).quantize(CENT, ROUND_HALF_UP)
        except Invalid as exc:
            errors.extend(exc.messages)
            continue
        line = {"LineItemID": str(item.get("LineItemID") or new_id()), "Description": str(item["Description"]),
                "UnitAmount": num(unit), "LineAmount": num(amount), "Quantity": num(qty), "TaxAmount": num(tax)}
        for f in LINE_FIELDS:
            if item.get(f) is not None:
                line[f] = item[f]
        line.setdefault("Tracking", [])
        if discount is not None:
            line["DiscountRate"] = num(discount)
        lines.append(line)
        tax_total += tax
        sub += amount - tax if line_amount_types == "INCLUSIVE" else amount
    if errors:
        raise Invalid(*errors)
    return lines, {"SubTotal": num(sub), "TotalTax": num(tax_total), "Total": num(sub + tax_total)}


def line_amount_types(value: Any, default: str = "EXCLUSIVE") -> str:
    text = str(value or default).upper()
    if text not in ("EXCLUSIVE", "INCLUSIVE", "NOTAX"):
        raise Invalid(f"LineAmountTypes '{value}' is not valid. Use Exclusive, Inclusive or NoTax.")
    return text


def currency(value: Any, default: str) -> str:
    code = str(value or default).upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise Invalid(f"The currency code '{value}' is not valid.")
    return code


# --- contacts -----------------------------------------------------------------------------------
CONTACT_FIELDS = (
    "ContactNumber", "AccountNumber", "Name", "FirstName", "LastName", "CompanyNumber", "EmailAddress",
    "ContactPersons", "BankAccountDetails", "TaxNumber", "AccountsReceivableTaxType", "AccountsPayableTaxType",
    "Addresses", "Phones", "IsSupplier", "IsCustomer", "DefaultCurrency", "SalesDefaultAccountCode",
    "PurchasesDefaultAccountCode", "PaymentTerms", "ContactStatus", "Website",
)
MAX_LEN = {"Name": 255, "FirstName": 255, "LastName": 255, "EmailAddress": 255, "ContactNumber": 50,
           "AccountNumber": 50, "TaxNumber": 50, "CompanyNumber": 50}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class ContactBook:
    """Contacts with Xero's rules: a unique name among ACTIVE contacts, matched by ContactID or ContactNumber."""

    id_field = "ContactID"

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, str] = {}
        self.by_number: dict[str, str] = {}
        self.updated: dict[str, int] = {}
        """ContactID -> last change in ms (for If-Modified-Since)."""

    def find(self, ref: Any) -> dict[str, Any] | None:
        """A contact from a document's Contact element (by ContactID, else ContactNumber, else Name)."""
        if not isinstance(ref, dict):
            return None
        if ref.get("ContactID"):
            return self.records.get(str(ref["ContactID"]))
        if ref.get("ContactNumber"):
            cid = self.by_number.get(str(ref["ContactNumber"]))
            return self.records.get(cid) if cid else None
        if ref.get("Name"):
            cid = self.by_name.get(name_key(str(ref["Name"])))
            return self.records.get(cid) if cid else None
        return None

    def plan(self, item: Any, claims: dict[str, str], path_id: str | None = None) -> Callable[[], dict]:
        """Validate one contact write (create, or update when it names an existing contact)."""
        if not isinstance(item, dict):
            raise Invalid("A contact must be an object.")
        cid = path_id or item.get("ContactID")
        existing = None
        if cid:
            existing = self.records.get(str(cid))
            if existing is None:
                if path_id:
                    raise Missing(path_id)
                raise Invalid(f"The contact with ContactID {cid} could not be found.")
        elif item.get("ContactNumber") and str(item["ContactNumber"]) in self.by_number:
            existing = self.records[self.by_number[str(item["ContactNumber"])]]
        errors = []
        name = item.get("Name", existing["Name"] if existing else None)
        if not isinstance(name, str) or not name.strip():
            errors.append("The contact name must be specified.")
        for field, limit in MAX_LEN.items():
            value = item.get(field)
            if isinstance(value, str) and len(value) > limit:
                errors.append(f"{field} must not exceed {limit} characters.")
        email = item.get("EmailAddress")
        if email and not _EMAIL.match(str(email)):
            errors.append("Email address must be valid.")
        status = item.get("ContactStatus", existing["ContactStatus"] if existing else "ACTIVE")
        if status not in ("ACTIVE", "ARCHIVED"):
            errors.append(f"ContactStatus '{status}' is not valid.")
        own_id = existing["ContactID"] if existing else None
        key = name_key(name) if isinstance(name, str) and name.strip() else None
        if key and status == "ACTIVE":
            holder = claims.get(key) or self.by_name.get(key)
            if holder is not None and holder != own_id:
                errors.append(f"The contact name {name.strip()} is already assigned to another contact. "
                              "The contact name must be unique across all active contacts.")
        number = item.get("ContactNumber")
        if number and self.by_number.get(str(number), own_id) != own_id:
            errors.append(f"The contact number {number} is already assigned to another contact.")
        if errors:
            raise Invalid(*errors)
        contact_id = own_id or new_id()
        if key and status == "ACTIVE":
            claims[key] = contact_id
        return lambda: self._apply(contact_id, existing, item, name.strip(), status)

    def _apply(self, cid: str, existing: dict | None, item: dict, name: str, status: str) -> dict:
        if existing is None:
            rec: dict[str, Any] = {
                "ContactID": cid, "ContactStatus": "ACTIVE", "Name": name, "EmailAddress": "",
                "BankAccountDetails": "",
                "Addresses": [{"AddressType": "STREET"}, {"AddressType": "POBOX"}],
                "Phones": [{"PhoneType": t} for t in ("DEFAULT", "DDI", "FAX", "MOBILE")],
                "ContactGroups": [], "ContactPersons": [], "IsSupplier": False, "IsCustomer": False,
                "HasAttachments": False, "HasValidationErrors": False,
            }
            self.records[cid] = rec
        else:
            rec = existing
            old_key = name_key(rec["Name"])
            if self.by_name.get(old_key) == cid:
                del self.by_name[old_key]
            if rec.get("ContactNumber") and self.by_number.get(rec["ContactNumber"]) == cid:
                del self.by_number[rec["ContactNumber"]]
        for field in CONTACT_FIELDS:
            if field in item and item[field] is not None:
                rec[field] = item[field]
        rec["Name"], rec["ContactStatus"] = name, status
        ms = now_ms()
        rec["UpdatedDateUTC"] = ms_datetime(ms)
        self.updated[cid] = ms
        if status == "ACTIVE":
            self.by_name[name_key(name)] = cid
        if rec.get("ContactNumber"):
            self.by_number[str(rec["ContactNumber"])] = cid
        return rec

    def mark_customer(self, cid: str) -> None:
        rec = self.records.get(cid)
        if rec is not None and not rec["IsCustomer"]:
            rec["IsCustomer"] = True


def contact_ref(rec: dict[str, Any]) -> dict[str, Any]:
    """The Contact element Xero embeds in quotes and invoices."""
    ref = {"ContactID": rec["ContactID"], "Name": rec["Name"], "EmailAddress": rec.get("EmailAddress", "")}
    if rec.get("ContactNumber"):
        ref["ContactNumber"] = rec["ContactNumber"]
    return ref


def today() -> date:
    return datetime.now(UTC).date()
