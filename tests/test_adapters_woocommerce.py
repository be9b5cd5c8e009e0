"""WooCommerce payloads (captured from a real store) → neutral events."""

import pytest
from order_helpers import woo

from app.loyalty.events import CustomerEvent, InvalidPayload, OrderDeleted
from integrations.woocommerce.adapter import to_event


@pytest.mark.parametrize("name,paid,cancelled", [
    ("order-a-created-pending", False, False),
    ("order-a-processing", True, False),
    ("order-a-completed", True, False),
    ("order-c-after-full-refund", True, False),
    ("order-d-cancelled", False, True),
    ("order-deleted-trash-draft", False, False),
])
def test_statuses(name, paid, cancelled):
    event = to_event("order.updated", woo(name))
    assert (event.paid, event.cancelled) == (paid, cancelled)


def test_amounts_after_coupon_excluding_tax_and_shipping():
    event = to_event("order.updated", woo("order-a-completed"))
    assert (event.lines_minor, event.shipping_minor, event.tax_minor, event.total_minor) == (5250, 1000, 516, 6766)
    assert event.discount_codes == ("loyalty-reward-jane-1000",)
    assert event.customer.platform_id == "2"


def test_refunds_split_in_proportion_and_full_refund_is_exact():
    partial = to_event("order.updated", woo("order-b-after-partial-refund")).refunds[0]
    assert partial.lines_minor + partial.shipping_minor + partial.tax_minor <= 1353
    assert partial.lines_minor == 1353 * 7500 // 9202
    full = to_event("order.updated", woo("order-c-after-full-refund"))
    assert full.refunds[0].lines_minor == full.lines_minor == 2500


def test_guest_eur_deleted_and_customers():
    assert to_event("order.updated", woo("order-e-guest-completed")).customer is None
    assert to_event("order.updated", woo("order-f-eur-completed")).currency == "EUR"
    assert to_event("order.deleted", {"id": 18}) == OrderDeleted("18")
    created = to_event("customer.created", woo("customer-create-unicode"))
    assert isinstance(created, CustomerEvent) and created.created
    assert created.customer.first_name == "Zoë"
    assert to_event("coupon.created", {"id": 14}) is None


@pytest.mark.parametrize("mutate", [
    lambda b: b.pop("id"),
    lambda b: b.update(status=None),
    lambda b: b.update(currency=7),
    lambda b: b.update(total="12,00"),
    lambda b: b.update(refunds=[{"total": "-1.00"}]),
])
def test_malformed_orders_raise_invalid_payload(mutate):
    body = woo("order-b-after-partial-refund")
    mutate(body)
    with pytest.raises(InvalidPayload):
        to_event("order.updated", body)
