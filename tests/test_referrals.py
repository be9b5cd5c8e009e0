"""Referrals: claim rules (fraud cases), the referrer rewarded once after the referred
shopper's first paid order passes `pending_days`, never after a refund, at most
`referral_monthly_limit` a month; the welcome code for the referred shopper.
Real PostgreSQL; orders converge as webhooks do, then the referral hook runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from earning_helpers import (
    configure,
    customer,
    entries,
    no_violations,
    order_event,
    referral_of,
    utc,
)
from order_helpers import use_runtime
from sqlalchemy import select

from app.jobs import referral_hooks, referral_jobs
from app.jobs.pending_jobs import post_due_pending
from app.loyalty import orders, referrals
from app.loyalty.events import address_fingerprint
from app.models import Customer, Redemption, Shop

HOME = address_fingerprint("1 Main St", None, "94105", "US")
ELSEWHERE = address_fingerprint("9 Side Rd", "Flat 2", "10001", "US")
T0 = utc(2027, 3, 1, 12, 0)


@pytest.fixture
def runtime_db(pg_db, settings):
    yield from use_runtime(pg_db, settings)


@pytest.fixture
def shop(factory, runtime_db):
    return configure(runtime_db, factory.shop("woocommerce"), referral_points=500, pending_days=14)


def member(db, factory, shop, **kw):
    """A member with a stored referral code."""
    person = factory.customer(shop, **kw)
    with db.transaction() as s:
        row = s.get(Customer, person.id)
        referrals.ensure_code(s, s.get(Shop, shop.id), row)
    return customer(db, person.id)


def claim(db, shop, referred, code, now=T0):
    with db.transaction() as s:
        return referrals.claim(s, s.get(Shop, shop.id), s.get(Customer, referred.id), code, now=now)


def refusal(db, shop, referred, code) -> str:
    with pytest.raises(referrals.ReferralRefused) as caught:
        claim(db, shop, referred, code)
    return caught.value.details["reason"]


def order(db, shop, who, order_id, *, now, refunds=(), cancelled=False, fingerprint=ELSEWHERE):
    """An order of `who` converges and the referral hook runs, in one transaction."""
    event = order_event(order_id, who.platform_id, placed_at=T0, updated_at=now, refunds=refunds,
                        cancelled=cancelled, shipping_fingerprint=fingerprint)
    with db.transaction() as s:
        fresh = s.get(Shop, shop.id)
        result = orders.converge_order(s, fresh, event, now=now)
        referral_hooks.on_order(s, fresh, result, now)
    return result


def referral_points(db, shop, who) -> list[int]:
    return [e.points for e in entries(db, shop, "earn_referral") if e.customer_id == who.id]


def settle(now):
    """The periodic jobs at `now`: pending order points post, due referrals are rewarded."""
    post_due_pending(now=now)
    return referral_jobs.reward_due_referrals(now=now)


def test_referrer_is_rewarded_once_after_the_first_paid_order_passes_pending_days(runtime_db, factory, shop):
    ann = member(runtime_db, factory, shop, email="ann@example.test")
    bob = factory.customer(shop, email="bob@example.test")
    assert claim(runtime_db, shop, bob, ann.referral_code.lower()).status == "claimed"
    assert claim(runtime_db, shop, bob, ann.referral_code).status == "claimed"  # same claim: no error

    order(runtime_db, shop, bob, "9001", now=T0)
    assert referral_of(runtime_db, shop, bob.id).status == "qualifying"
    assert settle(T0 + timedelta(days=13)) == 0
    assert referral_points(runtime_db, shop, ann) == []

    assert settle(T0 + timedelta(days=14, minutes=1)) == 1
    assert settle(T0 + timedelta(days=15)) == 0
    order(runtime_db, shop, bob, "9002", now=T0 + timedelta(days=20))  # a second order: nothing more
    settle(T0 + timedelta(days=40))
    assert referral_points(runtime_db, shop, ann) == [500]
    assert customer(runtime_db, ann.id).points_balance == 500
    assert referral_of(runtime_db, shop, bob.id).status == "rewarded"
    assert customer(runtime_db, bob.id).referred_by_customer_id == ann.id
    assert no_violations(runtime_db, shop)


def test_refund_before_the_pending_period_ends_means_no_reward(runtime_db, factory, shop):
    ann = member(runtime_db, factory, shop)
    bob = factory.customer(shop)
    claim(runtime_db, shop, bob, ann.referral_code)
    order(runtime_db, shop, bob, "9001", now=T0)
    order(runtime_db, shop, bob, "9001", now=T0 + timedelta(days=3), refunds=(10000,))
    settle(T0 + timedelta(days=30))
    # A later order does not reopen it.
    order(runtime_db, shop, bob, "9002", now=T0 + timedelta(days=31))
    settle(T0 + timedelta(days=60))
    assert referral_points(runtime_db, shop, ann) == []
    found = referral_of(runtime_db, shop, bob.id)
    assert (found.status, found.refusal_reason) == ("refused", "first_order_refunded")


def test_without_pending_days_the_reward_comes_with_the_order_and_is_mailed(runtime_db, factory):
    shop = configure(runtime_db, factory.shop("woocommerce"), referral_points=300, pending_days=0)
    ann = member(runtime_db, factory, shop, email="ann@example.test")
    bob = factory.customer(shop)
    claim(runtime_db, shop, bob, ann.referral_code)
    order(runtime_db, shop, bob, "9001", now=T0)
    order(runtime_db, shop, bob, "9001", now=T0 + timedelta(minutes=5))  # a duplicate delivery
    assert referral_points(runtime_db, shop, ann) == [300]
    from app.models.mail import MailMessage

    with runtime_db.session() as s:
        mails = s.scalars(select(MailMessage).where(MailMessage.shop_id == shop.id,
                                                    MailMessage.kind == "referral_reward")).all()
    assert [(m.customer_id, m.event_key) for m in mails] == [(ann.id, f"referral:{referral_of(runtime_db, shop, bob.id).id}")]


def test_self_referral_by_id_and_by_email_is_refused(runtime_db, factory, shop):
    ann = member(runtime_db, factory, shop, email="Ann.Smith+shop@gmail.com")
    assert refusal(runtime_db, shop, ann, ann.referral_code) == "self_referral"
    twin = factory.customer(shop, email="annsmith@googlemail.com")
    assert refusal(runtime_db, shop, twin, ann.referral_code) == "same_email"
    assert referral_of(runtime_db, shop, twin.id) is None


def test_self_referral_by_shipping_address_is_refused(runtime_db, factory, shop):
    ann = member(runtime_db, factory, shop)
    order(runtime_db, shop, ann, "8001", now=T0 - timedelta(days=60), fingerprint=HOME)
    bob = factory.customer(shop)
    claim(runtime_db, shop, bob, ann.referral_code)
    # The "friend's" first order ships to the referrer's address.
    order(runtime_db, shop, bob, "9001", now=T0, fingerprint=HOME)
    settle(T0 + timedelta(days=30))
    assert referral_points(runtime_db, shop, ann) == []
    found = referral_of(runtime_db, shop, bob.id)
    assert (found.status, found.refusal_reason) == ("refused", "same_address")


def test_existing_customer_and_already_referred_are_refused(runtime_db, factory, shop):
    ann = member(runtime_db, factory, shop)
    cy = member(runtime_db, factory, shop)
    regular = factory.customer(shop)
    order(runtime_db, shop, regular, "7001", now=T0 - timedelta(days=100))
    assert refusal(runtime_db, shop, regular, ann.referral_code) == "existing_customer"
    bob = factory.customer(shop)
    claim(runtime_db, shop, bob, ann.referral_code)
    assert refusal(runtime_db, shop, bob, cy.referral_code) == "already_referred"
    with pytest.raises(referrals.ReferralCodeNotFound):
        claim(runtime_db, shop, factory.customer(shop), "NOSUCHCD")


def test_monthly_limit_of_rewarded_referrals(runtime_db, factory):
    shop = configure(runtime_db, factory.shop("woocommerce"), timezone="America/New_York",
                     referral_points=100, pending_days=0, referral_monthly_limit=2)
    ann = member(runtime_db, factory, shop)
    friends = [factory.customer(shop) for _ in range(4)]
    for friend in friends:
        claim(runtime_db, shop, friend, ann.referral_code)
    for n, friend in enumerate(friends[:3]):
        order(runtime_db, shop, friend, f"90{n}", now=utc(2027, 3, 10 + n))
    # 03:00 UTC on April 1 is still March 31 in New York: March's limit applies.
    order(runtime_db, shop, friends[3], "904", now=utc(2027, 4, 1, 3, 0))
    assert referral_points(runtime_db, shop, ann) == [100, 100]
    assert [referral_of(runtime_db, shop, f.id).refusal_reason for f in friends] == [
        None, None, "monthly_limit", "monthly_limit"]
    late = factory.customer(shop)
    claim(runtime_db, shop, late, ann.referral_code)
    order(runtime_db, shop, late, "905", now=utc(2027, 4, 1, 5, 0))  # April in New York
    assert referral_points(runtime_db, shop, ann) == [100, 100, 100]


def test_welcome_reward_is_a_free_redemption_for_the_referred_shopper(runtime_db, factory, shop):
    from redemption_helpers import make_reward

    reward = make_reward(runtime_db, shop, name="Welcome $5", kind="fixed_amount", points_cost=500, value=500)
    configure(runtime_db, shop, referral_welcome_reward_id=reward.id)
    ann = member(runtime_db, factory, shop)
    bob = factory.customer(shop)
    referral = claim(runtime_db, shop, bob, ann.referral_code)
    claim(runtime_db, shop, bob, ann.referral_code)  # claiming again issues no second code
    with runtime_db.session() as s:
        made = s.scalars(select(Redemption).where(Redemption.shop_id == shop.id)).all()
    assert len(made) == 1
    welcome = made[0]
    assert (welcome.customer_id, welcome.points_spent, welcome.value, welcome.status) == (bob.id, 0, 500, "pending")
    assert welcome.id == referral.welcome_redemption_id and welcome.code.startswith("LL-")
    assert customer(runtime_db, bob.id).points_balance == 0
    assert entries(runtime_db, shop, "redeem") == []


def test_referral_url_points_at_the_store_with_the_code(runtime_db, factory, shop):
    ann = member(runtime_db, factory, shop)
    url = referrals.referral_url(shop, ann, "https://app.example")
    assert url == f"{shop.domain}/?loyalty_ref={ann.referral_code}"
    assert referrals.referral_url(shop, None, "https://app.example") is None


def test_no_link_and_no_claims_while_the_programme_has_no_referrals(runtime_db, factory):
    shop = configure(runtime_db, factory.shop("woocommerce"))
    ann = member(runtime_db, factory, shop)
    assert referrals.referral_url(shop, ann, "https://app.example") is None
    with pytest.raises(referrals.ReferralRefused) as caught:
        claim(runtime_db, shop, factory.customer(shop), ann.referral_code)
    assert caught.value.code == "referrals_off"
