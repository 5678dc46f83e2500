"""Identity helpers: the normalised keys records are matched on (no I/O)."""

from __future__ import annotations

import re
import unicodedata

_LEGAL_SUFFIXES = {
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc", "plc",
    "gmbh", "ag", "sa", "sas", "bv", "nv", "pty", "oy", "ab", "as", "srl", "spa", "kk",
}


def normalise_name(name: str) -> str:
    """A legal name reduced to what identifies the company: 'ACME Corp.' -> 'acme'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", text)
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def normalise_tax_number(value: str) -> str:
    """A tax number without spaces, dots or dashes, upper case: 'gb 123.456' -> 'GB123456'."""
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()


def normalise_domain(value: str) -> str:
    value = (value or "").strip().lower()
    value = re.sub(r"^https?://", "", value).split("/")[0]
    return value[4:] if value.startswith("www.") else value
