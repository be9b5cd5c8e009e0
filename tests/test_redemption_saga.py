"""The redemption saga end to end on PostgreSQL against the fake Shopify Admin API: points
become exactly one code, replays return it, and every failure leaves the shopper either
with their code or with their points — never with neither, never with both."""

from __future__ import annotations

import pytest
from redemption_helpers import balance, entries, make_reward, redemptions_of, violations
from redemption_platforms import shopify_store, woocommerce_store

from app.loyalty.errors import InsufficientPoints
from app.redemption_saga import RedemptionFailed, RedemptionProcessing, redeem


@pytest.fixture
def store(factory, settings, pg_db):
    store = shopify_store(factory, settings, pg_db)
    yield store
    store.admin.__exit__(None, None, None)


@pytest.fixture
def shopper(factory, store):
    customer = factory.customer(store.shop, platform_id="7001")
    factory.points(store.shop, customer, 300)
    return customer


def recover(admin) -> None:
    """The store is healthy again: drop the failures still queued on the fake."""
    admin._failures.clear()
    admin._slow.clear()


def do_redeem(pg_db, store, shopper, reward, key="key-1", timeout=5.0, **kw):
    return redeem(pg_db, store.settings, store.shop.id, shopper.id, reward.id, key,
                  client_factory=store.client_factory(timeout), **kw)


def test_points_become_one_code_on_the_store(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop, name="5 dollars off", value=500, points_cost=200)

    red = do_redeem(pg_db, store, shopper, reward)

    assert red.status == "issued" and red.issued_at is not None
    assert store.admin.codes() == [red.code]
    assert red.platform_discount_id.startswith("gid://shopify/DiscountCodeNode/")
    sent = store.admin.discount_input(red.code)
    assert sent["customerGets"]["value"]["discountAmount"]["amount"] in ("5.00", "5.0", 5.0, "5")
    assert balance(pg_db, shopper) == 100
    assert violations(pg_db, store.shop) == []


def test_a_variable_reward_creates_a_code_worth_the_chosen_steps(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop, kind="variable_amount", points_cost=100, value=250,
                         min_points=100, max_points=300)

    red = do_redeem(pg_db, store, shopper, reward, points=300)

    sent = store.admin.discount_input(red.code)
    assert sent["customerGets"]["value"]["discountAmount"]["amount"] in ("7.50", "7.5")
    assert balance(pg_db, shopper) == 0


def test_replaying_the_key_returns_the_same_code_and_debits_once(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop)
    first = do_redeem(pg_db, store, shopper, reward, key="click")

    again = do_redeem(pg_db, store, shopper, reward, key="click")

    assert (again.id, again.code, again.status) == (first.id, first.code, "issued")
    assert store.admin.codes() == [first.code]
    assert balance(pg_db, shopper) == 200
    assert sum(1 for e in entries(pg_db, store.shop) if e.kind == "redeem") == 1


def test_insufficient_points_write_nothing_and_call_no_platform(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop, points_cost=301)
    requests_before = len(store.admin.requests)

    with pytest.raises(InsufficientPoints):
        do_redeem(pg_db, store, shopper, reward)

    assert redemptions_of(pg_db, store.shop) == [] and balance(pg_db, shopper) == 300
    assert len(store.admin.requests) == requests_before


def test_a_refused_discount_gives_the_points_back(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop, points_cost=250)
    store.admin.reject_next()

    with pytest.raises(RedemptionFailed) as err:
        do_redeem(pg_db, store, shopper, reward, key="k")

    assert err.value.status == 422 and err.value.code == "redemption_failed"
    assert "250 points are back" in err.value.message
    (red,) = redemptions_of(pg_db, store.shop)
    assert red.status == "failed" and "DiscountRejected" in red.last_error
    assert balance(pg_db, shopper) == 300
    assert store.admin.codes() == []
    assert violations(pg_db, store.shop) == []

    # The same request again answers the same way and moves no points.
    count = len(entries(pg_db, store.shop))
    with pytest.raises(RedemptionFailed):
        do_redeem(pg_db, store, shopper, reward, key="k")
    assert len(entries(pg_db, store.shop)) == count and balance(pg_db, shopper) == 300


def test_revoked_credentials_give_the_points_back(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop)
    store.admin.access_token = "shpat_someone_else"

    with pytest.raises(RedemptionFailed):
        do_redeem(pg_db, store, shopper, reward)

    assert redemptions_of(pg_db, store.shop)[0].status == "failed"
    assert balance(pg_db, shopper) == 300
    assert violations(pg_db, store.shop) == []


def test_a_platform_outage_keeps_the_redemption_pending_and_a_replay_finishes_it(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop)
    store.admin.fail_next(times=50, status=503)

    with pytest.raises(RedemptionProcessing) as err:
        do_redeem(pg_db, store, shopper, reward, key="k")

    assert err.value.status == 503 and err.value.code == "redemption_processing"
    (red,) = redemptions_of(pg_db, store.shop)
    assert red.status == "pending" and red.attempts == 1
    assert balance(pg_db, shopper) == 200  # spent, and safe: the code or the points will come

    recover(store.admin)
    done = do_redeem(pg_db, store, shopper, reward, key="k")

    assert done.id == red.id and done.status == "issued" and store.admin.codes() == [red.code]
    assert balance(pg_db, shopper) == 200
    assert violations(pg_db, store.shop) == []


def test_a_timeout_after_the_code_was_created_still_issues_that_one_code(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop)
    # The store creates the code but answers after the client gave up; asking again finds
    # the code taken, which for our own derived code means done.
    store.admin.slow_next(times=1, seconds=1.5, create=True)

    red = do_redeem(pg_db, store, shopper, reward, key="k", timeout=0.5)

    assert red.status == "issued" and store.admin.codes() == [red.code]
    assert red.platform_discount_id == store.admin._find(red.code)["id"]
    assert balance(pg_db, shopper) == 200


def test_a_store_that_keeps_timing_out_is_finished_by_the_replay(pg_db, store, shopper):
    reward = make_reward(pg_db, store.shop)
    store.admin.slow_next(times=50, seconds=1.0, create=True)

    with pytest.raises(RedemptionProcessing):
        do_redeem(pg_db, store, shopper, reward, key="k", timeout=0.3)

    (red,) = redemptions_of(pg_db, store.shop)
    assert red.status == "pending" and store.admin.codes() == [red.code]
    recover(store.admin)

    done = do_redeem(pg_db, store, shopper, reward, key="k")

    assert done.status == "issued" and store.admin.codes() == [red.code]
    assert balance(pg_db, shopper) == 200
    assert violations(pg_db, store.shop) == []


# -- WooCommerce ---------------------------------------------------------------------------


@pytest.fixture
def woo(factory, settings, pg_db):
    store = woocommerce_store(factory, settings, pg_db)
    yield store
    store.store.__exit__(None, None, None)


@pytest.fixture
def woo_shopper(factory, woo):
    customer = factory.customer(woo.shop, platform_id="2", email="jane@example.test")
    factory.points(woo.shop, customer, 300)
    return customer


def woo_redeem(pg_db, woo, shopper, reward, key="key-1", timeout=5.0):
    return redeem(pg_db, woo.settings, woo.shop.id, shopper.id, reward.id, key,
                  client_factory=woo.client_factory(timeout))


def test_woocommerce_points_become_one_coupon_for_the_shopper(pg_db, woo, woo_shopper):
    reward = make_reward(pg_db, woo.shop, name="10% off", kind="percentage", value=10, points_cost=200)

    red = woo_redeem(pg_db, woo, woo_shopper, reward)
    again = woo_redeem(pg_db, woo, woo_shopper, reward)

    assert red.status == "issued" and again.code == red.code
    coupon = woo.store.coupon(red.code)
    assert woo.store.codes() == [red.code.lower()]
    assert coupon["discount_type"] == "percent" and coupon["email_restrictions"] == ["jane@example.test"]
    assert str(coupon["id"]) == red.platform_discount_id
    assert balance(pg_db, woo_shopper) == 100
    assert violations(pg_db, woo.shop) == []


def test_woocommerce_refusal_gives_the_points_back(pg_db, woo, woo_shopper):
    reward = make_reward(pg_db, woo.shop)
    woo.store.reject_next()

    with pytest.raises(RedemptionFailed):
        woo_redeem(pg_db, woo, woo_shopper, reward)

    assert woo.store.codes() == [] and balance(pg_db, woo_shopper) == 300
    assert redemptions_of(pg_db, woo.shop)[0].status == "failed"
    assert violations(pg_db, woo.shop) == []


def test_woocommerce_timeout_after_creating_the_coupon_issues_it_once(pg_db, woo, woo_shopper):
    reward = make_reward(pg_db, woo.shop)
    woo.store.slow_next(times=1, seconds=1.5, create=True)

    red = woo_redeem(pg_db, woo, woo_shopper, reward, timeout=0.5)

    assert red.status == "issued" and woo.store.codes() == [red.code.lower()]
    assert balance(pg_db, woo_shopper) == 200
