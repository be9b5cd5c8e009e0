"""After an order converged: tier entry (immediate when an order qualifies).

Only upward moves happen here (`allow_downgrade=False`); downgrades wait for the nightly
recalculation (`app.jobs.tier_jobs`). Runs in the order's transaction: the entry bonus is
idempotent by its ledger key and the mail by its event key, so a retried job repeats
nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import tiers
from app.loyalty.orders import OrderResult
from app.models import Customer, OrderSnapshot, Shop

MAIL_KIND = "tier_reached"


def on_order(session: Session, shop: Shop, result: OrderResult, now: datetime) -> None:
    """Called in the order's transaction; must be idempotent."""
    customer_id = session.scalar(
        select(OrderSnapshot.customer_id).where(
            OrderSnapshot.id == result.order_id, OrderSnapshot.shop_id == shop.id
        )
    )
    if customer_id is None:
        return
    applied = tiers.enter_or_move(session, shop, customer_id, now, allow_downgrade=False, trigger="order")
    if applied is not None:
        notify(session, shop, applied)


def notify(session: Session, shop: Shop, applied: tiers.AppliedChange) -> None:
    """Mail `tier_reached` for an entry into a tier (not for a downgrade), once per tier
    and day reached (event key `tier:{key}:{date}`)."""
    if not applied.entering or applied.tier is None:
        return
    try:
        from app.mail.outbox import queue_mail
    except ModuleNotFoundError as exc:  # mail not installed in this build
        if exc.name and exc.name.startswith("app.mail"):
            return
        raise
    customer = session.scalar(
        select(Customer).where(Customer.id == applied.change.customer_id, Customer.shop_id == shop.id)
    )
    if customer is None:
        return
    tier = applied.tier
    queue_mail(
        session, shop=shop, customer=customer, kind=MAIL_KIND,
        event_key=f"tier:{tier.key}:{applied.change.at.date().isoformat()}",
        context={
            "tier_key": tier.key,
            "tier_name": tier.name,
            "earn_multiplier": tier.earn_multiplier,
            "bonus_points": applied.bonus_entry.points if applied.bonus_entry is not None else 0,
            "points_balance": customer.points_balance,
            "retained_until": customer.tier_retained_until,
        },
    )
