"""Money: Decimal with an ISO 4217 currency, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

# Minor units per currency where they are not 2 (ISO 4217).
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
ISO_4217 = frozenset(
    "AED AUD BGN BHD BRL CAD CHF CLP CNY CZK DKK EUR GBP HKD HUF IDR ILS INR ISK JOD JPY KRW KWD MXN MYR "
    "NOK NZD OMR PHP PLN RON SAR SEK SGD THB TND TRY TWD USD VND ZAR".split()
)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("money amounts must not be floats; pass a string or Decimal")
    if isinstance(value, bool):
        raise ValueError("money amounts must be numbers")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


Amount = Annotated[Decimal, BeforeValidator(_to_decimal)]


def parse_amount(value: Any) -> Decimal:
    """A Decimal from a vendor's amount (vendors send strings or JSON numbers)."""
    if isinstance(value, float):
        # JSON numbers arrive as float from some parsers: go through repr, never binary arithmetic
        value = repr(value)
    return _to_decimal(value)


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Amount
    currency: str

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in ISO_4217:
            raise ValueError(f"unknown ISO 4217 currency {value!r}")
        return code

    def quantize(self) -> "Money":
        exp = Decimal(1).scaleb(-_MINOR_UNITS.get(self.currency, 2))
        return Money(amount=self.amount.quantize(exp, rounding=ROUND_HALF_EVEN), currency=self.currency)

    def __add__(self, other: "Money") -> "Money":
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.quantize().amount} {self.currency}"
