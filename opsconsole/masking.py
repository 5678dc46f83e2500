"""Personal data masked out of payloads for operators without the ``pii`` role.

Masked: values under keys that hold personal data (emails, phone numbers, people's first and last
names, street-address lines), the ``name`` of a contact or person (a key under a contact, person or
people object), and email addresses written inside any other string. Kept: ids, amounts, codes,
dates, companies' names outside a contact, and the structure (so the payload still reads as JSON).
Pure standard library, used by the services (the console and the CLI get the masked payload).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "•••"
PII_ROLE = "pii"

_NORMAL = re.compile(r"[^a-z0-9]")
# key names (lower case, without separators) whose values are personal data
_PII_KEYS = {
    "email", "emailaddress", "emails", "workemail", "personalemail", "hsemail",
    "phone", "phonenumber", "phones", "mobile", "mobilephone", "mobilenumber", "fax", "faxnumber", "telephone",
    "firstname", "lastname", "givenname", "familyname", "surname", "middlename", "fullname", "contactname",
    "address", "address1", "address2", "address3", "address4", "addressline", "addressline1", "addressline2",
    "addressline3", "addressline4", "street", "streetaddress", "line1", "line2", "line3",
    "attentionto", "dateofbirth", "birthdate",
}
# a "name" under one of these is a person's name
_PERSON_CONTAINERS = ("contact", "person", "people", "user", "lead", "customer_contact", "recipient")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _norm(key: Any) -> str:
    return _NORMAL.sub("", str(key).lower())


def _is_pii_key(key: Any, in_person: bool) -> bool:
    k = _norm(key)
    if k in _PII_KEYS or k.startswith("addressline") or (k.startswith("phone") and k != "phonetype") or k.endswith("email"):
        return True
    return in_person and k in ("name", "displayname", "nickname")


def _is_person_container(key: Any) -> bool:
    k = str(key).lower()
    return any(word in k for word in _PERSON_CONTAINERS)


def mask_pii(data: Any, *, _in_person: bool = False) -> tuple[Any, int]:
    """``data`` with personal data replaced by :data:`MASK`; returns (masked copy, values masked).

    Args:
        data: a decoded JSON payload (dicts, lists, scalars); a JSON string is masked as text.
    """
    if isinstance(data, dict):
        out: dict = {}
        count = 0
        for key, value in data.items():
            if value not in (None, "", [], {}) and _is_pii_key(key, _in_person) and not isinstance(value, (dict, list)):
                out[key] = MASK
                count += 1
                continue
            if _is_pii_key(key, _in_person) and isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
                out[key] = [MASK for _ in value]
                count += len(value)
                continue
            masked, n = mask_pii(value, _in_person=_in_person or _is_person_container(key))
            out[key] = masked
            count += n
        return out, count
    if isinstance(data, list):
        items = [mask_pii(v, _in_person=_in_person) for v in data]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(data, str):
        masked, n = _EMAIL.subn(MASK, data)
        return masked, n
    return data, 0


class Masker:
    """Masks personal data out of payloads when ``on`` (the operator lacks the pii role), counting
    the values masked across every payload it is given (a run's steps and spans, an exception's)."""

    def __init__(self, on: bool) -> None:
        self.on, self.count = on, 0

    def __call__(self, payload: Any) -> Any:
        if not self.on or payload is None:
            return payload
        masked, n = mask_pii(payload)
        self.count += n
        return masked
