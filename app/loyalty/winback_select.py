"""Who gets a win-back offer today: one set-based query per shop, over a per-shopper
rhythm kept up to date incrementally.

On PostgreSQL:

1. `REFRESH_RHYTHMS_SQL` (one INSERT … ON CONFLICT) recomputes `winback_rhythms` for the
   shoppers whose order stats changed since their row was computed (every shopper the
   first time): their median gap between orders (per shopper, a window over their
   orders through the index `(shop_id, customer_id, placed_at)`, then `percentile_cont`)
   and their time from first to second order. A day's run touches only the shoppers
   whose order stats changed since the last run.
2. `SELECTION_SQL` (one SELECT) picks the shoppers: candidates from the customers index
   `(shop_id, last_order_at)` (nobody whose last order is younger than `min_days` is
   looked at), their rhythm (or the shop's median time to a second order, for one-order
   shoppers), the thresholds of `app.loyalty.winback` (in float8: `date_part`, not the
   numeric `extract`), and the exclusions: no marketing consent, unsubscribed, redacted
   or no email; a refund recorded in the last `refund_lookback_days` (orders index
   `(shop_id, updated_at)`); an offer (or holdout selection) within `cooldown_days`; an
   offer already made for this stage of this lapse.

On SQLite (the demo) the same rules run in Python over the rows of one query per table,
through the very functions the PostgreSQL statements mirror (`winback.classify`).

Orders count as in `app.loyalty.customers.refresh_order_stats`: paid, in the shop's
currency, not cancelled, deleted or test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.loyalty import winback
from app.models import Customer, OrderSnapshot, Shop, WinbackOffer

REFRESH_RHYTHMS_SQL = """
WITH stale AS MATERIALIZED (
    SELECT c.id, c.last_order_at, c.orders_count
    FROM customers c
    LEFT JOIN winback_rhythms r ON r.customer_id = c.id
    WHERE c.shop_id = :shop_id AND c.last_order_at IS NOT NULL
      AND (r.customer_id IS NULL OR r.last_order_at IS DISTINCT FROM c.last_order_at
           OR r.orders_count <> c.orders_count)
)
INSERT INTO winback_rhythms (customer_id, shop_id, last_order_at, orders_count, median_gap_days,
                             second_order_days, computed_at)
SELECT s.id, :shop_id, s.last_order_at, s.orders_count, r.median_gap, r.second_order_days, :now
FROM stale s
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap_days) FILTER (WHERE g.nth > 1) AS median_gap,
           max(g.gap_days) FILTER (WHERE g.nth = 2) AS second_order_days
    FROM (
        SELECT date_part('epoch', o.placed_at - lag(o.placed_at) OVER w) / 86400 AS gap_days,
               row_number() OVER w AS nth
        FROM orders o
        WHERE o.shop_id = :shop_id AND o.customer_id = s.id AND o.placed_at IS NOT NULL
          AND o.currency = :currency AND o.paid AND NOT o.cancelled AND NOT o.deleted AND NOT o.test
        WINDOW w AS (ORDER BY o.placed_at)
    ) g
) r
ON CONFLICT (customer_id) DO UPDATE SET
    last_order_at = EXCLUDED.last_order_at, orders_count = EXCLUDED.orders_count,
    median_gap_days = EXCLUDED.median_gap_days, second_order_days = EXCLUDED.second_order_days,
    computed_at = EXCLUDED.computed_at
"""

SELECTION_SQL = """
WITH refunded AS MATERIALIZED (
    SELECT DISTINCT o2.customer_id
    FROM orders o2, json_array_elements(o2.refunds) rf
    WHERE o2.shop_id = :shop_id AND o2.customer_id IS NOT NULL
      AND o2.updated_at >= CAST(:refund_since AS timestamptz)
      AND coalesce(CAST(rf->>'created_at' AS timestamptz), o2.updated_at) >= CAST(:refund_since AS timestamptz)
),
cooling AS MATERIALIZED (
    SELECT wo.customer_id FROM winback_offers wo
    WHERE wo.shop_id = :shop_id
      AND wo.offered_at > CAST(:now AS timestamptz) - make_interval(days => :cooldown_days)
),
shop_rhythm AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY second_order_days) AS median_second
    FROM winback_rhythms WHERE shop_id = :shop_id AND second_order_days IS NOT NULL
),
staged AS MATERIALIZED (
    SELECT c.id, c.last_order_at, t.days_since, t.at_risk_days,
           CASE WHEN t.days_since > t.at_risk_days * CAST(:lapsed AS float8) / CAST(:k AS float8) THEN 'lapsed'
                WHEN t.days_since > t.at_risk_days THEN 'at_risk' END AS stage
    FROM customers c
    CROSS JOIN shop_rhythm s
    LEFT JOIN winback_rhythms r ON r.customer_id = c.id
    CROSS JOIN LATERAL (
        SELECT date_part('epoch', CAST(:now AS timestamptz) - c.last_order_at) / 86400 AS days_since,
               greatest(CAST(:min_days AS float8),
                        CAST(:k AS float8) * coalesce(r.median_gap_days, s.median_second)) AS at_risk_days
    ) t
    WHERE c.shop_id = :shop_id
      AND c.last_order_at < CAST(:now AS timestamptz) - make_interval(days => :min_days)
      AND c.accepts_marketing AND c.unsubscribed_at IS NULL AND c.redacted_at IS NULL
      AND c.email IS NOT NULL AND c.email <> ''
      AND c.id NOT IN (SELECT customer_id FROM refunded)
      AND c.id NOT IN (SELECT customer_id FROM cooling)
)
SELECT st.id AS customer_id, st.last_order_at, st.days_since, st.at_risk_days, st.stage
FROM staged st
WHERE st.stage IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM winback_offers wo
      WHERE wo.shop_id = :shop_id AND wo.customer_id = st.id
        AND wo.last_order_at = st.last_order_at AND wo.stage = st.stage)
ORDER BY st.id
"""


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    stage: str
    last_order_at: datetime
    days_since: float
    threshold_days: float

    @property
    def period(self) -> str:
        return winback.period_key(self.stage, self.last_order_at)

    def as_job_arg(self) -> list:
        return [self.customer_id, self.stage, self.last_order_at.isoformat(), self.days_since, self.threshold_days]

    @classmethod
    def from_job_arg(cls, value: list) -> Candidate:
        return cls(int(value[0]), str(value[1]), datetime.fromisoformat(value[2]), float(value[3]), float(value[4]))


def _tune(session: Session) -> None:
    """For this transaction only: no JIT (compiling the plan costs more than it saves on
    these statements) and room to hash a big shop's customers in memory."""
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))


def selection_params(shop: Shop, settings: winback.CampaignSettings, now: datetime) -> dict:
    return {
        "shop_id": shop.id,
        "now": now,
        "min_days": settings.min_days,
        "k": float(settings.gap_multiplier),
        "lapsed": float(settings.lapsed_multiplier),
        "cooldown_days": settings.cooldown_days,
        "refund_since": now - timedelta(days=settings.refund_lookback_days),
    }


def select_candidates(
    session: Session, shop: Shop, settings: winback.CampaignSettings, now: datetime
) -> list[Candidate]:
    """The shop's shoppers due an offer now (holdout included), by customer id."""
    if session.get_bind().dialect.name == "postgresql":
        _tune(session)
        refresh_rhythms(session, shop, now)
        rows = session.execute(text(SELECTION_SQL), selection_params(shop, settings, now)).all()
        return [
            Candidate(r.customer_id, r.stage, r.last_order_at, float(r.days_since), float(r.at_risk_days)
                      if r.stage == "at_risk" else float(r.at_risk_days) * float(settings.lapsed_multiplier)
                      / float(settings.gap_multiplier))
            for r in rows
        ]
    return _select_in_python(session, shop, settings, now)


def refresh_rhythms(session: Session, shop: Shop, now: datetime) -> int:
    """Recompute the rhythm of every shopper of the shop whose order stats changed since
    it was last computed (all of them the first time); returns how many. PostgreSQL."""
    _tune(session)
    result = session.execute(text(REFRESH_RHYTHMS_SQL), {"shop_id": shop.id, "currency": shop.currency, "now": now})
    return result.rowcount or 0


def _select_in_python(
    session: Session, shop: Shop, settings: winback.CampaignSettings, now: datetime
) -> list[Candidate]:
    orders = session.execute(
        select(OrderSnapshot.customer_id, OrderSnapshot.placed_at, OrderSnapshot.updated_at, OrderSnapshot.refunds,
               OrderSnapshot.paid, OrderSnapshot.cancelled, OrderSnapshot.deleted, OrderSnapshot.test,
               OrderSnapshot.currency)
        .where(OrderSnapshot.shop_id == shop.id, OrderSnapshot.customer_id.is_not(None))
    ).all()
    placed: dict[int, list[datetime]] = {}
    refunded: set[int] = set()
    refund_since = now - timedelta(days=settings.refund_lookback_days)
    for o in orders:
        counts = o.paid and not (o.cancelled or o.deleted or o.test) and o.currency == shop.currency
        if counts and o.placed_at is not None:
            placed.setdefault(o.customer_id, []).append(o.placed_at)
        if o.refunds and o.updated_at >= refund_since:
            for refund in o.refunds:
                at = datetime.fromisoformat(refund["created_at"]) if refund.get("created_at") else o.updated_at
                if at >= refund_since:
                    refunded.add(o.customer_id)
    seconds = [sorted(times)[1] - sorted(times)[0] for times in placed.values() if len(times) > 1]
    shop_median = winback.median([s.total_seconds() / 86400 for s in seconds])
    offers = session.execute(
        select(WinbackOffer.customer_id, WinbackOffer.offered_at, WinbackOffer.last_order_at, WinbackOffer.stage)
        .where(WinbackOffer.shop_id == shop.id)
    ).all()
    cooldown_since = now - timedelta(days=settings.cooldown_days)
    cooled = {o.customer_id for o in offers if o.offered_at > cooldown_since}
    done = {(o.customer_id, o.last_order_at, o.stage) for o in offers}
    customers = session.execute(
        select(Customer.id, Customer.last_order_at).where(
            Customer.shop_id == shop.id,
            Customer.last_order_at < now - timedelta(days=settings.min_days),
            Customer.accepts_marketing.is_(True), Customer.unsubscribed_at.is_(None),
            Customer.redacted_at.is_(None), Customer.email.is_not(None), Customer.email != "",
        ).order_by(Customer.id)
    ).all()
    k, lapsed = float(settings.gap_multiplier), float(settings.lapsed_multiplier)
    found = []
    for c in customers:
        own = winback.median_gap_days(placed.get(c.id, []))
        gap = own if own is not None else shop_median
        days = (now - c.last_order_at).total_seconds() / 86400
        stage = winback.classify(days, gap, settings.min_days, k, lapsed)
        if stage is None or c.id in cooled or c.id in refunded or (c.id, c.last_order_at, stage) in done:
            continue
        t = winback.thresholds(gap, settings.min_days, k, lapsed)
        found.append(Candidate(c.id, stage, c.last_order_at, days,
                               t.lapsed_days if stage == "lapsed" else t.at_risk_days))
    return found
