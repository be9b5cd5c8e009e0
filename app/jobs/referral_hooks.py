"""After an order converged: referral rewards (the referred shopper's first paid order),
and the mail to the rewarded referrer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import referrals
from app.loyalty.orders import OrderResult
from app.models import Customer, OrderSnapshot, Shop


def on_order(session: Session, shop: Shop, result: OrderResult, now: datetime) -> None:
    """Called in the order's transaction; idempotent (the referral's row lock and status,
    the ledger key `referral:{id}:referrer`, the mail's event key)."""
    customer_id = session.scalar(
        select(OrderSnapshot.customer_id).where(OrderSnapshot.id == result.order_id,
                                                OrderSnapshot.shop_id == shop.id)
    )
    if customer_id is None:
        return
    if result.change > 0:  # a member who earns gets their referral code stored
        customer = session.get(Customer, customer_id)
        if customer is not None and not customer.referral_code and customer.redacted_at is None:
            referrals.ensure_code(session, shop, customer)
    outcome = referrals.on_order(session, shop, result.order_id, now)
    if outcome is not None:
        mail_referral_reward(session, shop, outcome)


def mail_referral_reward(session: Session, shop: Shop, outcome: referrals.RewardOutcome) -> None:
    from app.mail.outbox import queue_mail

    referrer = session.get(Customer, outcome.referrer_id)
    if referrer is None:
        return
    session.refresh(referrer, ["points_balance"])
    queue_mail(
        session, shop=shop, customer=referrer, kind="referral_reward",
        event_key=f"referral:{outcome.referral_id}",
        context={"points": outcome.points, "balance": referrer.points_balance},
    )
