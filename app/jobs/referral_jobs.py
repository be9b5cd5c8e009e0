"""Referral jobs: reward referrers whose friend's first order has passed the pending
period (periodic), and create a referred shopper's welcome code on the platform."""

from __future__ import annotations

from datetime import datetime

from app.jobs.referral_hooks import mail_referral_reward
from app.loyalty.referrals import due_referral_ids, reward_referrer
from app.models import Shop, utcnow
from app.runtime import get_db, get_settings

CHUNK = 500


def reward_due_referrals(now: datetime | None = None) -> int:
    """Every referral whose wait is over, one short transaction each (set-based selection
    by the (status, qualifies_at) index). Idempotent; returns how many were rewarded."""
    now = now or utcnow()
    rewarded = 0
    after_id = 0
    while True:
        with get_db().session() as session:
            batch = due_referral_ids(session, now, after_id=after_id, limit=CHUNK)
        if not batch:
            return rewarded
        for shop_id, referral_id in batch:
            with get_db().transaction() as session:
                shop = session.get(Shop, shop_id)
                if shop is None:
                    continue
                outcome = reward_referrer(session, shop, referral_id, now)
                if outcome is not None:
                    mail_referral_reward(session, shop, outcome)
                    rewarded += 1
        after_id = batch[-1][1]


def issue_welcome_code(redemption_id: int) -> str:
    """Create the welcome code of a referred shopper (a 0-point redemption) through the
    redemption saga; a temporary platform failure leaves it pending for the sweeper."""
    from app.redemption_saga import complete_pending

    return complete_pending(get_db(), get_settings(), redemption_id).status
