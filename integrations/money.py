"""Decimal amounts from platforms → integer minor units of their currency.

Platforms send money as decimal strings ("404.95") or, in places, JSON numbers (Shopify
refund `subtotal`). Numbers go through `str()` first so no binary float rounding leaks
in. The exponent comes from ISO 4217: JPY has none, USD two, KWD three.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from app.loyalty.events import InvalidPayload, minor_unit_exponent


def exponent(currency: str) -> int:
    """Digits after the decimal point in `currency` (2 unless ISO 4217 says otherwise)."""
    return minor_unit_exponent(currency)


def to_minor(amount: object, currency: str) -> int:
    """`"404.95", "USD"` → 40495; `"1500", "JPY"` → 1500; `"1.234", "KWD"` → 1234.

    Sub-minor digits (rare: some platforms print 4 decimals) round half up. Anything that
    is not a decimal amount raises `InvalidPayload`.
    """
    if amount is None or isinstance(amount, bool) or not isinstance(amount, (str, int, float, Decimal)):
        raise InvalidPayload(f"amount must be a decimal string, got {type(amount).__name__}")
    text = str(amount).strip()
    if text == "":
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidPayload(f"amount {text[:32]!r} is not a decimal number") from None
    if not value.is_finite():
        raise InvalidPayload("amount must be finite")
    scaled = (value * (Decimal(10) ** exponent(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def minor_to_decimal(minor: int, currency: str) -> str:
    """40495, "USD" → "404.95"; 1500, "JPY" → "1500": the decimal string platforms take."""
    digits = exponent(currency)
    return str(Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits)))
