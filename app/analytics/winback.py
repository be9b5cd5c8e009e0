"""Win-back results: who was selected, sent to and converted, and the lift over the holdout.

Attribution is computed by query, not recorded by the order hooks: an offer converted
when the shopper has an order (paid, not cancelled, deleted or test, as everywhere else)
placed after `offered_at` and no later than `offered_at + attribution_days`; its revenue
is the sum of those orders' totals (minor units, shop currency). The holdout's would-be
offer date is its `offered_at`, so both groups are measured the same way, and an order
arriving late (a webhook retried, a reconciliation) still counts the next time results are
asked for.

The comparison is by intention to treat: the offered group is every selected shopper not
held out, whether or not the mail reached them (a failed code or a bounced mail is part of
what the campaign does). The formulas are in `app.loyalty.winback`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.loyalty.winback import (
    CampaignSettings,
    load_campaign_settings,
    mean_difference,
    newcombe_difference,
)
from app.models import OrderSnapshot, Shop, WinbackCampaign, WinbackOffer, utcnow
from app.models.mail import MailMessage

METHOD = (
    "conversion: Newcombe hybrid score interval (Wilson) for the difference of proportions; "
    "revenue: normal approximation (Welch) for the difference of mean revenue per shopper; 95%"
)


@dataclass(frozen=True)
class Group:
    shoppers: int
    converted: int
    revenue_minor: int
    revenue_sq: float

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.shoppers if self.shoppers else None


@dataclass(frozen=True)
class WinbackResults:
    shop_id: int
    currency: str
    as_of: datetime
    since: datetime | None
    attribution_days: int
    selected: int
    offered: int  # selected and not held out (the treated group, by intention)
    sent: int  # mail handed to the SMTP server
    holdout: int
    window_open: int  # offers whose attribution window has not closed yet
    treated: Group
    control: Group
    rate_difference: float | None
    rate_difference_ci: tuple[float, float] | None
    incremental_conversions: float | None
    incremental_conversions_ci: tuple[float, float] | None
    incremental_revenue_minor: float | None
    incremental_revenue_ci: tuple[float, float] | None
    method: str = METHOD


def winback_results(
    session: Session, shop_id: int, *, now: datetime | None = None, since: datetime | None = None,
    until: datetime | None = None, stage: str | None = None,
) -> WinbackResults:
    """The results of a shop's win-back campaign for offers made in [since, until) (all by
    default), optionally one stage (`at_risk` or `lapsed`). Scoped to `shop_id`."""
    now = now or utcnow()
    shop = session.get(Shop, shop_id)
    raw = session.scalar(select(WinbackCampaign.settings).where(WinbackCampaign.shop_id == shop_id))
    settings = load_campaign_settings(raw) if raw is not None else CampaignSettings()

    o = OrderSnapshot
    w = WinbackOffer
    in_window = and_(
        o.shop_id == w.shop_id, o.customer_id == w.customer_id, o.placed_at > w.offered_at,
        o.placed_at <= w.attribution_ends_at, o.paid.is_(True), o.cancelled.is_(False),
        o.deleted.is_(False), o.test.is_(False),
    )
    revenue = select(func.coalesce(func.sum(o.total_minor), 0)).where(in_window).correlate(w).scalar_subquery()
    orders = select(func.count(o.id)).where(in_window).correlate(w).scalar_subquery()
    sent = (
        select(func.count(MailMessage.id))
        .where(MailMessage.id == w.mail_message_id, MailMessage.shop_id == w.shop_id, MailMessage.status == "sent")
        .correlate(w).scalar_subquery()
    )
    per_offer = select(
        w.holdout.label("holdout"),
        revenue.label("revenue"),
        orders.label("orders"),
        sent.label("sent"),
        case((w.attribution_ends_at > now, 1), else_=0).label("open"),
    ).where(w.shop_id == shop_id)
    if since is not None:
        per_offer = per_offer.where(w.offered_at >= since)
    if until is not None:
        per_offer = per_offer.where(w.offered_at < until)
    if stage is not None:
        per_offer = per_offer.where(w.stage == stage)
    sub = per_offer.subquery()
    rows = session.execute(
        select(
            sub.c.holdout,
            func.count(),
            func.sum(case((sub.c.orders > 0, 1), else_=0)),
            func.coalesce(func.sum(sub.c.revenue), 0),
            func.coalesce(func.sum(sub.c.revenue * sub.c.revenue), 0),
            func.coalesce(func.sum(sub.c.sent), 0),
            func.coalesce(func.sum(sub.c.open), 0),
        ).group_by(sub.c.holdout)
    ).all()
    groups = {False: Group(0, 0, 0, 0.0), True: Group(0, 0, 0, 0.0)}
    sent_count = window_open = 0
    for holdout, n, converted, rev, rev_sq, n_sent, n_open in rows:
        groups[bool(holdout)] = Group(int(n), int(converted or 0), int(rev), float(rev_sq))
        sent_count += int(n_sent)
        window_open += int(n_open)
    treated, control = groups[False], groups[True]

    rate = rate_ci = inc = inc_ci = rev_inc = rev_ci = None
    if treated.shoppers and control.shoppers:
        d, lo, hi = newcombe_difference(treated.converted, treated.shoppers, control.converted, control.shoppers)
        rate, rate_ci = d, (lo, hi)
        inc, inc_ci = d * treated.shoppers, (lo * treated.shoppers, hi * treated.shoppers)
        md, mlo, mhi = mean_difference(
            treated.revenue_minor, treated.revenue_sq, treated.shoppers,
            control.revenue_minor, control.revenue_sq, control.shoppers,
        )
        rev_inc = md * treated.shoppers
        if math.isfinite(mlo) and math.isfinite(mhi):
            rev_ci = (mlo * treated.shoppers, mhi * treated.shoppers)
    return WinbackResults(
        shop_id=shop_id, currency=shop.currency if shop is not None else "USD", as_of=now, since=since,
        attribution_days=settings.attribution_days, selected=treated.shoppers + control.shoppers,
        offered=treated.shoppers, sent=sent_count, holdout=control.shoppers, window_open=window_open,
        treated=treated, control=control, rate_difference=rate, rate_difference_ci=rate_ci,
        incremental_conversions=inc, incremental_conversions_ci=inc_ci,
        incremental_revenue_minor=rev_inc, incremental_revenue_ci=rev_ci,
    )
