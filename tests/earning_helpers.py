"""Helpers for the earning-beyond-orders tests (birthdays, referrals, actions, bonus events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.loyalty import checks
from app.models import Customer, LedgerEntry, Shop
from app.models.referral import Referral


def configure(db, shop, *, timezone: str | None = None, **program) -> Shop:
    """Set the shop's time zone and programme settings; returns the fresh shop."""
    with db.transaction() as s:
        row = s.get(Shop, shop.id)
        if timezone is not None:
            row.timezone = timezone
        row.program = {**(row.program or {}), **program}
    with db.session() as s:
        fresh = s.get(Shop, shop.id)
        s.expunge(fresh)
        return fresh


def customer(db, customer_id: int) -> Customer:
    with db.session() as s:
        row = s.get(Customer, customer_id)
        s.expunge(row)
        return row


def entries(db, shop, kind: str) -> list[LedgerEntry]:
    with db.session() as s:
        return list(s.scalars(
            select(LedgerEntry).where(LedgerEntry.shop_id == shop.id, LedgerEntry.kind == kind)
            .order_by(LedgerEntry.id)
        ))


def referral_of(db, shop, referred_id: int) -> Referral | None:
    with db.session() as s:
        return s.scalar(select(Referral).where(Referral.shop_id == shop.id,
                                               Referral.referred_customer_id == referred_id))


def no_violations(db, shop) -> bool:
    with db.session() as s:
        return checks.find_violations(s, shop.id) == []


def utc(*args) -> datetime:
    from datetime import UTC

    return datetime(*args, tzinfo=UTC)


def order_event(order_id: str, customer_platform_id: str | None, *, lines=((None, 10000),),
                placed_at: datetime | None = None, updated_at: datetime | None = None,
                paid: bool = True, cancelled: bool = False, refunds=(), email: str | None = None,
                shipping_fingerprint: str | None = None, currency: str = "USD"):
    """A platform-neutral order: `lines` are (product_id, amount_minor) pairs."""
    from app.loyalty.events import CustomerInfo, OrderEvent, OrderLine, Refund

    total = sum(amount for _, amount in lines)
    return OrderEvent(
        platform_order_id=order_id,
        name=f"#{order_id}",
        customer=CustomerInfo(platform_id=customer_platform_id, email=email, first_name=None,
                              last_name=None, accepts_marketing=False)
        if customer_platform_id else None,
        updated_at=updated_at or placed_at,
        placed_at=placed_at,
        currency=currency,
        paid=paid,
        cancelled=cancelled,
        test=False,
        status="cancelled" if cancelled else "open",
        financial_status="paid" if paid else "pending",
        lines_minor=total,
        gift_card_minor=0,
        shipping_minor=0,
        tax_minor=0,
        total_minor=total,
        refunds=tuple(Refund(platform_id=str(i), created_at=None, lines_minor=amount)
                      for i, amount in enumerate(refunds, start=1)),
        lines=tuple(OrderLine(product_id=p, amount_minor=a) for p, a in lines),
        shipping_fingerprint=shipping_fingerprint,
    )


def bonus_event(db, shop, *, multiplier: str, starts_at: datetime, ends_at: datetime,
                product_ids=None, name: str = "bonus", active: bool = True):
    from decimal import Decimal

    from app.models.campaign import BonusEvent

    with db.transaction() as s:
        event = BonusEvent(shop_id=shop.id, name=name, multiplier=Decimal(multiplier), starts_at=starts_at,
                           ends_at=ends_at, product_ids=product_ids, active=active)
        s.add(event)
    return event
