"""Shopify Admin GraphQL orders → `OrderEvent`, computed exactly as the webhook adapter
(`integrations.shopify.adapter`) computes it from a REST payload, so a polled order and a
delivered one converge to the same target and reconciliation never moves points back and
forth. Money is always `shopMoney` (the shop's currency), never presentment money.

The list query keeps nested pages small so one page stays under Shopify's cost limit
(1,000 points per query). An order with more line items or refunds than fit is fetched
again on its own with `ORDER_QUERY` (see `needs_full_fetch`).
"""

from __future__ import annotations

from typing import Any

from app.loyalty.events import (
    CustomerInfo,
    InvalidPayload,
    OrderEvent,
    OrderLine,
    Refund,
    product_id_of,
)
from integrations._parse import parse_time, text
from integrations.money import to_minor
from integrations.shopify.adapter import PAID_STATUSES, shipping_fingerprint

LIST_LINE_ITEMS = 10
LIST_REFUNDS = 5
LIST_REFUND_LINES = 10
FULL_LINE_ITEMS = 100
FULL_REFUNDS = 20
FULL_REFUND_LINES = 40

_MONEY = "shopMoney { amount currencyCode }"

_ORDER_FIELDS = """
  id
  name
  createdAt
  processedAt
  updatedAt
  test
  cancelledAt
  displayFinancialStatus
  displayFulfillmentStatus
  currencyCode
  discountCodes
  customer { id email firstName lastName locale emailMarketingConsent { marketingState } }
  shippingAddress { address1 address2 zip countryCodeV2 }
  subtotalPriceSet { %(money)s }
  totalShippingPriceSet { %(money)s }
  totalTaxSet { %(money)s }
  totalPriceSet { %(money)s }
  lineItems(first: %(lines)d%(lines_after)s) {
    pageInfo { hasNextPage endCursor }
    nodes {
      isGiftCard
      quantity
      product { id }
      originalUnitPriceSet { %(money)s }
      discountAllocations { allocatedAmountSet { %(money)s } }
    }
  }
  refunds(first: %(refunds)d) {
    id
    createdAt
    refundLineItems(first: %(refund_lines)d) {
      pageInfo { hasNextPage }
      nodes {
        lineItem { isGiftCard }
        subtotalSet { %(money)s }
        totalTaxSet { %(money)s }
      }
    }
    refundShippingLines(first: 5) {
      nodes { subtotalAmountSet { %(money)s } }
    }
  }
"""


def _fields(lines: int, refunds: int, refund_lines: int, lines_after: str = "") -> str:
    return _ORDER_FIELDS % {
        "money": _MONEY, "lines": lines, "refunds": refunds, "refund_lines": refund_lines,
        "lines_after": lines_after,
    }


ORDERS_QUERY = (
    "query OrdersUpdatedSince($first: Int!, $cursor: String, $query: String!) {\n"
    "  orders(first: $first, after: $cursor, sortKey: UPDATED_AT, query: $query) {\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "    nodes {" + _fields(LIST_LINE_ITEMS, LIST_REFUNDS, LIST_REFUND_LINES) + "}\n"
    "  }\n"
    "}\n"
)

ORDER_QUERY = (
    "query OrderInFull($id: ID!, $linesCursor: String) {\n"
    "  order(id: $id) {" + _fields(FULL_LINE_ITEMS, FULL_REFUNDS, FULL_REFUND_LINES, ", after: $linesCursor") + "}\n"
    "}\n"
)


def updated_since_query(since_iso: str) -> str:
    """Shopify search syntax for "updated at or after": `updated_at:>='…'`."""
    return f"updated_at:>='{since_iso}'"


def needs_full_fetch(node: dict, *, refunds_limit: int = LIST_REFUNDS) -> bool:
    """True when the list query cut a nested list short, so the node cannot be trusted."""
    if (node.get("lineItems") or {}).get("pageInfo", {}).get("hasNextPage"):
        return True
    refunds = node.get("refunds") or []
    if len(refunds) >= refunds_limit:
        return True
    return any((r.get("refundLineItems") or {}).get("pageInfo", {}).get("hasNextPage") for r in refunds)


def legacy_id(gid: Any, what: str) -> str:
    """`gid://shopify/Order/820982911946154508` → `"820982911946154508"`: the numeric id the
    webhooks use, so both paths name the same order and customer."""
    if not isinstance(gid, str) or not gid:
        raise InvalidPayload(f"{what} is missing")
    tail = gid.rsplit("/", 1)[-1].split("?", 1)[0]
    if not tail.isdigit():
        raise InvalidPayload(f"{what} {gid[:60]!r} is not a Shopify global id")
    return tail


def order_event_from_node(node: dict, extra_line_nodes: list[dict] | None = None) -> OrderEvent:
    """The event for one `Order` node (plus any line items fetched on later pages)."""
    if not isinstance(node, dict):
        raise InvalidPayload("order node must be an object")
    order_id = legacy_id(node.get("id"), "order id")
    currency = _shop_currency(node)
    lines = gift_cards = 0
    product_lines = []
    line_nodes = list((node.get("lineItems") or {}).get("nodes") or []) + list(extra_line_nodes or [])
    for line in line_nodes:
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidPayload("line quantity must be a whole number")
        amount = _money(line.get("originalUnitPriceSet"), currency) * quantity
        amount -= sum(_money(a.get("allocatedAmountSet"), currency) for a in line.get("discountAllocations") or [])
        if line.get("isGiftCard") is True:
            gift_cards += amount
        else:
            lines += amount
            product = line.get("product")
            gid = product.get("id") if isinstance(product, dict) else None
            product_id = product_id_of(gid.rsplit("/", 1)[-1] if isinstance(gid, str) else None)
            product_lines.append(OrderLine(product_id=product_id, amount_minor=amount))
    financial_status = node.get("displayFinancialStatus")
    financial_status = financial_status.lower() if isinstance(financial_status, str) else None
    fulfillment = node.get("displayFulfillmentStatus")
    cancelled = node.get("cancelledAt") is not None
    customer = node.get("customer")
    return OrderEvent(
        platform_order_id=order_id,
        name=text(node.get("name"), 64),
        customer=_customer(customer) if isinstance(customer, dict) and customer.get("id") else None,
        updated_at=parse_time(node.get("updatedAt"), "updatedAt"),
        placed_at=parse_time(node.get("processedAt") or node.get("createdAt"), "createdAt"),
        currency=currency,
        paid=financial_status in PAID_STATUSES,
        cancelled=cancelled,
        test=node.get("test") is True,
        status="cancelled" if cancelled else (fulfillment.lower() if isinstance(fulfillment, str) else "open"),
        financial_status=financial_status,
        lines_minor=max(lines, 0),
        gift_card_minor=max(gift_cards, 0),
        shipping_minor=_money(node.get("totalShippingPriceSet"), currency),
        tax_minor=_money(node.get("totalTaxSet"), currency),
        total_minor=_money(node.get("totalPriceSet"), currency),
        refunds=tuple(_refund(r, currency) for r in node.get("refunds") or []),
        discount_codes=tuple(c for c in node.get("discountCodes") or [] if isinstance(c, str)),
        lines=tuple(product_lines),
        shipping_fingerprint=shipping_fingerprint(node.get("shippingAddress")),
    )


def _refund(refund: dict, currency: str) -> Refund:
    lines = tax = shipping = 0
    for item in (refund.get("refundLineItems") or {}).get("nodes") or []:
        tax += _money(item.get("totalTaxSet"), currency)
        if (item.get("lineItem") or {}).get("isGiftCard") is True:
            continue
        lines += _money(item.get("subtotalSet"), currency)
    for ship in (refund.get("refundShippingLines") or {}).get("nodes") or []:
        # As the webhook adapter does: refunded shipping without its tax.
        shipping += _money(ship.get("subtotalAmountSet"), currency)
    return Refund(
        platform_id=legacy_id(refund.get("id"), "refund id"),
        created_at=parse_time(refund.get("createdAt"), "refund createdAt"),
        lines_minor=max(lines, 0),
        shipping_minor=max(shipping, 0),
        tax_minor=max(tax, 0),
    )


def _customer(customer: dict) -> CustomerInfo:
    consent = customer.get("emailMarketingConsent")
    locale = customer.get("locale")
    return CustomerInfo(
        platform_id=legacy_id(customer.get("id"), "customer id"),
        email=text(customer.get("email"), 320),
        first_name=text(customer.get("firstName")),
        last_name=text(customer.get("lastName")),
        accepts_marketing=isinstance(consent, dict) and consent.get("marketingState") == "SUBSCRIBED",
        locale=locale[:16] if isinstance(locale, str) and locale else None,
    )


def _shop_currency(node: dict) -> str:
    for key in ("totalPriceSet", "subtotalPriceSet"):
        shop_money = (node.get(key) or {}).get("shopMoney") or {}
        if isinstance(shop_money.get("currencyCode"), str):
            return shop_money["currencyCode"].upper()
    currency = node.get("currencyCode")
    if isinstance(currency, str) and len(currency) == 3:
        return currency.upper()
    raise InvalidPayload("the order's currency is missing")


def _money(money_bag: Any, currency: str) -> int:
    if not isinstance(money_bag, dict):
        return 0
    shop_money = money_bag.get("shopMoney")
    if not isinstance(shop_money, dict) or shop_money.get("amount") is None:
        return 0
    return to_minor(shop_money["amount"], currency)
