"""Shopify webhook payloads → platform-neutral events (`app.loyalty.events`).

Money is read from `*_set.shop_money` (the shop's currency), never presentment money.
Decisions, documented in docs/earning.md:
- paid: `financial_status` in {paid, partially_paid, partially_refunded, refunded}.
  `refunded` was paid (its refunds take the points back); pending/authorized/voided did
  not pay.
- merchandise (`lines_minor`): per non-gift-card line, price × quantity minus its
  discount allocations (or `total_discount` when there are none). An order-level
  `total_discounts` that no line carries (as in Shopify's documentation sample) is not
  subtracted: Shopify allocates real discounts to lines.
- refunds/create carries one refund: it becomes a `RefundEvent` that the domain merges
  into the order snapshot's refunds (no API re-fetch). orders/updated carries every refund
  in `refunds`, so both paths converge on the same set.
- Unknown topics return None (the delivery is ignored).
"""

from __future__ import annotations

from typing import Any

from app.loyalty.events import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerEvent,
    CustomerInfo,
    CustomerRedact,
    Event,
    InvalidPayload,
    OrderEvent,
    OrderLine,
    Refund,
    RefundEvent,
    ShopRedact,
    address_fingerprint,
    product_id_of,
)
from integrations._parse import (
    items,
    optional_id,
    parse_date,
    parse_time,
    require_dict,
    require_id,
    text,
)
from integrations.money import to_minor

ORDER_TOPICS = frozenset(
    {"orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
     "orders/partially_fulfilled", "orders/edited"}
)
PAID_STATUSES = frozenset({"paid", "partially_paid", "partially_refunded", "refunded"})


def to_event(topic: str, payload: Any) -> Event | None:
    """The event a delivery means, None for a topic we do not act on."""
    if topic in ORDER_TOPICS:
        return order_event(require_dict(payload))
    if topic == "refunds/create":
        body = require_dict(payload)
        order_id = require_id(body, "order_id", "refund order_id")
        currency = _currency_of(body)
        return RefundEvent(platform_order_id=order_id, refund=refund_of(body, currency))
    if topic in ("customers/create", "customers/update"):
        body = require_dict(payload)
        return CustomerEvent(
            customer=customer_info(body),
            updated_at=parse_time(body.get("updated_at"), "updated_at"),
            created=topic == "customers/create",
        )
    if topic == "customers/redact":
        body = require_dict(payload)
        customer = require_dict(body.get("customer"), "customer")
        orders = tuple(str(o) for o in body.get("orders_to_redact") or [] if isinstance(o, int))
        return CustomerRedact(
            platform_customer_id=optional_id(customer, "id"),
            email=text(customer.get("email"), 320),
            orders_to_redact=orders,
        )
    if topic == "customers/data_request":
        body = require_dict(payload)
        customer = require_dict(body.get("customer"), "customer")
        request = body.get("data_request") if isinstance(body.get("data_request"), dict) else {}
        return CustomerDataRequest(
            platform_customer_id=optional_id(customer, "id"),
            email=text(customer.get("email"), 320),
            request_id=str(request["id"]) if request.get("id") is not None else None,
        )
    if topic == "shop/redact":
        require_dict(payload)
        return ShopRedact()
    if topic == "app/uninstalled":
        return AppUninstalled()
    return None


def order_event(body: dict) -> OrderEvent:
    order_id = require_id(body, "id", "order id")
    currency = _currency_of(body)
    lines = gift_cards = 0
    product_lines = []
    for line in items(body, "line_items"):
        amount = _money(line, "price", currency) * _quantity(line) - _line_discount(line, currency)
        if line.get("gift_card") is True:
            gift_cards += amount
        else:
            lines += amount
            product_lines.append(OrderLine(product_id=product_id_of(line.get("product_id")), amount_minor=amount))
    customer = body.get("customer")
    financial_status = body.get("financial_status")
    if financial_status is not None and not isinstance(financial_status, str):
        raise InvalidPayload("financial_status must be a string")
    return OrderEvent(
        platform_order_id=order_id,
        name=text(body.get("name"), 64),
        customer=customer_info(customer, fallback_locale=body.get("customer_locale"))
        if isinstance(customer, dict) and customer.get("id")
        else None,
        updated_at=parse_time(body.get("updated_at"), "updated_at"),
        placed_at=parse_time(body.get("processed_at") or body.get("created_at"), "created_at"),
        currency=currency,
        paid=financial_status in PAID_STATUSES,
        cancelled=body.get("cancelled_at") is not None,
        test=body.get("test") is True,
        status="cancelled" if body.get("cancelled_at") else (body.get("fulfillment_status") or "open"),
        financial_status=financial_status,
        lines_minor=max(lines, 0),
        gift_card_minor=max(gift_cards, 0),
        shipping_minor=_money(body, "total_shipping_price", currency),
        tax_minor=_money(body, "total_tax", currency),
        total_minor=_money(body, "total_price", currency),
        refunds=tuple(refund_of(r, currency) for r in items(body, "refunds")),
        discount_codes=tuple(
            str(d["code"]) for d in items(body, "discount_codes") if isinstance(d.get("code"), str)
        ),
        lines=tuple(product_lines),
        shipping_fingerprint=shipping_fingerprint(body.get("shipping_address")),
    )


def shipping_fingerprint(address: Any) -> str | None:
    """The hashed shipping address (REST `shipping_address` or GraphQL `shippingAddress`)."""
    if not isinstance(address, dict):
        return None
    return address_fingerprint(
        address.get("address1"), address.get("address2"), address.get("zip"),
        address.get("country_code") or address.get("countryCodeV2") or address.get("country"),
    )


def refund_of(body: dict, currency: str) -> Refund:
    refund_id = require_id(body, "id", "refund id")
    lines = tax = shipping = 0
    for item in items(body, "refund_line_items"):
        line_item = item.get("line_item") if isinstance(item.get("line_item"), dict) else {}
        tax += _money(item, "total_tax", currency)
        if line_item.get("gift_card") is True:
            continue
        lines += _money(item, "subtotal", currency)
    for ship in items(body, "refund_shipping_lines"):
        shipping += _money(ship, "subtotal_amount", currency)
    for adjustment in items(body, "order_adjustments"):
        if adjustment.get("kind") == "shipping_refund":
            shipping += abs(_money(adjustment, "amount", currency))
            tax += abs(_money(adjustment, "tax_amount", currency))
    return Refund(
        platform_id=refund_id,
        created_at=parse_time(body.get("created_at"), "refund created_at"),
        lines_minor=max(lines, 0),
        shipping_minor=max(shipping, 0),
        tax_minor=max(tax, 0),
    )


def customer_info(body: dict, fallback_locale: Any = None) -> CustomerInfo:
    consent = body.get("email_marketing_consent")
    if isinstance(consent, dict):
        accepts = consent.get("state") == "subscribed"
    else:
        accepts = body.get("accepts_marketing") is True
    locale = body.get("locale") or fallback_locale
    return CustomerInfo(
        platform_id=require_id(body, "id", "customer id"),
        email=text(body.get("email"), 320),
        first_name=text(body.get("first_name")),
        last_name=text(body.get("last_name")),
        accepts_marketing=accepts,
        birthday=parse_date(body.get("birthday")),
        locale=locale[:16] if isinstance(locale, str) and locale else None,
    )


# -- money -------------------------------------------------------------------------------


def _currency_of(body: dict) -> str:
    for key in ("total_price_set", "subtotal_set"):
        shop_money = (body.get(key) or {}).get("shop_money") if isinstance(body.get(key), dict) else None
        if isinstance(shop_money, dict) and isinstance(shop_money.get("currency_code"), str):
            return shop_money["currency_code"].upper()
    currency = body.get("currency")
    if isinstance(currency, str) and len(currency) == 3:
        return currency.upper()
    for item in items(body, "refund_line_items"):
        shop_money = (item.get("subtotal_set") or {}).get("shop_money") or {}
        if isinstance(shop_money.get("currency_code"), str):
            return shop_money["currency_code"].upper()
    raise InvalidPayload("the order's currency is missing")


def _money(obj: dict, field: str, currency: str) -> int:
    """`field_set.shop_money.amount` when present, else the plain `field`."""
    money_set = obj.get(f"{field}_set")
    if isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict):
        return to_minor(money_set["shop_money"].get("amount"), currency)
    if obj.get(field) is None:
        return 0
    return to_minor(obj.get(field), currency)


def _quantity(line: dict) -> int:
    quantity = line.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise InvalidPayload("line quantity must be a whole number")
    return quantity


def _line_discount(line: dict, currency: str) -> int:
    allocations = items(line, "discount_allocations")
    if allocations:
        return sum(_money(a, "amount", currency) for a in allocations)
    return _money(line, "total_discount", currency)
