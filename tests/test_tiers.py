"""VIP tiers: entry on an order, downgrade only in the nightly job after retention, the
three windows at their boundaries, the entry bonus once, the multiplier, live changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time
from order_helpers import use_runtime, violations
from sqlalchemy import select
from tier_helpers import (
    add_tier,
    bonus_entries,
    count_changes,
    customer,
    history,
    mail_of,
    order_event,
    place,
    stub_mail_sending,
)

from app.jobs import tier_jobs
from app.loyalty import tiers
from app.models import Shop
from app.models.tier import Tier

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def runtime_db(pg_db, settings, sent_mail):
    yield from use_runtime(pg_db, settings)


@pytest.fixture
def sent_mail(monkeypatch):
    """The mail job's ids, instead of rendering and sending (tested with the mail feature)."""
    return stub_mail_sending(monkeypatch)


@pytest.fixture
def shop(factory):
    return factory.shop("shopify", currency="USD")


@pytest.fixture
def shopper(factory, shop):
    return factory.customer(shop, platform_id="5001")


def nightly(shop, now, **kw):
    with freeze_time(now):
        return tier_jobs.recalculate_shop_tiers(shop.id, now=now, **kw)


def test_a_qualifying_order_enters_the_tier_at_once_with_its_bonus(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=90, bonus=50)
    add_tier(runtime_db, shop, "gold", 2, 1000, bonus=500)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 9_900, placed_at=T0), now=T0)
        assert customer(runtime_db, shopper.id).tier is None  # 99 points: not yet
        place(runtime_db, shop, order_event("2", shopper, 100, placed_at=T0), now=T0)

    after = customer(runtime_db, shopper.id)
    assert after.tier == "silver"
    assert after.tier_achieved_at == T0
    assert after.tier_retained_until == T0 + timedelta(days=90)
    assert after.points_balance == 100 + 50
    [change] = history(runtime_db, shopper.id)
    assert (change.from_tier, change.to_tier, change.reason, change.trigger) == (None, "silver", "qualified", "order")
    assert change.detail["qualifying_amounts"]["points_earned:lifetime"] == 100
    assert change.detail["to_threshold"]["value"] == 100
    assert violations(runtime_db, shop) == []


def test_replaying_the_order_records_nothing_twice(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, bonus=50)
    event = order_event("1", shopper, 20_000, placed_at=T0)
    with freeze_time(T0):
        place(runtime_db, shop, event, now=T0)
        place(runtime_db, shop, event, now=T0 + timedelta(minutes=5))
    assert len(history(runtime_db, shopper.id)) == 1
    assert [e.points for e in bonus_entries(runtime_db, shopper.id)] == [50]


def test_an_order_reaching_a_higher_tier_moves_up_at_once(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=365)
    add_tier(runtime_db, shop, "gold", 2, 300, retention_days=365)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0), now=T0)
        later = T0 + timedelta(days=3)
        place(runtime_db, shop, order_event("2", shopper, 20_000, placed_at=later), now=later)
    assert customer(runtime_db, shopper.id).tier == "gold"
    assert [(c.from_tier, c.to_tier) for c in history(runtime_db, shopper.id)] == [(None, "silver"), ("silver", "gold")]


def test_a_refund_never_downgrades_until_the_nightly_job_after_retention(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=30)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0), now=T0)
    refund_at = T0 + timedelta(days=2)
    with freeze_time(refund_at):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0, updated_at=refund_at,
                                            refunded_minor=15_000), now=refund_at)
    assert customer(runtime_db, shopper.id).tier == "silver"  # the order path only moves up

    nightly(shop, T0 + timedelta(days=29, hours=23))
    assert customer(runtime_db, shopper.id).tier == "silver"  # retention not over

    counts = nightly(shop, T0 + timedelta(days=30, hours=1))
    after = customer(runtime_db, shopper.id)
    assert after.tier is None and after.tier_retained_until is None
    assert counts["moved_down"] == 1
    last = history(runtime_db, shopper.id)[-1]
    assert (last.from_tier, last.to_tier, last.reason, last.trigger) == ("silver", None, "retention_ended", "recalculation")
    assert last.detail["qualifying_amounts"]["points_earned:lifetime"] == 0
    assert last.detail["from_threshold"]["value"] == 100


def test_still_qualifying_at_retention_end_keeps_the_tier_another_period(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=30)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0), now=T0)
    renewal = T0 + timedelta(days=31)
    counts = nightly(shop, renewal)
    after = customer(runtime_db, shopper.id)
    assert counts["renewed"] == 1
    assert after.tier == "silver"
    assert after.tier_achieved_at == T0
    assert after.tier_retained_until == renewal + timedelta(days=30)
    assert len(history(runtime_db, shopper.id)) == 1  # a renewal is not a move
    assert nightly(shop, renewal + timedelta(days=1))["planned"] == 0  # nothing to do until then


def test_downgrade_lands_on_the_best_tier_still_qualified_for(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=10, bonus=20)
    add_tier(runtime_db, shop, "gold", 2, 300, retention_days=10, bonus=70)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0), now=T0)
        place(runtime_db, shop, order_event("2", shopper, 20_000, placed_at=T0), now=T0)
        assert customer(runtime_db, shopper.id).tier == "gold"
        refund_at = T0 + timedelta(hours=1)
        place(runtime_db, shop, order_event("2", shopper, 20_000, placed_at=T0, updated_at=refund_at,
                                            refunded_minor=20_000), now=refund_at)
    night = T0 + timedelta(days=11)
    nightly(shop, night)
    after = customer(runtime_db, shopper.id)
    assert after.tier == "silver"
    assert after.tier_achieved_at == night and after.tier_retained_until == night + timedelta(days=10)
    # falling back into silver is not reaching it again: one silver bonus, one gold bonus
    assert sorted(e.points for e in bonus_entries(runtime_db, shopper.id)) == [20, 70]


def test_the_entry_bonus_is_given_once_per_tier_ever(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, bonus=50)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0), now=T0)
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0, updated_at=T0 + timedelta(hours=1),
                                            refunded_minor=15_000), now=T0 + timedelta(hours=1))
    nightly(shop, T0 + timedelta(days=1))
    assert customer(runtime_db, shopper.id).tier is None
    again = T0 + timedelta(days=2)
    with freeze_time(again):
        place(runtime_db, shop, order_event("2", shopper, 15_000, placed_at=again), now=again)
    assert customer(runtime_db, shopper.id).tier == "silver"
    assert [(c.from_tier, c.to_tier) for c in history(runtime_db, shopper.id)] == [
        (None, "silver"), ("silver", None), (None, "silver")]
    assert [e.points for e in bonus_entries(runtime_db, shopper.id)] == [50]
    assert violations(runtime_db, shop) == []


def test_the_bonus_does_not_count_towards_the_next_tier(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, bonus=1_000)
    add_tier(runtime_db, shop, "gold", 2, 1_000)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=T0), now=T0)
    after = customer(runtime_db, shopper.id)
    assert after.tier == "silver" and after.points_balance == 1_100


def test_calendar_year_counts_in_the_shop_time_zone(runtime_db, factory):
    shop = factory.shop("shopify", currency="USD")
    with runtime_db.transaction() as s:
        s.get(Shop, shop.id).timezone = "America/New_York"
    shopper = factory.customer(shop, platform_id="6001")
    add_tier(runtime_db, shop, "vip", 1, 10_000, kind="money_spent", window="calendar_year")
    # 03:00 UTC on 1 January is still 31 December in New York: last year's spending.
    new_years_eve = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    with freeze_time(new_years_eve):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=new_years_eve), now=new_years_eve)
    assert customer(runtime_db, shopper.id).tier == "vip"  # counted in 2025, evaluated in 2025 local

    first_morning = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)  # 01:00 on 1 January in New York
    with freeze_time(first_morning), runtime_db.session() as s:
        planned = tiers.evaluate_customer(s, s.get(Shop, shop.id), shopper.id, first_morning,
                                          allow_downgrade=True, trigger="recalculation")
    assert planned is not None and planned.detail["qualifying_amounts"]["money_spent:calendar_year"] == 0
    nightly(shop, first_morning)
    assert customer(runtime_db, shopper.id).tier is None
    with freeze_time(first_morning):
        place(runtime_db, shop, order_event("2", shopper, 10_000, placed_at=first_morning), now=first_morning)
    assert customer(runtime_db, shopper.id).tier == "vip"


def test_rolling_twelve_months_drops_an_order_a_year_later_to_the_minute(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "vip", 1, 100, window="rolling_12_months")
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=T0), now=T0)
    nightly(shop, datetime(2027, 3, 10, 11, 59, tzinfo=UTC))
    assert customer(runtime_db, shopper.id).tier == "vip"
    nightly(shop, datetime(2027, 3, 10, 12, 1, tzinfo=UTC))
    assert customer(runtime_db, shopper.id).tier is None
    assert history(runtime_db, shopper.id)[-1].detail["qualifying_amounts"]["points_earned:rolling_12_months"] == 0


def test_rolling_window_from_a_leap_day_starts_on_28_february(runtime_db, shop):
    leap_day = datetime(2028, 2, 29, 15, 0, tzinfo=UTC)
    assert tiers.window_start("rolling_12_months", shop, leap_day) == datetime(2027, 2, 28, 15, 0, tzinfo=UTC)
    assert tiers.window_start("calendar_year", shop, leap_day) == datetime(2028, 1, 1, tzinfo=UTC)


def test_a_refund_counts_against_the_year_the_order_was_placed(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "vip", 1, 100, window="calendar_year")
    placed = datetime(2025, 12, 20, tzinfo=UTC)
    with freeze_time(placed):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=placed), now=placed)
    refunded = datetime(2026, 1, 5, tzinfo=UTC)
    with freeze_time(refunded):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=placed, updated_at=refunded,
                                            refunded_minor=5_000), now=refunded)
        place(runtime_db, shop, order_event("2", shopper, 10_000, placed_at=refunded), now=refunded)
    # 2026: the new order's 100 points; last year's reversal does not eat into them
    assert customer(runtime_db, shopper.id).tier == "vip"


def test_money_spent_uses_the_paid_amount_net_of_refunds(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "big", 1, 50_000, kind="money_spent")
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 60_000, placed_at=T0, refunded_minor=20_000), now=T0)
        assert customer(runtime_db, shopper.id).tier is None  # 400.00 net
        place(runtime_db, shop, order_event("2", shopper, 10_000, placed_at=T0), now=T0)
        place(runtime_db, shop, order_event("3", shopper, 90_000, placed_at=T0, currency="EUR"), now=T0)
    assert customer(runtime_db, shopper.id).tier == "big"  # 500.00; the EUR order is not counted
    assert history(runtime_db, shopper.id)[0].detail["qualifying_amounts"]["money_spent:lifetime"] == 50_000


def test_multiplier_for_follows_the_current_active_tier(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "gold", 1, 100, multiplier="1.5")
    with runtime_db.session() as s:
        assert tiers.multiplier_for(s, s.get(Shop, shop.id), customer(runtime_db, shopper.id)) == Decimal(1)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=T0), now=T0)
    with runtime_db.transaction() as s:
        fresh = s.get(Shop, shop.id)
        assert tiers.multiplier_for(s, fresh, customer(runtime_db, shopper.id)) == Decimal("1.5")
        s.scalar(select(Tier).where(Tier.shop_id == shop.id, Tier.key == "gold")).active = False
    with runtime_db.session() as s:
        assert tiers.multiplier_for(s, s.get(Shop, shop.id), customer(runtime_db, shopper.id)) == Decimal(1)


def test_a_switched_off_tier_moves_its_members_whatever_the_retention(runtime_db, shop, shopper, factory):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=365)
    gold = add_tier(runtime_db, shop, "gold", 2, 200, retention_days=365)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 30_000, placed_at=T0), now=T0)
    with runtime_db.transaction() as s:
        s.get(Tier, gold.id).active = False
    nightly(shop, T0 + timedelta(days=1), trigger="settings_change")
    after = customer(runtime_db, shopper.id)
    assert after.tier == "silver"
    last = history(runtime_db, shopper.id)[-1]
    assert (last.from_tier, last.to_tier, last.reason, last.trigger) == ("gold", "silver", "tier_removed", "settings_change")


def test_recalculation_moves_many_shoppers_in_chunks_and_is_idempotent(runtime_db, shop, factory):
    add_tier(runtime_db, shop, "silver", 1, 100)
    shoppers = [factory.customer(shop, platform_id=str(7000 + i)) for i in range(7)]
    with freeze_time(T0 - timedelta(days=1)):
        for i, who in enumerate(shoppers):
            factory.points(shop, who, 60 + 20 * i, kind="earn_order")  # 60, 80, 100, ... 180
    counts = nightly(shop, T0, chunk=2)
    assert counts["entered"] == 5 and counts["planned"] == 5
    assert [customer(runtime_db, c.id).tier for c in shoppers] == [None, None] + ["silver"] * 5
    assert nightly(shop, T0 + timedelta(hours=1), chunk=2)["planned"] == 0
    assert count_changes(runtime_db, shop) == 5


def test_cron_entry_fans_out_one_job_per_shop_with_tiers(runtime_db, shop, shopper, factory):
    other = factory.shop("shopify")
    other_shopper = factory.customer(other, platform_id="8001")
    factory.shop("shopify")  # no tiers: not queued
    add_tier(runtime_db, shop, "silver", 1, 10)
    add_tier(runtime_db, other, "silver", 1, 10)
    with freeze_time(T0 - timedelta(days=1)):
        factory.points(shop, shopper, 10, kind="earn_order")
        factory.points(other, other_shopper, 10, kind="earn_order")
    with freeze_time(T0):
        assert tier_jobs.recalculate_all_shops(now=T0) == {"queued": 2}  # run inline after commit
    assert customer(runtime_db, shopper.id).tier == "silver"
    assert customer(runtime_db, other_shopper.id).tier == "silver"


def test_a_concurrent_change_is_not_overwritten_by_a_stale_plan(runtime_db, shop, shopper):
    add_tier(runtime_db, shop, "silver", 1, 100, retention_days=10)
    add_tier(runtime_db, shop, "gold", 2, 200)
    with runtime_db.session() as s:
        fresh = s.get(Shop, shop.id)
        with freeze_time(T0):
            plans = list(tiers.plan_shop(s, fresh, T0))
    assert plans == []  # nothing yet
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 10_000, placed_at=T0), now=T0)
    with runtime_db.session() as s:
        [plan] = list(tiers.plan_shop(s, s.get(Shop, shop.id), T0 + timedelta(days=11)))
    assert plan.reason == "retained"
    # meanwhile an order moves the shopper to gold; the stale plan must not undo it
    with freeze_time(T0):
        place(runtime_db, shop, order_event("2", shopper, 10_000, placed_at=T0), now=T0)
    with runtime_db.transaction() as s:
        assert tiers.apply_chunk(s, s.get(Shop, shop.id), [plan], {}, T0 + timedelta(days=11)) == []
        assert tiers.apply_planned(s, s.get(Shop, shop.id), plan, {}, T0 + timedelta(days=11)) is None
    assert customer(runtime_db, shopper.id).tier == "gold"


def test_reaching_a_tier_queues_one_tier_reached_mail(runtime_db, shop, shopper, sent_mail):
    add_tier(runtime_db, shop, "silver", 1, 100, bonus=25, name="Silver Club", retention_days=5)
    event = order_event("1", shopper, 15_000, placed_at=T0)
    with freeze_time(T0):
        place(runtime_db, shop, event, now=T0)
        place(runtime_db, shop, event, now=T0)
    [mail] = mail_of(runtime_db, shopper.id)
    assert mail.event_key == "tier:silver:2026-03-10"
    assert mail.context["tier_name"] == "Silver Club" and mail.context["bonus_points"] == 25
    assert sent_mail.count(mail.id) == 1
    nightly(shop, T0 + timedelta(days=6))  # a renewal is not a new arrival
    assert len(mail_of(runtime_db, shopper.id)) == 1


def test_tier_reached_mail_respects_the_shop_switch(runtime_db, shop, shopper):
    with runtime_db.transaction() as s:
        s.get(Shop, shop.id).program = {"lifecycle_mail": {"tier_reached": False}}
    add_tier(runtime_db, shop, "silver", 1, 100)
    with freeze_time(T0):
        place(runtime_db, shop, order_event("1", shopper, 15_000, placed_at=T0), now=T0)
    assert customer(runtime_db, shopper.id).tier == "silver"
    assert mail_of(runtime_db, shopper.id) == []
