"""How the console shows money: minor units in the currency's own number of decimals
(JPY none, KWD three, most two), with thousands separators and the ISO code."""

from __future__ import annotations

from decimal import Decimal

from app.loyalty.events import minor_unit_exponent


def money(minor: int | None, currency: str) -> str:
    if minor is None:
        return "–"
    exponent = minor_unit_exponent(currency)
    amount = Decimal(minor).scaleb(-exponent)
    return f"{amount:,.{exponent}f} {currency}"
