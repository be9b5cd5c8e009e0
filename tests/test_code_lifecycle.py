"""After a code is issued: an order using it makes the redemption `used`; an unused code
past its end becomes `expired` (points back only when the shop says so, and only once).
Real PostgreSQL; orders go through the same convergence path as webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from order_helpers import converge, woo
from redemption_helpers import balance, entries, make_reward, redemption, violations

from app.jobs.redemption_jobs import expire_unused_codes
from app.loyalty import redemptions
from app.loyalty.events import CustomerInfo, OrderEvent, Refund
from app.models import Shop
from app.runtime import init_runtime
from integrations.woocommerce.adapter import order_event as woo_order_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def issued_redemption(db, shop, customer, reward, key="k", now=NOW):
    with db.transaction() as s:
        red = redemptions.start_redemption(s, s.get(Shop, shop.id), customer.id, reward.id, key, now=now)
        redemptions.mark_issued(s, shop.id, red.id, f"discount-{red.id}", now=now)
    return redemption(db, red.id)


def shopify_order(order_id, customer, codes, *, updated_at, paid=True, cancelled=False, refunds=()):
    return OrderEvent(
        platform_order_id=str(order_id), name=f"#{order_id}",
        customer=CustomerInfo(platform_id=customer.platform_id, email=customer.email, first_name=None,
                              last_name=None, accepts_marketing=False),
        updated_at=updated_at, placed_at=NOW, currency="USD", paid=paid, cancelled=cancelled, test=False,
        status="cancelled" if cancelled else "paid", financial_status="paid", lines_minor=4000,
        gift_card_minor=0, shipping_minor=0, tax_minor=0, total_minor=4000, refunds=tuple(refunds),
        discount_codes=tuple(codes),
    )


@pytest.fixture
def shop(factory):
    return factory.shop("shopify")


@pytest.fixture
def shopper(factory, shop):
    customer = factory.customer(shop, platform_id="7001")
    factory.points(shop, customer, 500)
    return customer


def test_an_order_using_the_code_marks_the_redemption_used(pg_db, shop, shopper):
    red = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop, code_valid_days=30))

    converge(pg_db, shop, shopify_order(1, shopper, ["SUMMER10", red.code.lower()], updated_at=NOW), now=NOW)

    used = redemption(pg_db, red.id)
    assert (used.status, used.platform_order_id) == ("used", "1") and used.used_at is not None
    # The order still earns its points as usual: 40.00 → 40.
    assert balance(pg_db, shopper) == 500 - 100 + 40
    # A later state of the same order, or an expiry run, does not change it.
    converge(pg_db, shop, shopify_order(1, shopper, [red.code], updated_at=NOW + timedelta(minutes=1)))
    with pg_db.transaction() as s:
        assert redemptions.expire_unused(s, s.get(Shop, shop.id), NOW + timedelta(days=60)) == 0
    assert redemption(pg_db, red.id).status == "used"
    assert violations(pg_db, shop) == []


def test_another_shops_identical_code_is_not_touched(pg_db, factory, shop, shopper):
    red = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop))
    other = factory.shop("shopify")
    factory.customer(other, platform_id="7001")

    converge(pg_db, other, shopify_order(5, shopper, [red.code], updated_at=NOW))

    assert redemption(pg_db, red.id).status == "issued"


def test_a_refunded_order_keeps_the_code_used_and_the_points_spent(pg_db, shop, shopper):
    red = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop))
    converge(pg_db, shop, shopify_order(2, shopper, [red.code], updated_at=NOW))

    converge(pg_db, shop, shopify_order(2, shopper, [red.code], updated_at=NOW + timedelta(hours=1),
                                        refunds=[Refund("r1", NOW, 4000)]))

    assert redemption(pg_db, red.id).status == "used"
    assert balance(pg_db, shopper) == 400  # the order's 40 taken back, the reward's 100 stay spent


def test_with_the_setting_a_refunded_order_gives_the_reward_points_back_once(pg_db, factory):
    shop = factory.shop("shopify", program={"return_points_on_refunded_reward": True})
    shopper = factory.customer(shop, platform_id="7001")
    factory.points(shop, shopper, 500)
    red = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop))
    converge(pg_db, shop, shopify_order(3, shopper, [red.code], updated_at=NOW))
    assert balance(pg_db, shopper) == 440

    for minutes in (60, 61):  # the refund, then the same state again
        converge(pg_db, shop, shopify_order(3, shopper, [red.code], updated_at=NOW + timedelta(minutes=minutes),
                                            refunds=[Refund("r1", NOW, 4000)]))

    assert redemption(pg_db, red.id).status == "used"
    assert balance(pg_db, shopper) == 500
    back = [e for e in entries(pg_db, shop) if e.idempotency_key == f"redemption:{red.id}:order-refunded"]
    assert [(e.points, e.reverses_entry_id) for e in back] == [(100, red.debit_entry_id)]
    assert violations(pg_db, shop) == []


def test_a_woocommerce_order_with_our_lowercased_coupon_uses_the_code(pg_db, factory):
    shop = factory.shop("woocommerce")
    shopper = factory.customer(shop, platform_id="2")
    factory.points(shop, shopper, 500)
    red = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop))
    body = woo("order-a-completed")
    for line in body["coupon_lines"]:
        line["code"] = red.code.lower()  # WooCommerce stores coupon codes lowercased

    converge(pg_db, shop, woo_order_event(body))

    assert (redemption(pg_db, red.id).status, redemption(pg_db, red.id).platform_order_id) == ("used", str(body["id"]))


def test_a_cancelled_woocommerce_order_gives_the_code_back(pg_db, factory):
    shop = factory.shop("woocommerce")
    shopper = factory.customer(shop, platform_id="2")
    factory.points(shop, shopper, 500)
    red = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop))
    created, cancelled = woo("order-d-created-pending"), woo("order-d-cancelled")
    for body in (created, cancelled):
        for line in body["coupon_lines"]:
            line["code"] = red.code.lower()

    converge(pg_db, shop, woo_order_event(created))
    assert redemption(pg_db, red.id).status == "used"
    converge(pg_db, shop, woo_order_event(cancelled))

    back = redemption(pg_db, red.id)
    assert (back.status, back.platform_order_id, back.used_at) == ("issued", None, None)
    assert balance(pg_db, shopper) == 400


@pytest.mark.parametrize("give_back", [False, True])
def test_unused_codes_expire_and_the_setting_decides_about_the_points(pg_db, factory, settings, give_back):
    shop = factory.shop("shopify", program={"return_points_on_code_expiry": give_back})
    shopper = factory.customer(shop)
    factory.points(shop, shopper, 500)
    short = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop, code_valid_days=7), key="a")
    longer = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop, code_valid_days=30), key="b")
    forever = issued_redemption(pg_db, shop, shopper, make_reward(pg_db, shop), key="c")
    init_runtime(settings, db=pg_db)
    later = NOW + timedelta(days=8)

    assert expire_unused_codes(now=later) == 1
    assert expire_unused_codes(now=later + timedelta(hours=1)) == 0  # twice: credits once

    expired = redemption(pg_db, short.id)
    assert (expired.status, expired.expired_at) == ("expired", later)
    assert [redemption(pg_db, r.id).status for r in (longer, forever)] == ["issued", "issued"]
    credits = [e for e in entries(pg_db, shop) if e.idempotency_key == f"redemption:{short.id}:expired"]
    assert len(credits) == (1 if give_back else 0)
    assert balance(pg_db, shopper) == 200 + (100 if give_back else 0)
    assert violations(pg_db, shop) == []


def test_pending_and_failed_redemptions_never_expire(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop, code_valid_days=1)
    with pg_db.transaction() as s:
        pending = redemptions.start_redemption(s, s.get(Shop, shop.id), shopper.id, reward.id, "p", now=NOW)
        failed = redemptions.start_redemption(s, s.get(Shop, shop.id), shopper.id, reward.id, "f", now=NOW)
        redemptions.fail_and_refund(s, shop.id, failed.id, "refused")

    with pg_db.transaction() as s:
        assert redemptions.expire_unused(s, s.get(Shop, shop.id), NOW + timedelta(days=3)) == 0
    assert [redemption(pg_db, r.id).status for r in (pending, failed)] == ["pending", "failed"]
