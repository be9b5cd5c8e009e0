"""Platform-neutral events: what the platform adapters (webhooks) and the reconciliation
poll hand to the domain. Amounts are integers in the minor units of the order's currency
(Shopify: `*_set.shop_money`, i.e. the shop's currency, never presentment money).

The adapters describe what the platform says; the domain (`app.loyalty.orders`) decides
what earns. These names are shared with reconciliation: keep them stable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# ISO 4217 currencies whose minor unit is not 2 (every other currency has 2 decimals).
_EXPONENTS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point in `currency`: JPY 0, USD 2, KWD 3."""
    return _EXPONENTS.get((currency or "").upper(), 2)


class InvalidPayload(ValueError):
    """A payload that can never be applied (missing ids, wrong types). Not retried."""


@dataclass(frozen=True)
class CustomerInfo:
    platform_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    accepts_marketing: bool
    birthday: date | None = None
    locale: str | None = None


@dataclass(frozen=True)
class Refund:
    """One refund of an order. `lines_minor` is the refunded merchandise after discounts,
    excluding tax and shipping; `shipping_minor` and `tax_minor` are the refunded shipping
    and tax. The domain decides which of the parts had earned (see `eligible_minor`)."""

    platform_id: str
    created_at: datetime | None
    lines_minor: int
    shipping_minor: int = 0
    tax_minor: int = 0

    def eligible_minor(self, *, exclude_shipping: bool, exclude_tax: bool) -> int:
        """The refunded amount that had earned points, under the given programme rules."""
        amount = self.lines_minor
        if not exclude_shipping:
            amount += self.shipping_minor
        if not exclude_tax:
            amount += self.tax_minor
        return max(amount, 0)


@dataclass(frozen=True)
class OrderLine:
    """One merchandise line (never a gift card): the platform product id and what the line
    earns on (price × quantity minus its discounts, excluding tax). Bonus events limited to
    some products use it (`app.loyalty.bonus_events`)."""

    product_id: str | None
    amount_minor: int


def product_id_of(value: Any) -> str | None:
    """A line's product id, leniently: a missing or odd id (a custom line, a deleted
    product) only means the line belongs to no product; it never rejects the order."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return value.strip()
    return None


def address_fingerprint(*parts: object) -> str | None:
    """A one-way hash of a postal address (street lines, postcode, country), normalised
    (case, spacing and punctuation ignored), so two accounts shipping to one address can be
    recognised without storing the address. None when the address has no street or code."""
    cleaned = [re.sub(r"[^0-9a-z]+", "", str(p).lower()) if isinstance(p, (str, int)) else "" for p in parts]
    if not any(cleaned[:-1]):  # nothing but a country
        return None
    return hashlib.sha256("|".join(cleaned).encode()).hexdigest()


@dataclass(frozen=True)
class OrderEvent:
    """The full current state of one order, as the platform reports it.

    `lines_minor`: merchandise after discounts, excluding tax, shipping and gift cards.
    `gift_card_minor`: gift-card lines (never earn). `paid`: the order was paid (a
    refunded order was paid too). `refunds`: every refund known so far (cumulative).
    `updated_at` orders events for the same order: an older one is stale.
    `lines`: the merchandise lines with their product ids (empty when the source does not
    list them). `shipping_fingerprint`: `address_fingerprint` of the shipping address.
    """

    platform_order_id: str
    name: str | None
    customer: CustomerInfo | None
    updated_at: datetime | None
    placed_at: datetime | None
    currency: str
    paid: bool
    cancelled: bool
    test: bool
    status: str
    financial_status: str | None
    lines_minor: int
    gift_card_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int
    refunds: tuple[Refund, ...] = ()
    discount_codes: tuple[str, ...] = ()
    deleted: bool = False
    lines: tuple[OrderLine, ...] = ()
    shipping_fingerprint: str | None = None


@dataclass(frozen=True)
class RefundEvent:
    """A refund on its own (Shopify refunds/create). The domain merges it into the order
    snapshot's known refunds; it never changes the rest of the order's state."""

    platform_order_id: str
    refund: Refund


@dataclass(frozen=True)
class OrderDeleted:
    """The order was deleted/trashed on the platform (WooCommerce order.deleted: body is
    only the id). Treated as cancelled: its points are taken back."""

    platform_order_id: str


@dataclass(frozen=True)
class CustomerEvent:
    customer: CustomerInfo
    updated_at: datetime | None
    deleted: bool = False
    created: bool = False  # customers/create, customer.created: the signup bonus applies


@dataclass(frozen=True)
class CustomerRedact:
    platform_customer_id: str | None
    email: str | None
    orders_to_redact: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ShopRedact:
    pass


@dataclass(frozen=True)
class AppUninstalled:
    pass


@dataclass(frozen=True)
class CustomerDataRequest:
    platform_customer_id: str | None
    email: str | None
    request_id: str | None


Event = (
    OrderEvent
    | RefundEvent
    | OrderDeleted
    | CustomerEvent
    | CustomerRedact
    | ShopRedact
    | AppUninstalled
    | CustomerDataRequest
)
