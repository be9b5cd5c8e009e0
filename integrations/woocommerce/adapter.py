"""WooCommerce webhook payloads (`wp_api_v3`, the `wc/v3` REST shape) → neutral events.

Decisions, documented in docs/earning.md:
- paid: status in {processing, completed, refunded}; pending, on-hold, failed,
  cancelled, checkout-draft and trash did not pay. `cancelled` is cancelled.
- merchandise (`lines_minor`): the sum of `line_items[].total` (after coupons, excluding
  tax). Fee lines are not merchandise and do not earn. WooCommerce core has no gift cards.
- refunds are only in the order's `refunds` array (`{"id","reason","total"}`, total
  negative and tax-inclusive, no line detail). Each refund is split over lines, shipping
  and tax in proportion to the order's own total (rounded down per part, the remainder is
  tax/fees), so a full refund returns exactly the order's parts. Reconciliation, which can
  read `/orders/{id}/refunds` with line detail, may pass exact parts instead.
- `currency` is the order's currency, which can differ from the store's (a EUR order in a
  USD store); the domain decides (such an order earns nothing).
- Guest orders (`customer_id` 0) have no customer.
- order.deleted (trash; body is only the id) → `OrderDeleted`; customer.deleted → a
  `CustomerRedact` of that customer (personal data erased, amounts kept).
"""

from __future__ import annotations

from typing import Any

from app.loyalty.events import (
    CustomerEvent,
    CustomerInfo,
    CustomerRedact,
    Event,
    InvalidPayload,
    OrderDeleted,
    OrderEvent,
    OrderLine,
    Refund,
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

PAID_STATUSES = frozenset({"processing", "completed", "refunded"})
ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})


def to_event(topic: str, payload: Any) -> Event | None:
    if topic in ORDER_TOPICS:
        return order_event(require_dict(payload))
    if topic == "order.deleted":
        return OrderDeleted(platform_order_id=require_id(require_dict(payload), "id", "order id"))
    if topic in ("customer.created", "customer.updated"):
        body = require_dict(payload)
        return CustomerEvent(
            customer=customer_info(body),
            updated_at=parse_time(body.get("date_modified_gmt"), "date_modified_gmt"),
            created=topic == "customer.created",
        )
    if topic == "customer.deleted":
        body = require_dict(payload)
        return CustomerRedact(platform_customer_id=require_id(body, "id", "customer id"), email=None)
    return None


def order_event(body: dict) -> OrderEvent:
    order_id = require_id(body, "id", "order id")
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise InvalidPayload("order currency is missing")
    currency = currency.upper()
    status = body.get("status")
    if not isinstance(status, str):
        raise InvalidPayload("order status is missing")
    product_lines = tuple(
        OrderLine(product_id=product_id_of(line.get("product_id")), amount_minor=to_minor(line.get("total"), currency))
        for line in items(body, "line_items")
    )
    lines = sum(line.amount_minor for line in product_lines)
    shipping = to_minor(body.get("shipping_total") or "0", currency)
    tax = to_minor(body.get("total_tax") or "0", currency)
    total = to_minor(body.get("total") or "0", currency)
    refunds = tuple(
        _refund(r, currency, lines=lines, shipping=shipping, tax=tax, total=total)
        for r in items(body, "refunds")
    )
    return OrderEvent(
        platform_order_id=order_id,
        name=f"#{body['number']}" if isinstance(body.get("number"), str) and body["number"] else f"#{order_id}",
        customer=_order_customer(body),
        updated_at=parse_time(body.get("date_modified_gmt"), "date_modified_gmt"),
        placed_at=parse_time(body.get("date_created_gmt"), "date_created_gmt"),
        currency=currency,
        paid=status in PAID_STATUSES,
        cancelled=status == "cancelled",
        test=False,
        status=status,
        financial_status="refunded" if status == "refunded" else ("paid" if status in PAID_STATUSES else None),
        lines_minor=max(lines, 0),
        gift_card_minor=0,
        shipping_minor=shipping,
        tax_minor=tax,
        total_minor=total,
        refunds=refunds,
        discount_codes=tuple(
            str(c["code"]) for c in items(body, "coupon_lines") if isinstance(c.get("code"), str)
        ),
        deleted=status == "trash",
        lines=product_lines,
        shipping_fingerprint=_shipping_fingerprint(body.get("shipping")),
    )


def _shipping_fingerprint(address: Any) -> str | None:
    if not isinstance(address, dict):
        return None
    return address_fingerprint(
        address.get("address_1"), address.get("address_2"), address.get("postcode"), address.get("country")
    )


def customer_info(body: dict) -> CustomerInfo:
    return CustomerInfo(
        platform_id=require_id(body, "id", "customer id"),
        email=text(body.get("email"), 320),
        first_name=text(body.get("first_name")),
        last_name=text(body.get("last_name")),
        accepts_marketing=False,  # WooCommerce core keeps no marketing consent
        birthday=parse_date(_meta(body, "birthday")),
        locale=None,
    )


def _order_customer(body: dict) -> CustomerInfo | None:
    customer_id = optional_id(body, "customer_id")
    if customer_id is None:
        return None
    billing = body.get("billing") if isinstance(body.get("billing"), dict) else {}
    return CustomerInfo(
        platform_id=customer_id,
        email=text(billing.get("email"), 320),
        first_name=text(billing.get("first_name")),
        last_name=text(billing.get("last_name")),
        accepts_marketing=False,
    )


def _refund(body: dict, currency: str, *, lines: int, shipping: int, tax: int, total: int) -> Refund:
    refund_id = require_id(body, "id", "refund id")
    amount = abs(to_minor(body.get("total"), currency))
    if total <= 0:
        return Refund(platform_id=refund_id, created_at=None, lines_minor=0, tax_minor=amount)
    amount = min(amount, total)
    lines_part = amount * lines // total
    shipping_part = amount * shipping // total
    tax_part = min(amount * tax // total + 0, tax)
    return Refund(
        platform_id=refund_id,
        created_at=parse_time(body.get("date_created_gmt"), "refund date") if body.get("date_created_gmt") else None,
        lines_minor=lines_part,
        shipping_minor=shipping_part,
        tax_minor=tax_part,
    )


def _meta(body: dict, key: str) -> Any:
    for entry in items(body, "meta_data"):
        if entry.get("key") == key:
            return entry.get("value")
    return None
