"""Orders converge to the points their latest state is worth, with WooCommerce's real
orders a–f and Shopify's samples, whatever order or how often the events arrive."""

from datetime import UTC, datetime, timedelta

import pytest
from order_helpers import (
    converge,
    customer_by_platform_id,
    entry_count,
    order_points,
    shopify,
    snapshot,
    use_runtime,
    violations,
    woo,
)

from app.jobs.pending_jobs import post_due_pending
from app.loyalty import orders
from integrations.shopify.adapter import to_event as shopify_event
from integrations.woocommerce.adapter import to_event as woo_event


@pytest.fixture
def runtime_db(pg_db, settings):
    yield from use_runtime(pg_db, settings)

def woo_order(name):
    return woo_event("order.updated", woo(name))


def lines_of(body) -> int:
    """Merchandise after coupons, excluding tax, in cents, straight from the payload."""
    return sum(round(float(line["total"]) * 100) for line in body["line_items"])


def test_order_a_pending_then_processing_then_completed_earns_once(pg_db, factory):
    shop = factory.shop("woocommerce")
    pending = converge(pg_db, shop, woo_order("order-a-created-pending"))
    assert pending.target_points == 0 and pending.no_points_reason == "not paid"
    processing = woo("order-a-processing")
    expected = lines_of(processing) // 100  # 43.33 + 9.17 after the 10.00 coupon → 52
    assert converge(pg_db, shop, woo_event("order.updated", processing)).change == expected
    done = converge(pg_db, shop, woo_order("order-a-completed"))
    assert done.change == 0 and done.target_points == expected
    assert order_points(pg_db, shop, "21") == (expected, 0)
    jane = customer_by_platform_id(pg_db, shop, "2")
    assert jane.points_balance == expected
    assert jane.orders_count == 1
    assert jane.total_spent_minor == 6766
    assert snapshot(pg_db, shop, "21").discount_codes == ["loyalty-reward-jane-1000"]
    assert violations(pg_db, shop) == []


def test_duplicate_deliveries_post_nothing_new(pg_db, factory):
    shop = factory.shop("woocommerce")
    event = woo_order("order-a-completed")
    converge(pg_db, shop, event)
    before = entry_count(pg_db, shop)
    for _ in range(3):
        assert converge(pg_db, shop, event).change == 0
    assert entry_count(pg_db, shop) == before == 1


def test_order_b_partial_refund_reverses_proportionally(pg_db, factory):
    shop = factory.shop("woocommerce")
    created = woo("order-b-created-processing")
    converge(pg_db, shop, woo_event("order.updated", created))
    assert order_points(pg_db, shop, "19") == (75, 0)
    refunded = woo("order-b-after-partial-refund")
    # The refund (13.53 incl. tax) is split in proportion to the order's total.
    refund = round(-float(refunded["refunds"][0]["total"]) * 100)
    refund_lines = refund * lines_of(refunded) // round(float(refunded["total"]) * 100)
    expected = (lines_of(refunded) - refund_lines) // 100
    result = converge(pg_db, shop, woo_event("order.updated", refunded))
    assert result.target_points == expected == 63
    assert result.change == expected - 75
    assert order_points(pg_db, shop, "19") == (expected, 0)
    assert violations(pg_db, shop) == []


def test_order_c_full_refund_takes_everything_back(pg_db, factory):
    shop = factory.shop("woocommerce")
    converge(pg_db, shop, woo_order("order-c-completed"))
    assert order_points(pg_db, shop, "23") == (25, 0)
    result = converge(pg_db, shop, woo_order("order-c-after-full-refund"))
    assert result.target_points == 0 and result.no_points_reason == "fully refunded"
    assert order_points(pg_db, shop, "23") == (0, 0)
    assert customer_by_platform_id(pg_db, shop, "2").points_balance == 0
    assert violations(pg_db, shop) == []


def test_order_d_cancelled_earns_nothing(pg_db, factory):
    shop = factory.shop("woocommerce")
    converge(pg_db, shop, woo_order("order-d-created-pending"))
    result = converge(pg_db, shop, woo_order("order-d-cancelled"))
    assert result.target_points == 0 and result.no_points_reason == "cancelled"
    assert entry_count(pg_db, shop) == 0


def test_order_e_guest_earns_nothing_with_reason(pg_db, factory):
    shop = factory.shop("woocommerce")
    result = converge(pg_db, shop, woo_order("order-e-guest-completed"))
    assert result.target_points == 0 and result.no_points_reason == "guest order"
    assert snapshot(pg_db, shop, "26").customer_id is None
    assert entry_count(pg_db, shop) == 0


def test_order_f_in_another_currency_earns_nothing(pg_db, factory):
    shop = factory.shop("woocommerce")  # a USD store
    result = converge(pg_db, shop, woo_order("order-f-eur-completed"))
    assert result.no_points_reason == "currency differs from the shop currency"
    assert result.target_points == 0 and entry_count(pg_db, shop) == 0
    eur_shop = factory.shop("woocommerce", currency="EUR")
    assert converge(pg_db, eur_shop, woo_order("order-f-eur-completed")).target_points == 23


def test_unicode_customer_is_created_from_the_order(pg_db, factory):
    shop = factory.shop("woocommerce")
    converge(pg_db, shop, woo_order("order-unicode-created-processing"))
    zoe = customer_by_platform_id(pg_db, shop, "3")
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Müller-Ñúñez")
    assert zoe.points_balance == 25


def test_refund_state_first_then_the_older_created_event_is_stale(pg_db, factory):
    shop = factory.shop("woocommerce")
    converge(pg_db, shop, woo_order("order-b-after-partial-refund"))
    stale = converge(pg_db, shop, woo_order("order-b-created-processing"))
    assert stale.stale and stale.change == 0
    assert order_points(pg_db, shop, "19") == (63, 0)
    assert snapshot(pg_db, shop, "19").refunds[0]["platform_id"] == "22"


def test_cancellation_after_refund_takes_back_only_what_remains(pg_db, factory):
    shop = factory.shop("woocommerce")
    converge(pg_db, shop, woo_order("order-b-created-processing"))
    converge(pg_db, shop, woo_order("order-b-after-partial-refund"))
    cancelled = woo("order-b-after-partial-refund")
    cancelled["status"] = "cancelled"
    cancelled["date_modified_gmt"] = "2026-11-23T18:00:00"
    result = converge(pg_db, shop, woo_event("order.updated", cancelled))
    assert result.change == -63 and order_points(pg_db, shop, "19") == (0, 0)
    assert customer_by_platform_id(pg_db, shop, "2").points_balance == 0
    assert violations(pg_db, shop) == []


def test_deleted_order_takes_its_points_back(pg_db, factory):
    shop = factory.shop("woocommerce")
    converge(pg_db, shop, woo_order("order-unicode-created-processing"))
    with pg_db.transaction() as s:
        orders.apply_order_deleted(s, s.merge(shop), woo_event("order.deleted", {"id": 29}))
    assert order_points(pg_db, shop, "29") == (0, 0)
    assert snapshot(pg_db, shop, "29").no_points_reason == "deleted"


def test_pending_days_hold_points_until_post_due_pending(runtime_db, pg_db, factory):
    shop = factory.shop("woocommerce", program={"pending_days": 14})
    now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    converge(pg_db, shop, woo_order("order-b-created-processing"), now=now)
    assert order_points(pg_db, shop, "19") == (0, 75)
    assert post_due_pending(now=now + timedelta(days=13)) == 0
    # A partial refund during the hold voids pending points instead of overdrawing.
    converge(pg_db, shop, woo_order("order-b-after-partial-refund"), now=now + timedelta(days=1))
    assert order_points(pg_db, shop, "19") == (0, 63)
    assert post_due_pending(now=now + timedelta(days=14)) == 1
    assert post_due_pending(now=now + timedelta(days=15)) == 0
    assert order_points(pg_db, shop, "19") == (63, 0)
    jane = customer_by_platform_id(pg_db, shop, "2")
    assert (jane.points_balance, jane.pending_points) == (63, 0)
    assert violations(pg_db, shop) == []


def test_rate_is_frozen_at_first_award(pg_db, factory):
    shop = factory.shop("woocommerce", program={"points_per_unit": "2"})
    converge(pg_db, shop, woo_order("order-b-created-processing"))
    assert order_points(pg_db, shop, "19") == (150, 0)
    shop.program = {"points_per_unit": "10"}
    with pg_db.transaction() as s:
        s.merge(shop)
    result = converge(pg_db, shop, woo_order("order-b-after-partial-refund"))
    assert result.target_points == 127  # floor(63.98 × 2), not × 10
    assert snapshot(pg_db, shop, "19").earn_rate == 2


def test_shopify_sample_is_test_voided_and_cancelled_so_zero(pg_db, factory):
    shop = factory.shop("shopify")
    result = converge(pg_db, shop, shopify_event("orders/paid", shopify("orders_paid")))
    assert result.target_points == 0 and result.no_points_reason == "test order"
    snap = snapshot(pg_db, shop, "820982911946154508")
    assert {"test order", "cancelled", "not paid"} <= set(snap.computation["reasons"])


def paid_shopify_sample() -> dict:
    body = shopify("orders_updated")
    body.update(test=False, financial_status="paid", cancelled_at=None, cancel_reason=None)
    return body


def test_shopify_paid_variant_earns_on_lines_and_refund_takes_it_back(pg_db, factory):
    shop = factory.shop("shopify")
    body = paid_shopify_sample()
    # Five lines, no line discounts: 89.99 + 19.99 + 24.99 + 159.99 + 119.99 = 414.95 → 414.
    expected = sum(round(float(line["price"]) * 100) * line["quantity"] for line in body["line_items"]) // 100
    result = converge(pg_db, shop, shopify_event("orders/updated", body))
    assert result.target_points == expected == 414
    with pg_db.transaction() as s:
        refund = orders.apply_refund(s, s.merge(shop), shopify_event("refunds/create", shopify("refunds_create")))
    assert refund.target_points == 0 and refund.change == -414
    # The same refund inside a later orders/updated changes nothing more.
    body["refunds"] = [shopify("refunds_create")]
    body["updated_at"] = "2022-01-02T00:00:00-05:00"
    assert converge(pg_db, shop, shopify_event("orders/updated", body)).change == 0
    assert violations(pg_db, shop) == []


def test_shopify_refund_before_order(pg_db, factory):
    shop = factory.shop("shopify")
    with pg_db.transaction() as s:
        early = orders.apply_refund(s, s.merge(shop), shopify_event("refunds/create", shopify("refunds_create")))
    assert early.target_points == 0 and early.no_points_reason == "order not seen yet"
    result = converge(pg_db, shop, shopify_event("orders/paid", paid_shopify_sample()))
    assert result.target_points == 0 and result.no_points_reason == "fully refunded"
    assert entry_count(pg_db, shop) == 0


def test_shopify_gift_card_lines_never_earn(pg_db, factory):
    shop = factory.shop("shopify")
    body = paid_shopify_sample()
    for line in body["line_items"]:
        line["gift_card"] = True
    result = converge(pg_db, shop, shopify_event("orders/paid", body))
    assert result.target_points == 0 and result.no_points_reason == "gift cards only"
    body["line_items"][0]["gift_card"] = False  # 89.99 of merchandise
    body["updated_at"] = "2022-01-01T00:00:00-05:00"
    assert converge(pg_db, shop, shopify_event("orders/paid", body)).target_points == 89


def test_concurrent_first_events_create_one_snapshot(pg_db, factory):
    import threading

    shop = factory.shop("woocommerce")
    event = woo_order("order-b-created-processing")
    errors = []

    def run():
        try:
            converge(pg_db, shop, event)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert order_points(pg_db, shop, "19") == (75, 0)
    assert entry_count(pg_db, shop) == 1
    assert violations(pg_db, shop) == []
