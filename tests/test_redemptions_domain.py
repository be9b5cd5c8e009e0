"""The database side of redemption on real PostgreSQL: the debit and the pending row are
written together or not at all, replays debit once, and the reward's rules (price steps,
tiers, availability) are enforced before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redemption_helpers import (
    balance,
    count,
    entries,
    make_reward,
    redemption,
    redemptions_of,
    violations,
)

from app.loyalty import redemptions
from app.loyalty.errors import CustomerNotFound, IdempotencyConflict, InsufficientPoints
from app.loyalty.rewards import (
    InvalidRewardPoints,
    RewardNotFound,
    RewardUnavailable,
    affordable,
    price,
    redeemable_by,
)
from app.models import Customer, LedgerEntry, Redemption, Reward, Shop

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(factory):
    return factory.shop("shopify", currency="EUR")


@pytest.fixture
def shopper(factory, shop):
    customer = factory.customer(shop)
    factory.points(shop, customer, 250)
    return customer


def start(db, shop, customer, reward, key="k1", points=None, now=NOW):
    with db.transaction() as s:
        return redemptions.start_redemption(
            s, s.get(Shop, shop.id), customer.id, reward.id, key, points=points, now=now
        )


def test_start_debits_and_records_a_pending_redemption_with_its_code(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop, name="Ten euro off", value=1000, points_cost=200, code_valid_days=30)

    red = start(pg_db, shop, shopper, reward)

    stored = redemption(pg_db, red.id)
    assert stored.status == "pending"
    assert (stored.reward_name, stored.reward_kind, stored.value, stored.currency, stored.points_spent) == (
        "Ten euro off", "fixed_amount", 1000, "EUR", 200)
    assert stored.expires_at == NOW + timedelta(days=30)
    with pg_db.session() as s:
        assert stored.code == redemptions.derive_code(s.get(Shop, shop.id), red.id)
    assert stored.code.startswith("LL-") and len(stored.code) == 13
    debit = [e for e in entries(pg_db, shop) if e.kind == "redeem"]
    assert [(e.points, e.idempotency_key, e.redemption_id) for e in debit] == [
        (-200, f"redemption:{red.id}:debit", red.id)]
    assert stored.debit_entry_id == debit[0].id
    assert balance(pg_db, shopper) == 50
    assert violations(pg_db, shop) == []


def test_a_code_without_validity_days_never_expires(pg_db, shop, shopper):
    red = start(pg_db, shop, shopper, make_reward(pg_db, shop))
    assert redemption(pg_db, red.id).expires_at is None


def test_not_enough_points_writes_nothing(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop, points_cost=300)
    before = len(entries(pg_db, shop))

    with pytest.raises(InsufficientPoints) as err:
        start(pg_db, shop, shopper, reward)

    assert err.value.status == 422 and err.value.details["points_balance"] == 250
    assert redemptions_of(pg_db, shop) == []
    assert len(entries(pg_db, shop)) == before
    assert balance(pg_db, shopper) == 250


def test_replaying_the_key_returns_the_same_redemption_and_debits_once(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop)
    first = start(pg_db, shop, shopper, reward, key="double-click")

    again = start(pg_db, shop, shopper, reward, key="double-click")

    assert (again.id, again.code) == (first.id, first.code)
    assert count(pg_db, Redemption, shop) == 1
    assert balance(pg_db, shopper) == 150
    assert sum(1 for e in entries(pg_db, shop) if e.kind == "redeem") == 1


def test_a_replay_returns_the_redemption_in_its_current_state(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop)
    first = start(pg_db, shop, shopper, reward, key="k")
    with pg_db.transaction() as s:
        redemptions.fail_and_refund(s, shop.id, first.id, "DiscountRejected: nope")

    again = start(pg_db, shop, shopper, reward, key="k")

    assert again.id == first.id and again.status == "failed"
    assert balance(pg_db, shopper) == 250


def test_the_same_key_for_another_reward_is_a_conflict(pg_db, shop, shopper):
    start(pg_db, shop, shopper, make_reward(pg_db, shop), key="k")
    other = make_reward(pg_db, shop, name="Other")

    with pytest.raises(IdempotencyConflict) as err:
        start(pg_db, shop, shopper, other, key="k")

    assert err.value.status == 409
    assert count(pg_db, Redemption, shop) == 1 and balance(pg_db, shopper) == 150


def test_the_same_key_with_other_points_is_a_conflict(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop, kind="variable_amount", points_cost=50, value=100, min_points=50)
    start(pg_db, shop, shopper, reward, key="k", points=100)

    with pytest.raises(IdempotencyConflict):
        start(pg_db, shop, shopper, reward, key="k", points=150)
    assert start(pg_db, shop, shopper, reward, key="k", points=100).points_spent == 100
    assert balance(pg_db, shopper) == 150


def test_keys_are_per_customer(pg_db, factory, shop, shopper):
    reward = make_reward(pg_db, shop)
    other = factory.customer(shop)
    factory.points(shop, other, 100)

    a = start(pg_db, shop, shopper, reward, key="same")
    b = start(pg_db, shop, other, reward, key="same")

    assert a.id != b.id and a.code != b.code
    assert (balance(pg_db, shopper), balance(pg_db, other)) == (150, 0)


def test_variable_amount_buys_whole_steps(pg_db, shop, shopper):
    reward = make_reward(pg_db, shop, kind="variable_amount", points_cost=50, value=100,
                         min_points=100, max_points=200)

    red = start(pg_db, shop, shopper, reward, points=150)

    stored = redemption(pg_db, red.id)
    assert (stored.points_spent, stored.value, stored.reward_kind) == (150, 300, "variable_amount")
    assert balance(pg_db, shopper) == 100


@pytest.mark.parametrize(
    ("points", "expected"),
    [(100, (100, 200)), (150, (150, 300)), (200, (200, 400)),
     (50, None), (250, None), (125, None), (None, None), (0, None), (-100, None)],
)
def test_variable_amount_pricing(points, expected):
    reward = Reward(kind="variable_amount", points_cost=50, value=100, min_points=100, max_points=200)
    if expected is None:
        with pytest.raises(InvalidRewardPoints) as err:
            price(reward, points)
        assert err.value.status == 422
    else:
        assert price(reward, points) == expected


def test_variable_amount_without_bounds_starts_at_one_step():
    reward = Reward(kind="variable_amount", points_cost=40, value=25, min_points=None, max_points=None)
    assert price(reward, 40) == (40, 25)
    assert price(reward, 4000) == (4000, 2500)
    with pytest.raises(InvalidRewardPoints):
        price(reward, 20)


def test_a_fixed_reward_refuses_another_price():
    reward = Reward(kind="percentage", points_cost=300, value=15)
    assert price(reward) == (300, 15)
    assert price(reward, 300) == (300, 15)
    with pytest.raises(InvalidRewardPoints):
        price(reward, 200)


def test_tier_restricted_reward(pg_db, factory, shop):
    reward = make_reward(pg_db, shop, tiers=["gold"])
    silver = factory.customer(shop, tier="silver")
    gold = factory.customer(shop, tier="gold")
    for customer in (silver, gold):
        factory.points(shop, customer, 500)

    with pytest.raises(RewardUnavailable) as err:
        start(pg_db, shop, silver, reward)
    assert "tier" in err.value.message
    assert start(pg_db, shop, gold, reward).status == "pending"
    assert (balance(pg_db, silver), balance(pg_db, gold)) == (500, 400)


def test_redeemable_and_affordable():
    reward = Reward(kind="fixed_amount", points_cost=100, value=500, tiers=["vip"], active=True)
    vip = Customer(tier="vip", points_balance=100)
    poor_vip = Customer(tier="vip", points_balance=99)
    regular = Customer(tier=None, points_balance=1000)
    assert redeemable_by(reward, vip) == (True, None)
    assert affordable(reward, vip) and not affordable(reward, poor_vip)
    assert redeemable_by(reward, regular)[0] is False and not affordable(reward, regular)
    reward.active = False
    assert redeemable_by(reward, vip)[0] is False and not affordable(reward, vip)


def test_inactive_deleted_and_foreign_rewards_are_refused(pg_db, factory, shop, shopper):
    inactive = make_reward(pg_db, shop, active=False)
    deleted = make_reward(pg_db, shop, deleted_at=NOW)
    foreign = make_reward(pg_db, factory.shop("woocommerce"))

    with pytest.raises(RewardUnavailable) as err:
        start(pg_db, shop, shopper, inactive, key="a")
    assert err.value.status == 422
    for reward in (deleted, foreign):
        with pytest.raises(RewardNotFound) as err:
            start(pg_db, shop, shopper, reward, key="b")
        assert err.value.status == 404
    assert redemptions_of(pg_db, shop) == [] and balance(pg_db, shopper) == 250


def test_fail_and_refund_gives_the_points_back_once(pg_db, shop, shopper):
    red = start(pg_db, shop, shopper, make_reward(pg_db, shop))

    for _ in range(2):
        with pg_db.transaction() as s:
            redemptions.fail_and_refund(s, shop.id, red.id, "DiscountRejected: code too long")

    stored = redemption(pg_db, red.id)
    assert stored.status == "failed" and stored.failed_at is not None
    refunds = [e for e in entries(pg_db, shop) if e.idempotency_key == f"redemption:{red.id}:refund"]
    assert [(e.points, e.kind, e.reverses_entry_id) for e in refunds] == [(100, "redeem", stored.debit_entry_id)]
    assert stored.refund_entry_id == refunds[0].id
    assert balance(pg_db, shopper) == 250
    assert violations(pg_db, shop) == []


def test_an_issued_redemption_cannot_be_failed(pg_db, shop, shopper):
    red = start(pg_db, shop, shopper, make_reward(pg_db, shop))
    with pg_db.transaction() as s:
        redemptions.mark_issued(s, shop.id, red.id, "gid://shopify/DiscountCodeNode/1")
    with pg_db.transaction() as s:
        redemptions.fail_and_refund(s, shop.id, red.id, "late failure")

    assert redemption(pg_db, red.id).status == "issued"
    assert balance(pg_db, shopper) == 150


def test_derived_codes_are_stable_and_differ_per_redemption_and_shop(pg_db, factory, shop):
    other_shop = factory.shop("shopify")
    with pg_db.session() as s:
        mine, theirs = s.get(Shop, shop.id), s.get(Shop, other_shop.id)
        assert redemptions.derive_code(mine, 7) == redemptions.derive_code(mine, 7)
        codes = {redemptions.derive_code(mine, i) for i in range(1, 200)}
        assert len(codes) == 199
        assert redemptions.derive_code(mine, 7) != redemptions.derive_code(theirs, 7)


def test_another_shops_customer_is_not_found(pg_db, factory, shop):
    reward = make_reward(pg_db, shop)
    stranger = factory.customer(factory.shop("shopify"))
    with pytest.raises(CustomerNotFound) as err:
        start(pg_db, shop, stranger, reward)
    assert err.value.status == 404
    assert count(pg_db, LedgerEntry, shop) == 0
