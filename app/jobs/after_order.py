"""What follows an order's points changing, outside the ledger itself: referral rewards,
tier entry, lifecycle mail. Webhook processing and reconciliation both call
`after_order_converged` in the same transaction as the convergence, so a retried job
repeats nothing (each hook is idempotent by its own keys)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.jobs import mail_hooks, referral_hooks, tier_hooks
from app.loyalty.orders import OrderResult
from app.models import Shop, utcnow


def after_order_converged(
    session: Session, shop: Shop, result: OrderResult, now: datetime | None = None
) -> None:
    if result.stale:
        return
    now = now or utcnow()
    referral_hooks.on_order(session, shop, result, now)
    tier_hooks.on_order(session, shop, result, now)
    mail_hooks.on_order(session, shop, result, now)
