"""Win-back rules: the threshold rule (properties), the holdout split, the statistics, the
settings; and the PostgreSQL selection query against the same rules in Python."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from winback_helpers import NOW, buy

from app.loyalty import winback
from app.loyalty.winback import (
    CampaignSettings,
    classify,
    holdout_bucket,
    in_holdout,
    mean_difference,
    median_gap_days,
    newcombe_difference,
    thresholds,
    wilson,
)
from app.loyalty.winback_select import _select_in_python, select_candidates
from app.models import Shop

pytestmark = pytest.mark.usefixtures("forget_runtime")


gaps = st.floats(min_value=0.01, max_value=400, allow_nan=False)
maybe_gap = st.none() | gaps
min_days = st.integers(min_value=1, max_value=120)
k_values = st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0])


@given(days=st.floats(min_value=0, max_value=2000, allow_nan=False), gap=maybe_gap, floor=min_days,
       k=k_values, extra=st.sampled_from([1.0, 1.5, 2.0, 4.0]))
def test_at_risk_exactly_past_max_of_min_days_and_k_times_the_median_gap(days, gap, floor, k, extra):
    lapsed = k * extra  # lapsed_multiplier >= k, as the settings require
    at_risk_line = floor if gap is None else max(floor, k * gap)
    stage = classify(days, gap, floor, k, lapsed)
    assert (stage is not None) == (days > at_risk_line)
    t = thresholds(gap, floor, k, lapsed)
    assert t.at_risk_days == at_risk_line
    assert t.lapsed_days >= t.at_risk_days
    assert (stage == "lapsed") == (days > t.lapsed_days)
    if gap is not None and k * gap >= floor:
        assert math.isclose(t.lapsed_days, lapsed * gap)  # "lapsed past 3 × the median gap"


@given(gap=maybe_gap, floor=min_days, k=k_values, d1=st.floats(0, 2000), d2=st.floats(0, 2000))
def test_classification_only_ever_escalates_as_days_pass(gap, floor, k, d1, d2):
    order = {None: 0, "at_risk": 1, "lapsed": 2}
    early, late = sorted((d1, d2))
    assert order[classify(early, gap, floor, k, 3 * k)] <= order[classify(late, gap, floor, k, 3 * k)]


def test_median_gap_of_regular_and_irregular_buyers():
    start = NOW
    assert median_gap_days([start]) is None
    assert median_gap_days([start + timedelta(days=10 * i) for i in range(5)]) == 10
    irregular = [start, start + timedelta(days=5), start + timedelta(days=45), start + timedelta(days=145)]
    assert median_gap_days(irregular) == 40
    assert median_gap_days(irregular[:3]) == 22.5


def test_holdout_share_on_ten_thousand_shoppers_is_within_tolerance():
    held = sum(in_holdout(7, customer_id, 10) for customer_id in range(1, 10_001))
    assert 900 <= held <= 1100  # 10% ± 1 point (3 standard deviations are ± 0.9)
    assert sum(in_holdout(8, customer_id, 25) for customer_id in range(1, 10_001)) in range(2350, 2651)
    assert not any(in_holdout(7, c, 0) for c in range(1, 2000))


@given(campaign=st.integers(1, 10**6), customer=st.integers(1, 10**9), pct=st.integers(0, 50))
def test_holdout_is_deterministic_and_monotone_in_the_share(campaign, customer, pct):
    assert in_holdout(campaign, customer, pct) == in_holdout(campaign, customer, pct)
    if in_holdout(campaign, customer, pct):
        assert in_holdout(campaign, customer, min(pct + 5, 50))
    assert 0 <= holdout_bucket(campaign, customer) < winback.HOLDOUT_BUCKETS


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10
    published = {(56, 70, 48, 80): (0.0524, 0.3339), (9, 10, 3, 10): (0.1705, 0.8090),
                 (6, 7, 2, 7): (0.0582, 0.8062), (5, 56, 0, 29): (-0.0381, 0.1926)}
    for (x1, n1, x0, n0), interval in published.items():
        d, lo, hi = newcombe_difference(x1, n1, x0, n0)
        assert math.isclose(d, x1 / n1 - x0 / n0)
        assert (round(lo, 4), round(hi, 4)) == interval
    lo1, hi1 = wilson(0, 10)
    assert lo1 == 0 and round(hi1, 4) == 0.2775
    d, lo, hi = newcombe_difference(0, 10, 0, 20)
    assert d == 0 and lo < 0 < hi


@given(x1=st.integers(0, 300), extra1=st.integers(0, 300), x0=st.integers(0, 300), extra0=st.integers(0, 300))
def test_newcombe_interval_contains_the_estimate_and_stays_within_bounds(x1, extra1, x0, extra0):
    n1, n0 = x1 + extra1, x0 + extra0
    if n1 == 0 or n0 == 0:
        return
    d, lo, hi = newcombe_difference(x1, n1, x0, n0)
    assert -1 - 1e-9 <= lo <= d + 1e-9 and d - 1e-9 <= hi <= 1 + 1e-9


def test_revenue_interval_is_the_welch_normal_approximation():
    treated, control = [0, 0, 100, 300], [0, 100, 0]
    d, lo, hi = mean_difference(sum(treated), sum(v * v for v in treated), 4, sum(control),
                                sum(v * v for v in control), 3)
    var1 = sum((v - 100) ** 2 for v in treated) / 3
    var0 = sum((v - 100 / 3) ** 2 for v in control) / 2
    half = 1.959963984540054 * math.sqrt(var1 / 4 + var0 / 3)
    assert math.isclose(d, 100 - 100 / 3)
    assert math.isclose(lo, d - half) and math.isclose(hi, d + half)


def test_settings_refuse_what_cannot_work():
    with pytest.raises(ValidationError, match="offer_reward_id"):
        CampaignSettings(offer_kind="reward")
    with pytest.raises(ValidationError, match="lapsed_multiplier"):
        CampaignSettings(gap_multiplier=2, lapsed_multiplier=1.5)
    with pytest.raises(ValidationError, match="unknown languages"):
        CampaignSettings(texts={"fr": {"subject": "Bonjour"}})
    with pytest.raises(ValidationError, match="does not render"):
        CampaignSettings(texts={"en": {"subject": "Hi {{ nickname }}"}})
    with pytest.raises(ValidationError, match="does not render"):
        CampaignSettings(texts={"en": {"body": "{{ ''.__class__.__mro__ }}"}})  # the sandbox refuses
    assert CampaignSettings(texts={"nb": {"subject": "Hei {{ first_name }}"}}).texts["nb"].subject


# -- the PostgreSQL selection is the rule ------------------------------------------------


histories = st.lists(
    st.lists(st.integers(min_value=1, max_value=200), min_size=0, max_size=5),  # gaps between orders
    min_size=1, max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories=histories, since_last=st.lists(st.integers(0, 500), min_size=6, max_size=6),
       floor=st.integers(10, 60), k=st.sampled_from(["1.5", "2"]))
def test_selection_query_agrees_with_the_rules_in_python(pg_db, factory, histories, since_last, floor, k):
    shop = factory.shop()
    for gaps_between, days in zip(histories, since_last, strict=False):
        customer = factory.customer(shop, accepts_marketing=True)
        last = NOW - timedelta(days=days, hours=3)
        times = [last]
        for gap in gaps_between:
            times.append(times[-1] - timedelta(days=gap))
        buy(pg_db, shop, customer, *times)
    campaign_settings = CampaignSettings(enabled=True, min_days=floor, gap_multiplier=k, lapsed_multiplier="4")
    with pg_db.transaction() as s:
        shop_row = s.get(Shop, shop.id)
        in_sql = select_candidates(s, shop_row, campaign_settings, NOW)
        in_python = _select_in_python(s, shop_row, campaign_settings, NOW)
    assert [(c.customer_id, c.stage) for c in in_sql] == [(c.customer_id, c.stage) for c in in_python]
    for a, b in zip(in_sql, in_python, strict=True):
        assert math.isclose(a.threshold_days, b.threshold_days, rel_tol=1e-9)


# -- the once-only invariant under any sequence of runs, orders and opt-outs ---------------


steps = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(0, 80)),
        st.tuples(st.just("run"), st.integers(1, 2)),  # one run, or the same run twice
        st.tuples(st.just("order"), st.integers(0, 3)),
        st.tuples(st.just("unsubscribe"), st.integers(0, 3)),
    ),
    min_size=3, max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, holdout=st.sampled_from([0, 50]), cooldown=st.sampled_from([0, 30, 60]))
def test_no_shopper_is_ever_offered_twice_for_one_lapse_nor_within_the_cooldown(
    pg_db, settings, factory, steps, holdout, cooldown
):
    from sqlalchemy import func, select
    from winback_helpers import campaign

    from app.jobs.winback_jobs import run_winback
    from app.models import Customer, LedgerEntry, WinbackOffer
    from app.models.mail import MailMessage
    from app.runtime import init_runtime

    init_runtime(settings, db=pg_db)
    shop = factory.shop()
    campaign(pg_db, shop, holdout_percent=holdout, cooldown_days=cooldown)
    customers = [factory.customer(shop, accepts_marketing=True) for _ in range(4)]
    for i, c in enumerate(customers):
        buy(pg_db, shop, c, *(NOW - timedelta(days=40 + 15 * i + 20 * j) for j in range(i + 1)))
    now = NOW
    for action, value in steps:
        if action == "wait":
            now += timedelta(days=value)
        elif action == "order":
            buy(pg_db, shop, customers[value], now - timedelta(minutes=1))
        elif action == "unsubscribe":
            with pg_db.transaction() as s:
                s.get(Customer, customers[value].id).unsubscribed_at = now
        else:
            for _ in range(value):
                run_winback(shop.id, now, inline=True)
        with pg_db.session() as s:
            offers = s.scalars(select(WinbackOffer).where(WinbackOffer.shop_id == shop.id)
                               .order_by(WinbackOffer.customer_id, WinbackOffer.offered_at)).all()
            keys = [(o.customer_id, o.period) for o in offers]
            assert len(keys) == len(set(keys))  # one offer per shopper and lapse stage
            for a, b in zip(offers, offers[1:], strict=False):
                if a.customer_id == b.customer_id:
                    assert (b.offered_at - a.offered_at).days >= cooldown
            mails = s.scalars(select(MailMessage).where(MailMessage.shop_id == shop.id)).all()
            assert len(mails) == len({m.event_key for m in mails}) == sum(not o.holdout for o in offers)
            assert {m.event_key for m in mails} == {f"winback:{o.id}" for o in offers if not o.holdout}
            gifts = s.scalar(select(func.count()).select_from(LedgerEntry).where(
                LedgerEntry.shop_id == shop.id, LedgerEntry.idempotency_key.like("winback:%")))
            assert gifts == sum(not o.holdout for o in offers)
            unsubscribed = {c.id for c in s.scalars(select(Customer).where(
                Customer.shop_id == shop.id, Customer.unsubscribed_at.is_not(None)))}
            for o in offers:  # nobody is offered after unsubscribing
                if o.customer_id in unsubscribed:
                    assert o.offered_at <= s.get(Customer, o.customer_id).unsubscribed_at
