"""Helpers for the tier tests: tiers, orders through the real order path, and reads."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from app.jobs.after_order import after_order_converged
from app.loyalty import orders
from app.loyalty.events import CustomerInfo, OrderEvent, Refund
from app.models import Customer, LedgerEntry, Shop
from app.models.tier import Tier, TierChange


def add_tier(db, shop, key: str, rank: int, threshold: int, *, kind: str = "points_earned",
             window: str = "lifetime", retention_days: int = 0, multiplier: str = "1",
             bonus: int = 0, name: str | None = None) -> Tier:
    with db.transaction() as s:
        tier = Tier(
            shop_id=shop.id, key=key, name=name or key.title(), threshold_kind=kind,
            threshold_value=threshold, window=window, retention_days=retention_days,
            earn_multiplier=Decimal(multiplier), entry_bonus_points=bonus, rank=rank, active=True,
        )
        s.add(tier)
    return tier


def order_event(order_id: str, customer: Customer, amount_minor: int, *, placed_at: datetime,
                updated_at: datetime | None = None, refunded_minor: int = 0, currency: str = "USD") -> OrderEvent:
    refunds = (Refund(platform_id=f"r{order_id}", created_at=None, lines_minor=refunded_minor),) if refunded_minor else ()
    return OrderEvent(
        platform_order_id=order_id, name=f"#{order_id}",
        customer=CustomerInfo(platform_id=customer.platform_id, email=customer.email, first_name=None,
                              last_name=None, accepts_marketing=False),
        updated_at=updated_at or placed_at, placed_at=placed_at, currency=currency, paid=True,
        cancelled=False, test=False, status="paid", financial_status="paid", lines_minor=amount_minor,
        gift_card_minor=0, shipping_minor=0, tax_minor=0, total_minor=amount_minor, refunds=refunds,
    )


def place(db, shop, event: OrderEvent, now: datetime | None = None):
    """What webhook processing does with an order event: converge, then the after-order hooks,
    in one transaction."""
    with db.transaction() as s:
        fresh = s.get(Shop, shop.id)
        result = orders.converge_order(s, fresh, event, now=now)
        after_order_converged(s, fresh, result, now)
        return result


def customer(db, customer_id: int) -> Customer:
    with db.session() as s:
        return s.get(Customer, customer_id)


def history(db, customer_id: int) -> list[TierChange]:
    with db.session() as s:
        return list(s.scalars(select(TierChange).where(TierChange.customer_id == customer_id).order_by(TierChange.id)))


def bonus_entries(db, customer_id: int) -> list[LedgerEntry]:
    with db.session() as s:
        return list(s.scalars(
            select(LedgerEntry).where(LedgerEntry.customer_id == customer_id,
                                      LedgerEntry.idempotency_key.like("tier:%:bonus:%"))
        ))


def count_changes(db, shop) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(TierChange).where(TierChange.shop_id == shop.id)))


def stub_mail_sending(monkeypatch) -> list[int]:
    """Queued mail is recorded (message ids) instead of rendered and sent."""
    from app.jobs import mail_jobs

    sent: list[int] = []
    monkeypatch.setattr(mail_jobs, "send_mail", lambda message_id, *a, **k: sent.append(message_id))
    return sent


def mail_of(db, customer_id: int, kind: str = "tier_reached") -> list:
    from app.models.mail import MailMessage

    with db.session() as s:
        return list(s.scalars(select(MailMessage).where(MailMessage.customer_id == customer_id,
                                                        MailMessage.kind == kind).order_by(MailMessage.id)))
