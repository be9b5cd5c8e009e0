"""Shopify payloads → neutral events, checked against Shopify's own samples."""

import pytest
from order_helpers import shopify

from app.loyalty.events import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerRedact,
    InvalidPayload,
    OrderEvent,
    RefundEvent,
    ShopRedact,
)
from integrations.money import to_minor
from integrations.shopify.adapter import to_event


def test_money_uses_the_currency_exponent():
    assert to_minor("404.95", "USD") == 40495
    assert to_minor("1500", "JPY") == 1500
    assert to_minor("1.234", "KWD") == 1234
    assert to_minor(89.99, "USD") == 8999
    with pytest.raises(InvalidPayload):
        to_minor("abc", "USD")
    with pytest.raises(InvalidPayload):
        to_minor(None, "USD")


def test_order_sample_is_voided_cancelled_test():
    event = to_event("orders/paid", shopify("orders_paid"))
    assert isinstance(event, OrderEvent)
    assert event.platform_order_id == "820982911946154508"  # exact, above 2^53
    assert (event.paid, event.cancelled, event.test) == (False, True, True)
    assert (event.lines_minor, event.shipping_minor, event.tax_minor, event.total_minor) == (41495, 1000, 0, 40495)
    assert event.customer.platform_id == "115310627314723954"
    assert event.customer.email == "john@example.com"


def test_paid_statuses_and_presentment_money_ignored():
    body = shopify("orders_updated")
    line = body["line_items"][0]
    line["price_set"]["presentment_money"]["amount"] = "999.00"
    for status, paid in [("paid", True), ("partially_paid", True), ("partially_refunded", True),
                         ("refunded", True),
                         ("pending", False), ("authorized", False), ("voided", False)]:
        body["financial_status"] = status
        assert to_event("orders/updated", body).paid is paid
    assert to_event("orders/updated", body).lines_minor == 41495


def test_discount_allocations_and_gift_cards():
    body = shopify("orders_updated")
    body["line_items"][0]["discount_allocations"] = [
        {"amount_set": {"shop_money": {"amount": "9.99", "currency_code": "USD"}}}
    ]
    body["line_items"][1]["gift_card"] = True
    event = to_event("orders/updated", body)
    assert event.lines_minor == 41495 - 999 - 1999
    assert event.gift_card_minor == 1999


def test_refund_sample_and_compliance_topics():
    refund = to_event("refunds/create", shopify("refunds_create"))
    assert isinstance(refund, RefundEvent) and refund.platform_order_id == "820982911946154508"
    assert (refund.refund.lines_minor, refund.refund.tax_minor) == (41495, 0)
    redact = to_event("customers/redact", shopify("customers_redact"))
    assert redact == CustomerRedact("191167", "john@example.com", ("299938", "280263", "220458"))
    request = to_event("customers/data_request", shopify("customers_data_request"))
    assert request == CustomerDataRequest("191167", "john@example.com", "9999")
    assert to_event("shop/redact", shopify("shop_redact")) == ShopRedact()
    assert to_event("app/uninstalled", shopify("app_uninstalled")) == AppUninstalled()
    assert to_event("products/create", {"id": 1}) is None


@pytest.mark.parametrize("mutate", [
    lambda b: b.pop("id"),
    lambda b: b.update(id="abc"),
    lambda b: b.update(line_items="nope"),
    lambda b: b.update(total_price_set=None, currency=None),
    lambda b: b.update(updated_at=12),
])
def test_malformed_orders_raise_invalid_payload(mutate):
    body = shopify("orders_updated")
    mutate(body)
    with pytest.raises(InvalidPayload):
        to_event("orders/updated", body)
