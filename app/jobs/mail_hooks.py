"""After an order converged: lifecycle mail (points earned, reward now affordable).

Both are queued through `app.mail.outbox.queue_mail`, whose unique (customer, kind,
event_key) makes a retried job or a replayed webhook queue nothing new:
- `points_earned`: when the order's points went up; key `order:{id}:earned:{booked}` (the
  order's booked total after the change, so a later increase of the same order is a new
  event and a replay of the same one is not).
- `reward_affordable`: when a posted entry lifted the spendable balance across a reward's
  cost; key `reward:{reward_id}:seq:{entry seq}`. Only the dearest reward crossed is
  mailed, so one order never sends a mail per reward.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.orders import OrderResult
from app.loyalty.rewards import redeemable_by, step_range
from app.mail.outbox import queue_mail
from app.models import Customer, LedgerEntry, OrderSnapshot, Reward, Shop


def on_order(session: Session, shop: Shop, result: OrderResult, now: datetime) -> None:
    """Called in the order's transaction; must be idempotent."""
    if result.stale or result.change <= 0:
        return
    snap = session.get(OrderSnapshot, result.order_id)
    if snap is None or snap.shop_id != shop.id or snap.customer_id is None:
        return
    customer = session.get(Customer, snap.customer_id)
    if customer is None:
        return
    context: dict = {"points": result.change, "order_name": snap.name or ""}
    # The balance line would mislead while the order's points are still pending.
    context["balance"] = customer.points_balance if customer.pending_points == 0 else None
    queue_mail(
        session, shop=shop, customer=customer, kind="points_earned",
        event_key=f"order:{result.order_id}:earned:{result.booked_points}", context=context,
    )
    latest = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.shop_id == shop.id,
            LedgerEntry.customer_id == customer.id,
            LedgerEntry.order_id == result.order_id,
            LedgerEntry.status == "posted",
            LedgerEntry.seq == customer.ledger_seq,
        )
    ).first()
    if latest is not None:
        on_points_posted(session, shop, customer, latest)


def on_points_posted(session: Session, shop: Shop, customer: Customer, entry: LedgerEntry) -> None:
    """A posted entry raised the spendable balance: mail the dearest reward it made
    affordable. Safe to call from any job that posts points (pending → posted, adjustments,
    birthdays); idempotent per entry."""
    if entry.points <= 0 or entry.balance_after is None or entry.seq is None:
        return
    before = entry.balance_after - entry.points
    after = entry.balance_after
    candidates = session.scalars(
        select(Reward).where(
            Reward.shop_id == shop.id,
            Reward.active.is_(True),
            Reward.deleted_at.is_(None),
            Reward.points_cost > 0,
        )
    ).all()
    crossed = [
        r for r in candidates
        if before < step_range(r)[0] <= after and redeemable_by(r, customer)[0]
    ]
    if not crossed:
        return
    reward = max(crossed, key=lambda r: (step_range(r)[0], r.id))
    queue_mail(
        session, shop=shop, customer=customer, kind="reward_affordable",
        event_key=f"reward:{reward.id}:seq:{entry.seq}",
        context={"reward_name": reward.name, "points_cost": step_range(reward)[0], "balance": after},
    )
